"""The plan's table and JSON document for big plans: rows left out by default, plain columns
beyond rich's reach, compact JSON streamed in pieces with the same shape as plan_to_dict."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from ekos_occult.model import InvalidRow, OccultationEvent, Plan, PlanRules, Site, Status
from ekos_occult.plan.planner import make_plan
from ekos_occult.views.planview import (
    FULL_TABLE_ROWS,
    RICH_MAX_ROWS,
    iter_plan_json,
    plan_to_dict,
    render_table,
)

MUNICH = Site(48.1, 11.6, 520.0)
FIRST = datetime(2023, 2, 8, 23, 0, tzinfo=timezone.utc)


def star1_plan(n: int, *, past: int = 0) -> Plan:
    """n recordings of the star1 reference star (alt ~30°, Sun ~ -55°), 10 s long and 20 s
    apart, no lead time: all scheduled but the first ``past`` (before now); 2 invalid rows."""
    events = [
        OccultationEvent(
            name=f"ev{i:04d}",
            ra_deg=125.225,
            dec_deg=-6.2,
            record_start=FIRST + timedelta(seconds=20 * i),
            record_end=FIRST + timedelta(seconds=20 * i + 10),
            mag=9.0,
            line=i + 2,
        )
        for i in range(n)
    ]
    now = FIRST + timedelta(seconds=20 * past - 5)
    invalid = (InvalidRow(n + 2, "bad", ("start: 'x' is not a time",)), InvalidRow(n + 3, None, ()))
    plan = make_plan(events, MUNICH, now, PlanRules(lead_s=0.0), invalid=invalid)
    assert sum(p.status is Status.SCHEDULED for p in plan.events) == n - past
    return Plan(
        plan.site, plan.now, plan.rules, plan.events, plan.invalid, warnings=("a warning ✓",)
    )


def listed(text: str) -> set[str]:
    words = (w.strip("│┃") for line in text.splitlines() for w in line.split())
    return {w for w in words if w.startswith("ev0")}


def test_small_plan_lists_every_row() -> None:
    plan = star1_plan(10, past=3)
    out = render_table(plan)
    assert listed(out) == {f"ev{i:04d}" for i in range(10)}
    assert "bad" in out and "invalid" in out
    assert out.splitlines()[-1] == "7 scheduled, 3 skipped (3 past), 2 invalid."


@pytest.mark.timeout(60)
def test_big_plan_lists_scheduled_rows_and_says_what_it_left_out() -> None:
    n, past = FULL_TABLE_ROWS + 20, 30
    plan = star1_plan(n, past=past)
    out = render_table(plan)
    assert listed(out) == {f"ev{i:04d}" for i in range(past, n)}  # the scheduled ones
    assert "bad" not in out
    assert out.splitlines()[-2:] == [
        f"{n - past} scheduled, {past} skipped ({past} past), 2 invalid.",
        f"Listed: the {n - past} scheduled events of {n + 2}; not listed: {past} skipped and "
        "2 invalid (--all lists every row, --json gives everything).",
    ]
    everything = render_table(plan, show_all=True)
    assert listed(everything) == {f"ev{i:04d}" for i in range(n)} and "bad" in everything
    assert "Listed:" not in everything


@pytest.mark.timeout(60)
def test_many_rows_are_plain_aligned_columns_one_line_each() -> None:
    n = RICH_MAX_ROWS + 50
    plan = star1_plan(n, past=5)
    out = render_table(plan, show_all=True)
    lines = out.splitlines()
    assert "┃" not in out and "\x1b[" not in out  # not rich's boxes; no colour unless asked
    rows = [line for line in lines if line.startswith("ev")]
    assert len(rows) == n  # one line per event, no wrapping
    header = next(line for line in lines if line.startswith("Name"))
    status_column = header.index("Status")
    assert all(r[status_column:].startswith(("scheduled", "skipped: past")) for r in rows)
    row = next(r for r in rows if r.startswith("ev0100"))
    for cell in ("scheduled", "23:33:20–23:33:30", "0.05 s"):
        assert cell in row
    assert lines[-1] == f"{n - 5} scheduled, 5 skipped (5 past), 2 invalid."
    coloured = render_table(plan, show_all=True, color=True)
    assert "\x1b[32mscheduled" in coloured and "\x1b[31minvalid" in coloured


def test_streamed_json_is_the_plan_document_compact() -> None:
    plan = star1_plan(30, past=4)
    pieces = list(iter_plan_json(plan))
    assert len(pieces) == 30 + 2 + 2  # head, one per event and invalid row, tail
    text = "".join(pieces)
    assert text.endswith("}\n") and "\n" not in text[:-1] and '": ' not in text  # compact
    assert json.loads(text) == plan_to_dict(plan)
    assert "a warning ✓" in text  # not \u-escaped


def test_streamed_json_of_an_empty_plan() -> None:
    plan = Plan(MUNICH, FIRST, PlanRules(), ())
    assert json.loads("".join(iter_plan_json(plan))) == plan_to_dict(plan)
