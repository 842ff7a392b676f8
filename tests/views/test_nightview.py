"""The live view and log lines, fed by the entries of a real (fake-clock) night."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from fakes import T0, FakeClock, FakeRig, MemoryJournal, RecScript, make_plan, planned
from rich.console import Console

from ekos_occult.night.runner import NightRunner
from ekos_occult.views.nightview import (
    LineSink,
    LiveView,
    NightView,
    apply,
    countdown,
    format_json,
    format_line,
    next_row,
    render,
)

PLAN = make_plan(planned("Vega", 6), planned("Deneb", 20), planned("Sunny", 30, scheduled=False))


def night_entries(tmp_path: Path, observers: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    clock = FakeClock(T0)
    rig = FakeRig.for_plan(PLAN, clock)
    rig.recs["Deneb"] = RecScript(no_file=True)
    journal = MemoryJournal()
    runner = NightRunner(
        PLAN,
        ekos=rig.ekos,
        recorder=rig.recorder,
        clock=clock,
        journal=journal,
        job_files=lambda ev: Path(f"/f/{ev.name}.esl"),
        recordings_dir=tmp_path,
        observers=observers,
    )
    asyncio.run(runner.run())
    return journal.entries


def text_of(renderable: Any) -> str:
    console = Console(file=io.StringIO(), width=140, color_system=None)
    console.print(renderable)
    out = console.file.getvalue()
    assert isinstance(out, str)
    return out


def test_view_follows_the_night(tmp_path: Path) -> None:
    entries = night_entries(tmp_path)
    view = apply(NightView(), entries[0])
    assert [(r.name, r.state) for r in view.rows] == [
        ("Vega", "pending"),
        ("Deneb", "pending"),
        ("Sunny", "skipped"),
    ]
    vega_rs = PLAN.events[0].event.record_start
    assert countdown(view.rows[0], T0) == "Ekos job in 00:01:00"
    # Replay until Vega records.
    for e in entries[1:]:
        view = apply(view, e)
        if view.rows[0].state == "recording":
            break
    assert countdown(view.rows[0], vega_rs + timedelta(seconds=4)) == "recording, 00:00:06 left"
    for e in entries:
        view = apply(view, e)
    assert [(r.state, r.outcome, r.reason) for r in view.rows] == [
        ("done", "recorded", ""),
        ("failed", "failed", "recording failed"),
        ("skipped", "skipped", "not scheduled"),
    ]
    assert view.rows[0].step == "100 frames"
    assert next_row(view) is None and view.ended == "end"


def test_render_shows_next_event_countdown_and_step(tmp_path: Path) -> None:
    entries = night_entries(tmp_path)
    view = NightView()
    for e in entries:
        view = apply(view, e)
        if e["type"] == "progress" and e["phase"] == "complete":
            break
    now = PLAN.events[0].event.record_start - timedelta(seconds=65)
    out = text_of(render(view, now))
    assert "next: Vega — record in 00:01:05 — Ekos job complete" in out
    assert "20:06:00–20:06:10" in out and "Deneb" in out and "skipped" in out
    lost = apply(view, {"type": "night", "what": "kstars lost"})
    assert "KStars left the bus" in text_of(render(lost, now))


def test_plain_and_json_lines(tmp_path: Path) -> None:
    entries = night_entries(tmp_path)
    lines = [format_line(e) for e in entries]
    assert lines[0] == "2026-11-21T20:00:00Z night start"
    assert "2026-11-21T20:01:00Z Vega: pending -> waiting" in lines
    assert any(
        line.startswith("2026-11-21T20:06:10Z Vega: recorded file=") and line.endswith("frames=100")
        for line in lines
    )
    assert any(
        "Deneb: failed (recording failed: no recording file was found)" in line for line in lines
    )
    assert lines[-1] == "2026-11-21T20:20:10Z night end recorded 1, failed 1, skipped 1"
    assert [json.loads(format_json(e)) for e in entries] == entries


def test_line_sink_is_fed_by_the_runner(tmp_path: Path) -> None:
    plain, js = io.StringIO(), io.StringIO()
    entries = night_entries(tmp_path, (LineSink(plain), LineSink(js, json_lines=True)))
    assert plain.getvalue().splitlines() == [format_line(e) for e in entries]
    assert [json.loads(x) for x in js.getvalue().splitlines()] == entries


def test_live_view_draws_and_stops(tmp_path: Path) -> None:
    out = io.StringIO()
    console = Console(file=out, width=140, force_terminal=True, color_system=None)
    clock = FakeClock(T0)
    live = LiveView(console, clock.now)
    night_entries(tmp_path, (live,))
    assert live.view.ended == "end"
    assert not live._live.is_started  # closed by the runner with the journal
    assert "Vega" in out.getvalue() and "recorded" in out.getvalue()


def test_a_clock_entry_reads_as_the_clocks_state_and_its_flags() -> None:
    # From a new user's trial: rehearse printed "…Z clock: " with nothing after it.
    at = "2026-11-21T20:05:50Z"
    problem = "the system clock is NOT synchronised (kernel: STA_UNSYNC/TIME_ERROR)"
    bad = {"type": "clock", "at": at, "name": "Vega", "synchronised": False, "max_error_s": 16.0,
           "problems": [problem]}  # fmt: skip
    assert format_line(bad) == (
        "2026-11-21T20:05:50Z Vega: clock NOT synchronised, max error 16 s; flag: the system "
        "clock is NOT synchronised (kernel: STA_UNSYNC/TIME_ERROR)"
    )
    good = {"type": "clock", "at": at, "name": "Vega", "synchronised": True, "max_error_s": 0.0021}
    assert format_line(good) == "2026-11-21T20:05:50Z Vega: clock synchronised, max error 0.0021 s"
    unknown = {"type": "clock", "at": at, "name": "Vega", "synchronised": None}
    assert format_line(unknown) == "2026-11-21T20:05:50Z Vega: clock sync unknown"
