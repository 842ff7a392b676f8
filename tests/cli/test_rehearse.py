"""``ekos-occult rehearse`` refuses anything but the sandbox (never a real rig)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ekos_occult import cli


def _csv(tmp_path: Path) -> Path:
    start = (datetime.now(timezone.utc) + timedelta(hours=2)).replace(microsecond=0)
    path = tmp_path / "events.csv"
    # Polaris: above the horizon of the site all the time.
    path.write_text(
        "name,ra,dec,start,duration,mag,exposure\n"
        f"Polaris,37.95,89.26,{start:%Y-%m-%dT%H:%M:%S},10,2.0,0.1\n",
        encoding="utf-8",
    )
    return path


def _args(tmp_path: Path, *extra: str) -> list[str]:
    return [
        "rehearse",
        str(_csv(tmp_path)),
        "--site",
        "51.5,0,0",
        "--max-sun-altitude",
        "90",
        "--state-dir",
        str(tmp_path / "no-sandbox"),
        *extra,
    ]


@pytest.mark.timeout(60)
def test_a_bus_without_a_sandbox_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = cli.main(_args(tmp_path, "--bus", "unix:path=/run/user/1000/bus"))
    err = capsys.readouterr().err
    assert rc == 2
    assert "rehearse runs only on the sandbox" in err and "Traceback" not in err


@pytest.mark.timeout(60)
def test_a_night_with_nothing_scheduled_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = _args(tmp_path)
    args[args.index("--max-sun-altitude") + 1] = "-90"  # the Sun is never that low: all skipped
    rc = cli.main(args)
    assert rc == 2 and "nothing to rehearse" in capsys.readouterr().err
