"""Atomic, all-or-nothing writing of output files."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import pytest

from ekos_occult.ekosfiles.render import render_night
from ekos_occult.errors import OutputError
from ekos_occult.files import write_atomic, write_night, write_tree
from ekos_occult.settings import Settings
from tests.render_helpers import three_event_plan


def listing(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): p.read_text(encoding="utf-8")
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_write_atomic_creates_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "new" / "deeper" / "a.esl"
    write_atomic(target, "one ☃\n")
    assert target.read_bytes() == "one ☃\n".encode()
    inode = target.stat().st_ino
    write_atomic(target, "two\n")
    assert target.read_text(encoding="utf-8") == "two\n"
    assert target.stat().st_ino != inode  # replaced by rename, not rewritten in place
    assert listing(tmp_path) == {"new/deeper/a.esl": "two\n"}  # no temporary files left


def test_write_tree_writes_in_order(tmp_path: Path) -> None:
    written = write_tree(
        tmp_path, [(PurePosixPath("sequences/a.esq"), "A"), (PurePosixPath("n.esl"), "N")]
    )
    assert written == (tmp_path / "sequences" / "a.esq", tmp_path / "n.esl")
    assert listing(tmp_path) == {"sequences/a.esq": "A", "n.esl": "N"}


def test_failure_while_staging_changes_nothing(tmp_path: Path) -> None:
    (tmp_path / "n.esl").write_text("old schedule", encoding="utf-8")
    (tmp_path / "blocker").write_text("a file where a folder is needed", encoding="utf-8")
    before = listing(tmp_path)
    with pytest.raises(OutputError, match=r"Cannot write .*blocker/b\.esq.*Nothing was written"):
        write_tree(
            tmp_path,
            [
                (PurePosixPath("sequences/a.esq"), "A"),
                (PurePosixPath("blocker/b.esq"), "B"),
                (PurePosixPath("n.esl"), "new schedule"),
            ],
        )
    assert listing(tmp_path) == before  # old files intact, no new file, no temporary file
    assert not (tmp_path / "sequences").exists()  # nor a folder made for the staged file


def test_failure_while_renaming_leaves_no_temporary_files(tmp_path: Path) -> None:
    (tmp_path / "n.esl").mkdir()  # a folder where the file should go: rename fails
    with pytest.raises(OutputError, match="n.esl"):
        write_tree(tmp_path, [(PurePosixPath("n.esl"), "N")])
    assert [p.name for p in tmp_path.rglob("*")] == ["n.esl"]


@pytest.mark.parametrize("bad", ["../escape.esl", "/etc/passwd", "a/../../b"])
def test_paths_must_stay_inside_the_folder(tmp_path: Path, bad: str) -> None:
    with pytest.raises(OutputError, match="Refusing"):
        write_tree(tmp_path / "out", [(PurePosixPath(bad), "x")])
    assert not (tmp_path / "escape.esl").exists()
    assert not (tmp_path / "out").exists()


def test_write_night_layout(tmp_path: Path) -> None:
    night_dir = tmp_path / "nights" / "2023-02-08"
    rendered = render_night(three_event_plan(), Settings(), version="3.6", night_dir=night_dir)
    written = write_night(rendered, night_dir)
    assert written[-1] == night_dir / "2023-02-08.esl"  # the schedule is renamed in last
    assert sorted(listing(night_dir)) == [
        "2023-02-08.esl",
        "sequences/(41)_Daphne_2023-02-09.esq",
        "sequences/TYC_1234-01102-1_2023-02-09.esq",
        "sequences/star1_2023-02-08.esq",
    ]
    schedule = (night_dir / "2023-02-08.esl").read_text(encoding="utf-8")
    for job in rendered.jobs:  # the .esl names files that exist
        assert f"<Sequence>{job.sequence_path}</Sequence>" in schedule
        assert Path(job.sequence_path).is_file()


def test_write_night_refuses_another_folder(tmp_path: Path) -> None:
    rendered = render_night(three_event_plan(), Settings(), version="3.7", night_dir=tmp_path / "a")
    with pytest.raises(OutputError, match="render them again"):
        write_night(rendered, tmp_path / "b")
    assert not (tmp_path / "b").exists()


def test_files_are_fsynced_before_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        calls.append("fsync")
        real_fsync(fd)

    def replace(src: str | Path, dst: str | Path) -> None:
        calls.append("replace")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    write_tree(tmp_path, [(PurePosixPath("a"), "A"), (PurePosixPath("b"), "B")])
    # Both files staged and synced before the first rename; then the folder is synced.
    assert calls == ["fsync", "fsync", "replace", "replace", "fsync"]
