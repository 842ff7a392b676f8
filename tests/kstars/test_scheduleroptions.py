"""The scheduler options our schedules rewrite: which keys, read before, written back after."""

from __future__ import annotations

from pathlib import Path

from ekos_occult.ekosfiles.formats import KStarsFormat
from ekos_occult.ekosfiles.render import render_options_restore
from ekos_occult.kstars.scheduleroptions import (
    keys_changed_by_loading,
    read_group,
    restore_context,
    save_options,
    with_group_values,
    write_back,
)

RC = "[General]\nA=1\n\n[Scheduler]\nErrorHandlingStrategy=2\nSchedulerParkMount=true\n\n[x]\nB=2\n"


def test_which_keys_each_kstars_has_rewritten() -> None:
    k38 = keys_changed_by_loading("3.7", "3.8.1")
    assert "SchedulerStartupEnabled" in k38 and "SchedulerParkMount" not in k38  # gone on 3.8
    k37 = keys_changed_by_loading("3.7", "3.7.5")
    assert "SchedulerParkMount" in k37 and "ErrorHandlingStrategy" in k37
    assert "SchedulerStartupEnabled" not in keys_changed_by_loading("3.6", "3.6.2")
    assert "SchedulerStartupEnabled" in keys_changed_by_loading("3.7", ">=3.7.3")  # unknown minor


def test_set_and_remove_keys_leave_every_other_line() -> None:
    keys = ("ErrorHandlingStrategy", "SchedulerParkMount", "RescheduleErrors")
    assert read_group(RC, keys) == {
        "ErrorHandlingStrategy": "2",
        "SchedulerParkMount": "true",
        "RescheduleErrors": None,
    }
    out = with_group_values(
        RC, {"ErrorHandlingStrategy": "0", "SchedulerParkMount": None, "RescheduleErrors": "true"}
    )
    assert out == (
        "[General]\nA=1\n\n[Scheduler]\nErrorHandlingStrategy=0\nRescheduleErrors=true\n\n"
        "[x]\nB=2\n"
    )
    assert with_group_values("[General]\nA=1", {"K": "v"}) == "[General]\nA=1\n\n[Scheduler]\nK=v\n"


def test_only_the_keys_kstars_wrote_during_the_night_are_written_back(tmp_path: Path) -> None:
    rc = tmp_path / "kstarsrc"
    rc.write_text(RC, encoding="utf-8")
    saved = save_options(rc, "3.7", "3.7.5")
    assert write_back(saved) == []  # nothing changed: the file is not touched
    night = with_group_values(RC, {"ErrorHandlingStrategy": "0", "SchedulerWarmCCD": "false"})
    rc.write_text(night.replace("A=1", "A=changed by KStars"), encoding="utf-8")
    assert write_back(saved) == ["ErrorHandlingStrategy=2", "SchedulerWarmCCD removed"]
    assert rc.read_text(encoding="utf-8") == RC.replace("A=1", "A=changed by KStars")
    assert write_back(save_options(tmp_path / "none", "3.6", "3.6.2")) == []  # no file


def test_the_restoring_schedule_carries_the_users_options(tmp_path: Path) -> None:
    rc = tmp_path / "kstarsrc"
    rc.write_text(RC, encoding="utf-8")
    ctx = restore_context(save_options(rc, "3.7", "3.7.5"))
    assert ctx["strategy"] == 2 and ctx["delay"] == 0 and ctx["shutdown"] == ["ParkMount"]
    text = render_options_restore(KStarsFormat.V3_7, ctx)
    assert "<ErrorHandlingStrategy value='2'>" in text and "<Job>" not in text
    assert "<Procedure>ParkMount</Procedure>" in text
    assert "<StartupProcedure enabled='true'>" in text  # the default: the queue was on
    old = render_options_restore(KStarsFormat.V3_6, ctx)
    assert "version='1.5'" in old and "enabled" not in old
