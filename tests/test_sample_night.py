"""The quick start's sample night is moved ahead of now, and every event of it is observable."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from ekos_occult import cli

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_sequences"


@pytest.mark.timeout(120)
def test_sample_night_lies_ahead_and_is_all_scheduled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "tonight.csv"
    before = datetime.now(timezone.utc)
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "sample_night.py"),
            str(SAMPLE / "tonight.csv"),
            str(SAMPLE / "config.toml"),
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    rc = cli.main(["--config", str(SAMPLE / "config.toml"), "plan", str(out), "--json"])
    plan = json.loads(capsys.readouterr().out)
    assert rc == 0
    sample_names = [
        line.split(",")[0] for line in (SAMPLE / "tonight.csv").read_text().splitlines()[1:]
    ]
    events = plan["events"]
    assert len(events) == len(sample_names) > 0
    assert all(e["status"] == "scheduled" for e in events), events
    assert all(
        datetime.fromisoformat(e["job_start"].replace("Z", "+00:00")) > before for e in events
    )
