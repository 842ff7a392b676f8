"""``ekos-occult run`` through cli.main where no KStars is needed.

The dry run (and that the config's ``[run]`` values reach it), the refusals before anything is
sent to Ekos (events on stdin, a folder without events, KStars settings that would end the
night), no bus, and a bus without KStars (a real private dbus-daemon on which nothing is served).
The night itself runs in ``tests/night/test_runner.py`` (fakes) and ``tests/e2e/test_run.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from privatebus import private_bus

from ekos_occult.cli import main
from ekos_occult.clock import SystemClock
from ekos_occult.kstars.bus import NOT_RUNNING_MESSAGE

SITE = "51.4769,-0.0005,46"
NOW = datetime(2026, 11, 21, 21, 0, tzinfo=timezone.utc)
CSV = """name,ra,dec,start,duration,mag
Capella test,79.17,45.99,2026-11-22T00:30:00,30,8.0
Mirfak test,51.08,49.86,2026-11-22T01:30:00,20,9.0
"""
GOOD_KSTARSRC = "[Scheduler]\nStopEkosAfterShutdown=false\nRememberJobProgress=false\n"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # No user config, data folder, sandbox or session bus leaks in; `run` plans on the system
    # clock (it has no --now): fix it.
    for var, sub in (
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_DATA_HOME", "data"),
        ("XDG_STATE_HOME", "state"),
    ):
        monkeypatch.setenv(var, str(tmp_path / sub))
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    monkeypatch.setattr(SystemClock, "now", lambda self: NOW)


@pytest.fixture
def empty_bus(tmp_path: Path) -> Iterator[str]:
    with private_bus(tmp_path / "bus") as address:
        yield address


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def run(*args: str) -> int:
    return main(["run", *args])


def _stream_on_line(out: str, event: str) -> str:
    block = out.split(f"  {event}:")[1]
    return next(line for line in block.splitlines() if "stream on" in line)


def test_dry_run_says_each_step_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    night = tmp_path / "night"
    rc = run(str(write(tmp_path / "t.csv", CSV)), "--site", SITE, "--out", str(night), "--dry-run")
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert f"Dry run: night folder {night}" in out
    # Capella: job 300 s ahead (the default lead), stream 3 s ahead (the default pre-roll).
    assert "    00:25:00 load this event's one-job .esl" in out
    assert _stream_on_line(out, "Capella test").startswith("    00:29:57 stream on: ")
    assert "    00:30:00 record 30 s" in out and "    00:30:30 stream off" in out
    assert "  Mirfak test:" in out
    assert not night.exists()


def test_config_run_values_reach_the_dry_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path / "c.toml", "[run]\nstream_preroll_s = 10\n\n[plan]\nlead_s = 120\n")
    rc = main(
        [
            "--config",
            str(config),
            "run",
            str(write(tmp_path / "t.csv", CSV)),
            "--site",
            SITE,
            "--out",
            str(tmp_path / "night"),
            "--dry-run",
        ]
    )
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert _stream_on_line(out, "Capella test").startswith("    00:29:50 stream on: ")
    assert _stream_on_line(out, "Mirfak test").startswith("    01:29:50 stream on: ")
    assert "    00:28:00 load this event's one-job .esl" in out


def test_dry_run_lists_skipped_events_with_their_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    past = CSV + "old one,79.17,45.99,2026-11-20T00:30:00,30,8.0\n"
    rc = run(str(write(tmp_path / "t.csv", past)), "--site", SITE, "--dry-run")
    out, _ = capsys.readouterr()
    assert rc == 0
    assert "  old one: skipped (past)" in out


def test_events_on_stdin_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("-", "--site", SITE, "--dry-run") == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "ekos-occult run: error: run needs an events file (not '-')" in err


def test_a_folder_without_events_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "empty-night"
    folder.mkdir()
    assert run(str(folder), "--site", SITE) == 2
    err = capsys.readouterr().err
    assert f"{folder} is a folder without events.csv" in err and "Traceback" not in err


def test_no_bus_is_an_error_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    night = tmp_path / "night"
    assert run(str(write(tmp_path / "t.csv", CSV)), "--site", SITE, "--out", str(night)) == 1
    err = capsys.readouterr().err
    assert err.startswith("ekos-occult run: error: ") and "Traceback" not in err
    assert not night.exists()


def test_kstars_settings_that_end_the_night_are_refused_before_ekos(
    tmp_path: Path, empty_bus: str, capsys: pytest.CaptureFixture[str]
) -> None:
    night = tmp_path / "night"
    kstarsrc = write(tmp_path / "kstarsrc", "[Scheduler]\nStopEkosAfterShutdown=true\n")
    rc = run(
        str(write(tmp_path / "t.csv", CSV)),
        "--site",
        SITE,
        "--out",
        str(night),
        "--bus",
        empty_bus,
        "--kstarsrc",
        str(kstarsrc),
    )
    out, err = capsys.readouterr()
    assert rc == 2 and out == ""
    assert "KStars' settings would end the night after the first event" in err
    assert "StopEkosAfterShutdown=true" in err and "fix: " in err
    assert not night.exists()


def test_a_bus_without_kstars_says_so(
    tmp_path: Path, empty_bus: str, capsys: pytest.CaptureFixture[str]
) -> None:
    kstarsrc = write(tmp_path / "kstarsrc", GOOD_KSTARSRC)
    rc = run(
        str(write(tmp_path / "t.csv", CSV)),
        "--site",
        SITE,
        "--out",
        str(tmp_path / "night"),
        "--bus",
        empty_bus,
        "--kstarsrc",
        str(kstarsrc),
    )
    err = capsys.readouterr().err
    assert rc == 1
    assert f"ekos-occult run: error: {NOT_RUNNING_MESSAGE}" in err
