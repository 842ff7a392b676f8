"""Light-curve CSV input through ``ekos-occult reduce``: Tangra exports, untimed frames, and a
property test (any CSV text: exit 0 or 2, never a traceback, errors name the file)."""

from __future__ import annotations

import json
import resource
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ekos_occult.cli import main

FAST = ["--trials", "200", "--false-trials", "500"]
TANGRA = Path("/work/shared/data/field/tangra-adv-excerpt/tangra_v3.7_adv_excerpt.csv")


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


def _tangra_event(path: Path, start: datetime, d: int, r: int, n: int = 300) -> float:
    """A Tangra export, only the first and last frame timed; returns the cadence."""
    rng = np.random.default_rng(11)
    cad = 0.04
    lines = [
        "Tangra v3.7.0.5",
        "Measurments of 2 objects",
        "",
        "FrameNo,Time (UT),Signal (1), Background (1),Signal (2), Background (2)",
    ]
    for k in range(n):
        sky = 40_000 + rng.normal(0, 150)
        star = (0.0 if d <= k < r else 20_000.0) + rng.normal(0, 300)
        t = start + timedelta(seconds=k * cad)
        stamp = f"[{t:%H:%M:%S}.{t.microsecond // 1000:03d}]"
        if 0 < k < n - 1:
            stamp = "[??:??:??.???]"
        lines.append(f"{k + 100},{stamp},{sky + star:.0f},{sky:.0f},{sky + 30000:.0f},{sky:.0f}")
    path.write_text("\n".join(lines) + "\n")
    return cad


def test_tangra_only_first_and_last_timed_gives_utc(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    start = datetime(2025, 12, 4, 8, 48, 48, 666000, tzinfo=timezone.utc)
    f = tmp_path / "tangra.csv"
    cad = _tangra_event(f, start, d=120, r=170)
    rc = main(["reduce", str(f), "--date", "2025-12-04", "--json", *FAST])
    out, err = capsys.readouterr()
    assert rc == 0, err
    info = json.loads(out)
    assert info["event"] is True and info["timestamp_source"] == "csv timeInfo"
    for edge, frame in (("D", 120), ("R", 170)):
        got = datetime.fromisoformat(info[edge])
        truth = start + timedelta(seconds=frame * cad)
        assert abs((got - truth).total_seconds()) < 0.5 * cad, (edge, got, truth)
    assert info["D_frame"] == pytest.approx(220, abs=0.5)  # the file's own frame numbers
    assert "298 untimed frames" in err
    assert info["baseline"] == pytest.approx(20_000, rel=0.05)  # background subtracted


def test_real_tangra_export_baseline_is_the_star(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(["reduce", str(TANGRA), "--json", *FAST])
    out, err = capsys.readouterr()
    assert rc == 0, err
    info = json.loads(out)
    assert 36_000 < info["baseline"] < 45_000  # 85 247 when Background was taken for a star
    assert info["dropped_frames"] == 0 and info["bad_stamp_frames"] == []
    assert "Background (n) subtracted" in err


def test_issue_example_reported_by_frame_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(2)
    frames = [f for f in range(1, 200) if f != 4]
    rows = []
    for f in frames:
        t = 0.1 * f - (0.1 if f == 8 else 0.0)
        v = (0.0 if 80 <= f < 120 else 1000.0) + rng.normal(0, 30)
        rows.append(f"{f},[01:00:{t:06.3f}],{v:.1f}")
    path = tmp_path / "lc.csv"
    path.write_text("FrameNum,timeInfo,signal-a\n" + "\n".join(rows) + "\n")
    assert main(["reduce", str(path), "--json", *FAST]) == 0
    out, err = capsys.readouterr()
    info = json.loads(out)
    assert info["dropped_frames"] == 1 and info["dropped_before_frames"] == [[5.0, 1]]
    assert info["bad_stamp_frames"] == [8.0]
    assert "1 dropped frame (1 before frame 5)" in err and "1 bad timestamp (frame 8)" in err


_CELL = st.one_of(
    st.sampled_from(["", "nan", "inf", "-inf", "1e309", "-5", "0", "1e12", "x", "??", "[", " "]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**30), 10**30).map(str),
    st.text(max_size=6),
)
_TIME = st.one_of(
    st.sampled_from(["", "[??:??:??.???]", "[24:00:00.0]", "[23:59:60.999]", "[1:2:3]", "[::]"]),
    st.builds(
        lambda h, m, s: f"[{h:02d}:{m:02d}:{s:06.3f}]",
        st.integers(-2, 30),
        st.integers(-2, 70),
        st.floats(-1, 70),
    ),
    st.text(max_size=14),
)
_HEADER = st.sampled_from(
    [
        "FrameNum,timeInfo,signal-a,signal-b",
        "FrameNum,timeInfo,signal-a,appsum-a",
        "FrameNum,timeInfo,primaryData,ref",
        "FrameNo,Time (UT),Signal (1), Background (1),Signal (2), Background (2)",
        "FrameNo,Time (UT),Signal (1), Background (1)",
        "FrameNum,timeInfo",
        "FrameNum,timeInfo,signal-a,signal-a",
    ]
)
_PREAMBLE = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "Tangra v3.7.0.5",
                "# PyMovie Version 4.0.2",
                "# date at frame 0: 2024-01-02",
                "# date at frame 0: 2024-02-30",
                "# date at frame 0: 99999-01-01",
                "SignalMinusBackground",
                "",
            ]
        ),
        st.text(max_size=20).filter(lambda s: not s.lstrip().startswith("Frame")),
    ),
    max_size=3,
)


@st.composite
def _lightcurve_text(draw: st.DrawFn) -> str:
    lines = draw(_PREAMBLE) + [draw(_HEADER)]
    n = draw(st.integers(0, 40))
    regular = draw(st.booleans())
    for k in range(n):
        if regular and draw(st.integers(0, 9)) > 0:  # mostly well-formed rows
            t = 3600 + 0.04 * k
            v = 1000.0 if not 15 <= k < 22 else 10.0
            lines.append(f"{k},[01:00:{t - 3600:06.3f}],{v},{v / 2},{v},{v / 2}")
        else:
            cells = [draw(_CELL), draw(_TIME)] + draw(st.lists(_CELL, max_size=6))
            lines.append(",".join(cells))
    return "\n".join(lines) + draw(st.sampled_from(["", "\n", "\r\n"]))


@pytest.mark.timeout(300)
@settings(
    max_examples=150,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=_lightcurve_text())
def test_any_lightcurve_csv_exits_0_or_2_naming_the_file(
    text: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "any.csv"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rc = main(["reduce", str(path), "--json", *FAST])  # any other exception fails the test
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    out, err = capsys.readouterr()
    assert rc in (0, 2), err
    assert grown_mib < 200
    if rc == 2:
        assert err.startswith("ekos-occult reduce: error: ") and str(path) in err, err
        assert "Traceback" not in err
    else:
        assert json.loads(out)["file"] == str(path)
