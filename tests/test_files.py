"""Atomic, all-or-nothing writing of output files."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ekos_occult.files as files
from ekos_occult.ekosfiles.render import render_night
from ekos_occult.errors import OutputError
from ekos_occult.files import (
    replace_folder,
    write_atomic,
    write_bytes_atomic,
    write_night,
    write_tree,
)
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


@pytest.fixture
def umask_027() -> Iterator[None]:
    old = os.umask(0o027)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.usefixtures("umask_027")
def test_new_outputs_follow_the_umask(tmp_path: Path) -> None:
    write_atomic(tmp_path / "new" / "a.csv", "x")
    write_bytes_atomic(tmp_path / "p.png", b"png", "--plot")
    replace_folder(tmp_path / "night", [(PurePosixPath("sequences/a.esq"), "A")])
    assert stat.S_IMODE((tmp_path / "new" / "a.csv").stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "p.png").stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "night").stat().st_mode) == 0o750
    assert stat.S_IMODE((tmp_path / "night" / "sequences").stat().st_mode) == 0o750
    assert stat.S_IMODE((tmp_path / "night" / "sequences" / "a.esq").stat().st_mode) == 0o640


@pytest.mark.usefixtures("umask_027")
def test_a_replaced_file_keeps_its_mode(tmp_path: Path) -> None:
    for name in ("a.csv", "p.png"):
        (tmp_path / name).write_text("old")
        os.chmod(tmp_path / name, 0o644)
    write_atomic(tmp_path / "a.csv", "new")
    write_bytes_atomic(tmp_path / "p.png", b"new", "--plot")
    night = tmp_path / "night"
    night.mkdir(mode=0o755)
    (night / "n.esl").write_text("old")
    os.chmod(night, 0o755)
    os.chmod(night / "n.esl", 0o664)
    replace_folder(night, [(PurePosixPath("n.esl"), "new")])
    assert stat.S_IMODE((tmp_path / "a.csv").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "p.png").stat().st_mode) == 0o644
    assert stat.S_IMODE(night.stat().st_mode) == 0o755
    assert stat.S_IMODE((night / "n.esl").stat().st_mode) == 0o664
    assert (night / "n.esl").read_text() == "new"


def test_replace_folder_keeps_what_it_does_not_own(tmp_path: Path) -> None:
    night = tmp_path / "night"
    (night / "recordings").mkdir(parents=True)
    (night / "recordings" / "a.ser").write_bytes(b"frames")
    (night / "sequences").mkdir()
    (night / "sequences" / "stale.esq").write_text("stale")
    (night / "events.csv").write_text("old events")
    inode = (night / "recordings" / "a.ser").stat().st_ino
    folder_inode = (night / "recordings").stat().st_ino
    written = replace_folder(
        night,
        [(PurePosixPath("sequences/new.esq"), "N"), (PurePosixPath("n.esl"), "S")],
        owned=("events.csv",),
    )
    assert written == (night / "sequences" / "new.esq", night / "n.esl")
    assert listing(night) == {"recordings/a.ser": "frames", "sequences/new.esq": "N", "n.esl": "S"}
    assert (night / "recordings" / "a.ser").stat().st_ino == inode  # not copied
    assert (night / "recordings").stat().st_ino == folder_inode  # a folder is renamed in, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["night"]


def test_replace_folder_moves_where_there_are_no_hard_links(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    night = tmp_path / "night"
    (night / "recordings").mkdir(parents=True)
    (night / "recordings" / "a.ser").write_bytes(b"frames")
    monkeypatch.setattr(os, "link", no_links)
    replace_folder(night, [(PurePosixPath("n.esl"), "S")])
    assert listing(night) == {"recordings/a.ser": "frames", "n.esl": "S"}


@pytest.mark.parametrize("nth", [1, 2, 3])
def test_replace_folder_disk_full_at_any_file_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, nth: int
) -> None:
    night = tmp_path / "night"
    (night / "sequences").mkdir(parents=True)
    (night / "sequences" / "a.esq").write_text("old A")
    (night / "n.esl").write_text("old schedule")
    before = listing(night)
    real, calls = files._write_fd, []

    def fill_up(fd: int, data: bytes) -> None:
        calls.append(data)
        if len(calls) == nth:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd, data)

    monkeypatch.setattr(files, "_write_fd", fill_up)
    new = [("sequences/a.esq", "A"), ("events.csv", "E"), ("n.esl", "S")]
    with pytest.raises(OutputError, match=f"{new[nth - 1][0]}: No space left.*Nothing was"):
        replace_folder(night, [(PurePosixPath(r), t) for r, t in new])
    assert listing(night) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["night"]


def test_replace_folder_creates_a_new_folder_and_its_parents(tmp_path: Path) -> None:
    night = tmp_path / "a" / "b" / "night"
    replace_folder(night, [(PurePosixPath("n.esl"), "S")])
    assert listing(tmp_path) == {"a/b/night/n.esl": "S"}


def _tree(root: Path) -> dict[str, tuple[int, bytes]]:
    return {
        str(p.relative_to(root)): (p.stat().st_mode, p.read_bytes() if p.is_file() else b"")
        for p in sorted(root.rglob("*"))
    }


_WRITE_FD = files._write_fd
_NAMES = st.sampled_from(["n.esl", "events.csv", "sequences/a.esq", "sequences/b c.esq", "x.txt"])


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    old=st.dictionaries(_NAMES, st.text(max_size=30), max_size=4),
    new=st.dictionaries(_NAMES, st.text(max_size=30), min_size=1, max_size=5),
    fail_at=st.integers(1, 6),
    keep=st.booleans(),
)
def test_any_failure_while_replacing_leaves_the_old_folder_byte_for_byte(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    old: dict[str, str],
    new: dict[str, str],
    fail_at: int,
    keep: bool,
) -> None:
    base = tmp_path / f"case{len(list(tmp_path.iterdir()))}"
    night = base / "night"
    night.mkdir(parents=True)
    for rel, text in old.items():
        (night / rel).parent.mkdir(parents=True, exist_ok=True)
        (night / rel).write_text(text, encoding="utf-8")
    if keep:
        (night / "recordings").mkdir()
        (night / "recordings" / "a.ser").write_bytes(b"frames")
    before = _tree(night)
    real, calls = _WRITE_FD, []

    def fill_up(fd: int, data: bytes) -> None:
        calls.append(data)
        if len(calls) == fail_at:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd, data)

    pairs = [(PurePosixPath(r), t) for r, t in new.items()]
    with monkeypatch.context() as patch:
        patch.setattr(files, "_write_fd", fill_up)
        try:
            replace_folder(night, pairs, owned=("events.csv",))
        except OutputError as exc:
            assert fail_at <= len(new) and "Nothing was written" in str(exc)
            assert _tree(night) == before  # whole or not at all
        else:
            assert fail_at > len(new)
            assert {r: (night / r).read_bytes() for r in new} == {
                r: t.encode("utf-8") for r, t in new.items()
            }
            assert keep == (night / "recordings" / "a.ser").exists()
    assert sorted(p.name for p in base.iterdir()) == ["night"]  # no staging folder left


def test_a_night_folder_that_is_a_link_stays_a_link(tmp_path: Path) -> None:
    disk = tmp_path / "disk" / "2026-11-21"
    (disk / "recordings").mkdir(parents=True)
    (disk / "recordings" / "a.ser").write_bytes(b"frames")
    link = tmp_path / "nights" / "2026-11-21"
    link.parent.mkdir()
    link.symlink_to(disk, target_is_directory=True)
    written = replace_folder(link, [(PurePosixPath("n.esl"), "S")])
    assert written == (link / "n.esl",)
    assert link.is_symlink() and link.resolve() == disk.resolve()
    assert listing(disk) == {"recordings/a.ser": "frames", "n.esl": "S"}
    assert sorted(p.name for p in disk.parent.iterdir()) == ["2026-11-21"]


def test_a_failed_swap_puts_every_renamed_folder_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    night = tmp_path / "night"
    (night / "recordings" / "deep").mkdir(parents=True)
    (night / "recordings" / "deep" / "a.ser").write_bytes(b"frames")
    (night / "journal.jsonl").write_text("{}\n")
    (night / "n.esl").write_text("old")
    before = _tree(night)

    def no_swap(stage: Path, root: Path) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(files, "_swap", no_swap)
    with pytest.raises(OutputError, match="Input/output error. Nothing was written"):
        replace_folder(night, [(PurePosixPath("n.esl"), "new")])
    assert _tree(night) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["night"]
