"""``ekos-occult load`` through cli.main where no KStars is needed.

Dry run, nothing to load, no bus, and a bus without KStars (a real private dbus-daemon on which
nothing is served).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from privatebus import private_bus

from ekos_occult.cli import main
from ekos_occult.kstars.bus import NOT_RUNNING_MESSAGE

SITE = "51.4769,-0.0005,46"
NOW = "2026-11-21T21:00:00"
CSV = """name,ra,dec,start,duration,mag
Capella test,79.17,45.99,2026-11-22T00:30:00,30,8.0
Mirfak test,51.08,49.86,2026-11-22T01:30:00,20,9.0
"""
PAST_CSV = """name,ra,dec,start,duration,mag
old one,79.17,45.99,2026-11-20T00:30:00,30,8.0
"""


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # No user config, data folder, sandbox or session bus leaks in.
    for var, sub in (
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_DATA_HOME", "data"),
        ("XDG_STATE_HOME", "state"),
    ):
        monkeypatch.setenv(var, str(tmp_path / sub))
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)


def write(tmp_path: Path, text: str, name: str = "tonight.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load(*args: str) -> int:
    return main(["load", *args])


def test_dry_run_prints_jobs_and_actions_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "night"
    rc = load(
        str(write(tmp_path, CSV)),
        "--site",
        SITE,
        "--now",
        NOW,
        "--out",
        str(out),
        "--dry-run",
        "--force",
    )
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "nothing is sent to Ekos" in captured.out
    assert "2026-11-22T00:25:00  Capella test 2026-11-22" in captured.out
    assert "2026-11-22T01:25:00  Mirfak test 2026-11-22" in captured.out
    assert "stop it and wait until it is idle (--force)" in captured.out
    assert f"load {out / '2026-11-21.esl'}" in captured.out
    assert "none found" in captured.out  # no bus anywhere, said, not fatal in a dry run
    assert not out.exists()


def test_dry_run_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = load(
        str(write(tmp_path, CSV)),
        "--site",
        SITE,
        "--now",
        NOW,
        "--dry-run",
        "--json",
        "--bus",
        "unix:path=/nowhere",
    )
    data = json.loads(capsys.readouterr().out)
    assert rc == 0 and data["dry_run"] is True
    names = [j["name"] for j in data["jobs"]]
    assert names == ["Capella test 2026-11-22", "Mirfak test 2026-11-22"]
    assert data["jobs"][0]["job_start_utc"] == "2026-11-22T00:25:00+00:00"
    assert "unix:path=/nowhere" in data["actions"][0]


def test_nothing_observable_is_a_clear_message_exit_0_and_no_bus_needed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The bus does not exist: a load that has nothing to do must not even try it.
    rc = load(
        str(write(tmp_path, PAST_CSV)),
        "--site",
        SITE,
        "--now",
        NOW,
        "--bus",
        "unix:path=/nowhere",
        "--out",
        str(tmp_path / "night"),
    )
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "Nothing to load: none of the 1 event(s)" in captured.out
    assert "(skipped: past)" in captured.out and "Ekos was not contacted" in captured.out
    assert "not loaded: old one (past)" in captured.out
    assert not (tmp_path / "night").exists()


def test_nothing_observable_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = load(str(write(tmp_path, PAST_CSV)), "--site", SITE, "--now", NOW, "--json")
    data = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert data["loaded"] is False and data["jobs"] == []
    assert data["not_loaded"] == [
        {"name": "old one", "reason": "past", "detail": data["not_loaded"][0]["detail"]}
    ]


def test_header_only_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = load(str(write(tmp_path, "name,ra,dec,start,duration,mag\n")), "--site", SITE)
    captured = capsys.readouterr()
    assert rc == 0 and "lists no event" in captured.out


def test_no_bus_anywhere_is_a_run_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = load(
        str(write(tmp_path, CSV)), "--site", SITE, "--now", NOW, "--out", str(tmp_path / "night")
    )
    err = capsys.readouterr().err
    assert rc == 1
    assert "give --bus ADDRESS" in err and "ekos-occult sandbox start" in err
    assert not (tmp_path / "night").exists()


def test_missing_bus_socket(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = load(
        str(write(tmp_path, CSV)),
        "--site",
        SITE,
        "--now",
        NOW,
        "--bus",
        f"unix:path={tmp_path}/no-such-socket",
    )
    err = capsys.readouterr().err
    assert rc == 1 and "no such socket" in err


def test_bad_csv_is_an_input_error_before_any_bus(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = write(tmp_path, "name,ra,dec,start,duration,mag\nx,abc,45,2026-11-22T00:30:00,30,8\n")
    rc = load(str(bad), "--site", SITE, "--now", NOW, "--bus", "unix:path=/nowhere")
    err = capsys.readouterr().err
    assert rc == 2 and f"{bad}:2" in err


@pytest.fixture
def empty_bus(tmp_path: Path) -> Iterator[str]:
    """A real private session bus on which nothing (no KStars) is running."""
    with private_bus(tmp_path / "bus") as address:
        yield address


def test_a_bus_without_kstars_says_how_to_start_it(
    tmp_path: Path, empty_bus: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = load(
        str(write(tmp_path, CSV)),
        "--site",
        SITE,
        "--now",
        NOW,
        "--bus",
        empty_bus,
        "--out",
        str(tmp_path / "night"),
    )
    err = capsys.readouterr().err
    assert rc == 1
    assert NOT_RUNNING_MESSAGE in err
    assert not (tmp_path / "night").exists()
