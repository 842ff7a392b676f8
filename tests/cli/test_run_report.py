"""``ekos-occult run``'s closing report: what failed, and the exit status it implies."""

from __future__ import annotations

from pathlib import Path

import pytest

from ekos_occult.app.night import NightDone
from ekos_occult.cli.run import _report
from ekos_occult.night.records import Outcome
from ekos_occult.night.runner import EventResult


def test_a_journal_that_could_not_be_written_is_said_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recorded = [EventResult("A", "A@t", Outcome.RECORDED, None, "", tmp_path / "a.ser", ())]
    failure = "1 journal entries could not be written to j (No space left on device); ..."
    assert _report(NightDone(tmp_path, tuple(recorded), failure)) == 1
    err = capsys.readouterr().err
    assert "A: recorded" in err and f"ekos-occult run: error: {failure}" in err
    assert _report(NightDone(tmp_path, tuple(recorded), None)) == 0
