"""Property tests: whatever an events CSV, an occelmnt file or a config file holds, the command
exits 0 or 2, never with a traceback, in bounded memory and output, and every error names its
file (and line, field or key).

Inputs are generated small (a few rows, short cells) with the values that broke things before:
nan, inf, huge, negative, empty, wrong type, control characters, wrong encoding, byte-order
marks. Memory is asserted with tracemalloc (peak of Python and numpy allocations), output by its
size; time is bounded by the test timeout, never asserted.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ekos_occult.cli import main
from ekos_occult.plan.catalog import KNOWN_COLUMNS

pytestmark = pytest.mark.timeout(300)

SITE = "48.1,11.6,520"
NOW = "2023-02-08T12:00:00"
REAL_XML = Path("/work/shared/data/occelmnt/2731_Cucula_20260209.occelmnt.xml")
CLASSIC = Path(__file__).parent.parent / "data" / "classic.csv"
PEAK_BYTES = 96 * 1024 * 1024  # small inputs: far below this; a runaway allocation is not
FAST = settings(
    max_examples=int(os.environ.get("EKOS_OCCULT_PROPERTY_EXAMPLES", "100")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

NASTY = [
    "",
    " ",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "1e400",
    "-1e400",
    "1e30",
    "-1",
    "0",
    "-0",
    "1_000",
    "0x10",
    "abc",
    "08:20:54.1",
    "-06:12:00",
    "99:99:99",
    "12h30m",
    "12d30m",
    "24:00:00",
    "2023-02-08T23:29:00",
    "2023-02-08 23:29",
    "2023-02-08T23:29:00Z",
    "2023-02-30T00:00",
    "9999-01-01T00:00",
    "0001-01-01T00:00",
    "2023-02-08T23:29:00+14:00",
    "2023-02-08T25:00",
    "\x00",
    "\x07",
    "a\nb",
    '"',
    "x" * 250,
    "9" * 5000,
    "10",
    "9.0",
    "125.225",
    "-6.2",
    "\ufeff",
    "\u202e",
    "Ölçü",
]
CELL = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=12),
    st.floats().map(repr),
    st.integers(min_value=-(10**40), max_value=10**40).map(str),
)
COLUMN = st.one_of(
    st.sampled_from(sorted(KNOWN_COLUMNS) + ["", "Name", " RA ", "foo", "mag;dec", "ra\tdec"]),
    st.text(max_size=6),
)
ENCODING = st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1", "cp1252"])


@contextlib.contextmanager
def _bounded() -> Iterator[None]:
    tracemalloc.start()
    try:
        yield
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < PEAK_BYTES, f"peak {peak / 1e6:.0f} MB"


def _run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), _bounded():
        rc = main(argv)
    return rc, out.getvalue(), err.getvalue()


def _errors(err: str, command: str) -> list[str]:
    """The error text (after 'ekos-occult COMMAND: error: '), one item per line."""
    marker = f"ekos-occult {command}: error: "
    assert marker in err, err
    return [line for line in err.split(marker, 1)[1].splitlines() if line.strip()]


def _encode(text: str, encoding: str) -> bytes:
    return text.encode(encoding, errors="replace")


@st.composite
def events_csv(draw: st.DrawFn) -> bytes:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=300))  # anything at all
    header = draw(st.lists(COLUMN, min_size=0, max_size=9))
    if draw(st.booleans()):
        header = ["name", "ra", "dec", "start", "duration", "mag", *header[:3]]
    rows = draw(st.lists(st.lists(CELL, max_size=10), max_size=6))
    lines = [",".join(header), *(",".join(r) for r in rows)]
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    return _encode(newline.join(lines), draw(ENCODING))


@FAST
@given(data=events_csv())
def test_events_csv_exits_0_or_2_naming_file_line_column(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "night.csv"
        path.write_bytes(data)
        rc, out, err = _run(["plan", str(path), "--site", SITE, "--now", NOW, "--json"])
    event(f"exit {rc}")
    assert rc in (0, 2) and "Traceback" not in err, (rc, err)
    if rc == 2:
        for line in _errors(err, "plan"):
            assert line.startswith(f"{path}:"), line  # FILE:LINE: column 'x': ...
    else:
        doc = json.loads(out)
        assert len(out) < 4000 + 3000 * len(doc["events"])  # output bounded by the input


def _real_fields() -> list[tuple[str, int]]:
    text = REAL_XML.read_text()
    fields = []
    for tag in ("Elements", "Earth", "Star", "Object", "Errors", "ID"):
        body = text.split(f"<{tag}>", 1)[1].split(f"</{tag}>", 1)[0]
        fields += [(tag, i) for i in range(len(body.split(",")))]
    return fields


FIELDS = _real_fields()


def _mutate(text: str, tag: str, index: int, value: str) -> str:
    head, rest = text.split(f"<{tag}>", 1)
    body, tail = rest.split(f"</{tag}>", 1)
    cells = body.split(",")
    cells[index] = value
    return f"{head}<{tag}>{','.join(cells)}</{tag}>{tail}"


def _xml_safe(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@st.composite
def occelmnt(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(st.binary(max_size=300))
    text = REAL_XML.read_text()
    for tag, index in draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=4)):
        text = _mutate(text, tag, index, _xml_safe(draw(CELL)))
    if kind == 1:  # a field list cut short
        tag = draw(st.sampled_from(["Elements", "Star", "Object", "Errors"]))
        body = text.split(f"<{tag}>", 1)[1].split(f"</{tag}>", 1)[0]
        text = text.replace(body, ",".join(body.split(",")[: draw(st.integers(0, 5))]))
    if kind == 2:  # several events, one of them bad
        event = text.split("<Event>", 1)[1].split("</Event>", 1)[0]
        text = text.replace("</Occultations>", f"<Event>{event}</Event>" * 2 + "</Occultations>")
    return _encode(text, draw(st.sampled_from(["utf-8", "utf-8-sig", "latin-1"])))


@FAST
@given(data=occelmnt(), command=st.sampled_from(["predictions", "plan"]))
def test_occelmnt_exits_0_or_2_naming_file_event_field(data: bytes, command: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "feed.xml"
        path.write_bytes(data)
        argv = [command, str(path), "--site", "38.5,-7.1,200", "--json"]
        rc, out, err = _run(argv + (["--now", "2026-02-09T12:00"] if command == "plan" else []))
    event(f"exit {rc}")
    assert rc in (0, 2) and "Traceback" not in err, (rc, err)
    if rc == 2:
        for line in _errors(err, command):
            assert line.startswith(f"{path}"), line  # FILE:LINE or FILE: event N (ID, line L)
    else:
        assert len(out) < 20_000 * max(1, len(json.loads(out)["events"]))


KEYS = {
    "site": ["lat", "lon", "elevation"],
    "plan": ["lead_s", "min_altitude_deg", "max_sun_altitude_deg"],
    "ekos": ["profile", "kstars_version", "steps", "call_timeout_s", "camera"],
    "capture": ["exposure_s", "binning", "frame", "gain", "filter", "format", "encoding"],
    "run": ["stream_preroll_s", "late_start_s", "job_timeout_s", "disk_margin_bytes"],
    "paths": ["out_dir", "sandbox_dir"],
}
SCALAR = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(),
    st.booleans(),
    st.text(max_size=10),
    st.sampled_from(["Track", "Track, Align", "", "\x01", "a\nb", "3.6", "auto", "/tmp"]),
)
VALUE = st.one_of(SCALAR, st.lists(SCALAR, max_size=5))


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        text = repr(value)
        return text if text not in ("nan", "inf", "-inf") else text  # TOML spells them so too
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string (a lone surrogate: not TOML, refused)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise AssertionError(value)


@st.composite
def config(draw: st.DrawFn) -> bytes:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=200))
    sections = draw(
        st.lists(st.one_of(st.sampled_from(sorted(KEYS)), st.text(max_size=5)), max_size=4)
    )
    lines = []
    for section in dict.fromkeys(sections):
        lines.append(f"[{json.dumps(section)}]")
        keys = KEYS.get(section, []) + ["unknown"]
        for key in draw(st.lists(st.sampled_from(keys), max_size=4, unique=True)):
            lines.append(f"{key} = {_toml(draw(VALUE))}")
    text = "\n".join(lines) + "\n"
    return _encode(text, draw(st.sampled_from(["utf-8", "utf-8-sig", "latin-1"])))


@FAST
@given(data=config())
def test_config_exits_0_or_2_naming_the_file_and_key(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.toml"
        path.write_bytes(data)
        argv = ["--config", str(path), "render", str(CLASSIC), "--site", SITE, "--now", NOW]
        rc, out, err = _run([*argv, "--out", str(Path(tmp) / "night")])
    event(f"exit {rc}")
    assert rc in (0, 2) and "Traceback" not in err, (rc, err)
    if rc == 2:
        (first, *_) = _errors(err, "render")
        assert str(path) in first or first.startswith("Nothing to render"), first
    else:
        assert len(out) < 10_000
