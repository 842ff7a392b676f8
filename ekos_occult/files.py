"""Write output files atomically: all of a night's files land, or none change.

Each file is written to a temporary file in its own folder, flushed and fsynced, and only then
renamed over the target with :func:`os.replace` (atomic on POSIX). A set of files is staged
completely before the first rename, so a failure while writing (disk full, permissions) leaves
every existing file untouched and no temporary file behind.

A night folder that ``render`` or ``load`` writes again is replaced whole
(:func:`replace_night`): the new folder is built beside it, then what it does not own
(recordings, the journal, ...) is brought in (files hard-linked, folders renamed) and it is
swapped in with one rename, so a disk that fills up midway leaves the old folder exactly as it
was.

Modes: a new file gets ``0666 & ~umask`` (a new folder ``0777 & ~umask``), like any program's
output; a file or folder that is replaced keeps the mode it had.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import stat
import tempfile
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path, PurePath, PurePosixPath
from typing import Protocol

from ekos_occult.errors import OutputError

__all__ = [
    "format_bytes",
    "OutputFile",
    "RenderedFiles",
    "write_atomic",
    "write_bytes_atomic",
    "write_outputs",
    "write_tree",
    "write_night",
    "replace_night",
    "replace_folder",
    "new_file_mode",
]


class OutputFile(Protocol):
    """A file to write: its path relative to the output folder and its text."""

    @property
    def relpath(self) -> PurePosixPath: ...

    @property
    def text(self) -> str: ...


class RenderedFiles(Protocol):
    """What :func:`write_night` needs from a rendered night (see ekos_occult.ekosfiles.render)."""

    @property
    def night_dir(self) -> PurePath: ...

    @property
    def files(self) -> tuple[OutputFile, ...]: ...


def _fail(path: Path, exc: OSError) -> OutputError:
    reason = exc.strerror or str(exc)
    return OutputError(
        f"Cannot write {path}: {reason}. Nothing was written; choose another "
        "--out DIR or free some space."
    )


def _missing_dirs(folder: Path) -> list[Path]:
    """The folders that do not exist yet on the way to ``folder``, outermost first."""
    missing: list[Path] = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing[::-1]


def _umask() -> int:
    """The process umask, read without changing it where the kernel tells it (Linux >= 4.7)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):  # pragma: no cover - other kernels
        pass
    mask = os.umask(0o022)  # pragma: no cover - not thread-safe, only without /proc
    os.umask(mask)  # pragma: no cover
    return mask  # pragma: no cover


def new_file_mode(target: Path, *, folder: bool = False) -> int:
    """The permission bits an output at ``target`` gets: the mode of the file it replaces,
    else ``0666 & ~umask`` (``0777 & ~umask`` for a folder)."""
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        return (0o777 if folder else 0o666) & ~_umask()


def _write_fd(fd: int, data: bytes) -> None:
    """Write all of ``data`` to ``fd`` and fsync it (the one place output bytes are written)."""
    view = memoryview(data)
    while view:
        done = os.write(fd, view)
        view = view[done:]
    os.fsync(fd)


def _stage_bytes(target: Path, data: bytes, mode: int | None = None) -> Path:
    """Write ``data`` to a fsynced temporary file next to ``target``; return its path.

    The temporary file gets ``mode`` (default: :func:`new_file_mode` of ``target``).
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        try:
            os.fchmod(fd, new_file_mode(target) if mode is None else mode)
            _write_fd(fd, data)
        finally:
            os.close(fd)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def _stage(target: Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to a fsynced temporary file next to ``target``; return its path."""
    target.parent.mkdir(parents=True, exist_ok=True)
    return _stage_bytes(target, text.encode("utf-8"))


def _remove_dirs(folders: list[Path]) -> None:
    """Remove the folders this call created, innermost first, if they are still empty."""
    for folder in sorted(folders, key=lambda f: len(f.parts), reverse=True):
        try:
            folder.rmdir()
        except OSError:
            pass


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8) atomically, creating its folder if needed.

    Raises:
        OutputError: the file or its folder cannot be written; ``path`` is unchanged.
    """
    write_tree(path.parent, [(PurePosixPath(path.name), text)])


def write_bytes_atomic(path: Path, data: bytes, flag: str) -> None:
    """Replace ``path`` with ``data`` atomically (temp file beside it, fsync, rename).

    The folder must exist (a typo in ``--plot DIR/x.png`` is an error, not a new folder).

    Args:
        path: the file to write.
        data: its bytes (e.g. a PNG).
        flag: the option that named the file, for the message (``--plot``).

    Raises:
        OutputError: the folder or file cannot be written; ``path`` is unchanged.
    """
    write_outputs([(path, data, flag)])


def write_outputs(items: Sequence[tuple[Path, bytes, str]]) -> None:
    """Write several output files (``--plot``, ``--csv``, ...) all or nothing.

    Every file is staged (temporary file beside it, fsync) before the first is renamed into
    place, so a full disk while writing the second leaves the first unwritten too.

    Args:
        items: ``(path, bytes, flag that named it)``; each folder must exist.

    Raises:
        OutputError: a folder or file cannot be written, naming its flag; no file changed.
    """
    staged: list[tuple[Path, Path, str]] = []
    try:
        for path, data, flag in items:
            folder = path.parent if str(path.parent) else Path(".")
            if not folder.is_dir():
                raise OutputError(
                    f"{flag}: cannot write in {folder}: no such folder; nothing was written."
                )
            try:
                staged.append((_stage_bytes(path, data), path, flag))
            except OSError as exc:
                raise OutputError(
                    f"{flag}: cannot write {path}: {exc.strerror or exc}; nothing was written."
                ) from exc
        done: list[str] = []
        for tmp, path, flag in staged:
            try:
                os.replace(tmp, path)
            except OSError as exc:  # pragma: no cover - a rename after staging rarely fails
                wrote = f"only {', '.join(done)} was written" if done else "nothing was written"
                raise OutputError(
                    f"{flag}: cannot write {path}: {exc.strerror or exc}; {wrote}."
                ) from exc
            done.append(str(path))
    finally:
        for tmp, _, _ in staged:
            tmp.unlink(missing_ok=True)


def _target(root: Path, relpath: PurePath) -> Path:
    if relpath.is_absolute() or ".." in relpath.parts or not relpath.parts:
        raise OutputError(f"Refusing to write {str(relpath)!r}: not a path inside {root}.")
    return root / relpath


def write_tree(root: Path, files: Iterable[tuple[PurePath, str]]) -> tuple[Path, ...]:
    """Write several files below ``root``, all or nothing.

    Every file is staged (temporary file, fsync) before any is renamed into place; the renames
    follow in the given order, so put the file that refers to the others last.

    Args:
        root: the output folder (created if missing).
        files: ``(relative path, text)`` pairs.

    Returns:
        The absolute paths written, in order.

    Raises:
        OutputError: a path escapes ``root``, or a file cannot be written; existing files are
            unchanged and temporary files removed.
    """
    entries = [(_target(root, rel), text) for rel, text in files]
    created = sorted({d for target, _ in entries for d in _missing_dirs(target.parent)})
    staged: list[tuple[Path, Path]] = []
    renamed = 0
    try:
        for target, text in entries:
            try:
                staged.append((_stage(target, text), target))
            except OSError as exc:
                raise _fail(target, exc) from exc
        for tmp, target in staged:
            try:
                os.replace(tmp, target)
            except OSError as exc:
                raise _fail(target, exc) from exc
            renamed += 1
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        if renamed < len(entries):
            _remove_dirs(created)
    for folder in sorted({target.parent for _, target in staged}):
        _fsync_dir(folder)
    return tuple(target for _, target in staged)


def write_night(rendered: RenderedFiles, out_dir: Path | None = None) -> tuple[Path, ...]:
    """Write a rendered night into its folder: sequences first, the schedule last.

    Args:
        rendered: a :class:`ekos_occult.ekosfiles.render.RenderedNight` (or one job of it).
        out_dir: must be ``rendered.night_dir`` if given (the .esl names its .esq files by
            absolute path, so the files cannot be moved elsewhere).

    Returns:
        The absolute paths written.

    Raises:
        OutputError: ``out_dir`` differs from the night folder, or a file cannot be written.
    """
    night_dir = Path(rendered.night_dir)
    if out_dir is not None and Path(out_dir).absolute() != night_dir.absolute():
        raise OutputError(
            f"These files were rendered for {night_dir} and refer to each other "
            f"by absolute path; render them again for {out_dir}."
        )
    files: Sequence[OutputFile] = rendered.files
    return write_tree(night_dir, [(f.relpath, f.text) for f in files])


def replace_night(
    rendered: RenderedFiles,
    extra: Sequence[tuple[PurePath, str]] = (),
    owned: Collection[str] = (),
) -> tuple[Path, ...]:
    """Write a rendered night as a whole new night folder, swapped in with one rename.

    Everything the night writes (its ``.esl``, ``sequences/`` and ``extra`` files such as the
    copy of the events) replaces the old; everything else in the old folder (recordings,
    journal, control frames, single-job files) is kept. See :func:`replace_folder`.

    Args:
        rendered: a :class:`ekos_occult.ekosfiles.render.RenderedNight`.
        extra: more ``(relative path, text)`` files for the folder, written before the schedule.
        owned: more top-level names that belong to the night and are dropped when not written
            (e.g. ``events.csv`` when the events came from stdin).

    Returns:
        The absolute paths written, the schedule last.

    Raises:
        OutputError: a file cannot be written; the old folder is unchanged.
    """
    files = [(f.relpath, f.text) for f in rendered.files]
    return replace_folder(Path(rendered.night_dir), [*files[:-1], *extra, files[-1]], owned)


def replace_folder(
    root: Path, files: Iterable[tuple[PurePath, str]], owned: Collection[str] = ()
) -> tuple[Path, ...]:
    """Replace the folder ``root`` by one holding ``files``, whole or not at all.

    The new folder is built beside ``root`` (``.<name>.new-XXXX``): every file is written and
    fsynced; the top-level entries of the old folder that are neither written nor in ``owned``
    are brought in (files hard-linked; folders, and everything where the file system has no
    hard links, renamed: one rename each, however big); then it takes ``root``'s place in one
    atomic exchange (``renameat2(RENAME_EXCHANGE)``, else two renames) and the old folder is
    removed. A failure while writing removes the new folder and leaves ``root`` byte for byte
    as it was (anything renamed is put back).

    Args:
        root: the folder to replace (created with its parents if missing); a symbolic link to
            a folder (a night on another disk) stays a link: the folder it names is replaced.
        files: ``(relative path, text)`` pairs, written in this order.
        owned: top-level names dropped from the old folder even when not written.

    Returns:
        The absolute paths of the written files (below ``root``), in order.

    Raises:
        OutputError: a path escapes ``root``, or the folder cannot be built or swapped in.
    """
    entries = [(_target(root, rel), rel, text) for rel, text in files]
    root = root.resolve() if root.is_symlink() else root  # a link stays: swap its folder
    created = _missing_dirs(root.parent)
    try:
        root.parent.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=f".{root.name}.new-", dir=root.parent))
    except OSError as exc:
        _remove_dirs(created)
        raise _fail(root, exc) from exc
    moved: list[tuple[Path, Path]] = []
    failed = root
    try:
        for target, rel, text in entries:
            failed = target
            _build(stage, root, rel, text)
        failed = root
        for folder in {stage / rel.parent for _, rel, _ in entries}:
            _fsync_dir(folder)
        mine = {rel.parts[0] for _, rel, _ in entries} | set(owned)
        moved = _carry_over(root, stage, mine)
        _fsync_dir(stage)
        _swap(stage, root)
    except OSError as exc:
        for src, dst in reversed(moved):  # put back what had to be moved (no hard links)
            os.replace(dst, src)
        shutil.rmtree(stage, ignore_errors=True)
        _remove_dirs(created)
        raise _fail(failed, exc) from exc
    shutil.rmtree(stage, ignore_errors=True)  # the old folder, now under the staging name
    _fsync_dir(root.parent)
    return tuple(target for target, _, _ in entries)


def _build(stage: Path, root: Path, rel: PurePath, text: str) -> None:
    """Write one file of the new folder (its folders made with the modes they will have)."""
    os.chmod(stage, new_file_mode(root, folder=True))
    for parent in reversed(list(rel.parents)[:-1]):
        if not (stage / parent).is_dir():
            (stage / parent).mkdir()
            os.chmod(stage / parent, new_file_mode(root / parent, folder=True))
    dest = stage / rel
    os.replace(_stage_bytes(dest, text.encode("utf-8"), new_file_mode(root / rel)), dest)


def _carry_over(root: Path, stage: Path, mine: set[str]) -> list[tuple[Path, Path]]:
    """Bring the old folder's other entries into the new one: files hard-linked (nothing
    moves, so the old folder stays whole), folders (recordings, ...) renamed in, so a big
    tree costs one rename and keeps its inodes, owners and modes. Returns the renamed ones
    (the caller puts them back if the swap fails)."""
    if not root.is_dir():
        return []
    keep = sorted(p for p in root.iterdir() if p.name not in mine and not _is_stage(p, root))
    folders = [p for p in keep if p.is_dir() and not p.is_symlink()]
    try:
        for src in keep:
            if src not in folders:
                os.link(src, stage / src.name, follow_symlinks=False)
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EXDEV, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        for src in keep:  # no hard links here (FAT, exFAT, some network shares): move all
            (stage / src.name).unlink(missing_ok=True)
        folders = keep
    moved: list[tuple[Path, Path]] = []
    try:
        for src in folders:
            os.replace(src, stage / src.name)
            moved.append((src, stage / src.name))
    except OSError:
        for src, dst in reversed(moved):
            os.replace(dst, src)
        raise
    return moved


def _is_stage(path: Path, root: Path) -> bool:
    return path.name.startswith(f".{root.name}.new-")


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2); False where the system cannot."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):  # pragma: no cover - glibc < 2.28, other systems
        return False
    rc = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):  # pragma: no cover - some fs
        return False
    raise OSError(err, os.strerror(err), str(b))


def _swap(stage: Path, root: Path) -> None:
    """Put ``stage`` in ``root``'s place; the old ``root`` ends up at ``stage``'s name."""
    if not root.exists():
        os.rename(stage, root)
        return
    if _exchange(stage, root):
        return
    old = stage.with_name(stage.name.replace(".new-", ".old-"))  # pragma: no cover
    os.rename(root, old)  # pragma: no cover
    try:  # pragma: no cover
        os.rename(stage, root)
    except OSError:  # pragma: no cover
        os.rename(old, root)
        raise
    os.rename(old, stage)  # pragma: no cover


def format_bytes(n: int) -> str:
    """``n`` bytes as a short human text (binary units)."""
    value = float(n)
    units = ("B", "KiB", "MiB", "GiB", "TiB")
    for unit in units[:-1]:
        if abs(value) < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} {units[-1]}"
