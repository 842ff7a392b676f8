"""Write output files atomically: all of a night's files land, or none change.

Each file is written to a temporary file in its own folder, flushed and fsynced, and only then
renamed over the target with :func:`os.replace` (atomic on POSIX). A set of files is staged
completely before the first rename, so a failure while writing (disk full, permissions) leaves
every existing file untouched and no temporary file behind.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePath, PurePosixPath
from typing import Protocol

from ekos_occult.errors import OutputError

__all__ = [
    "OutputFile",
    "RenderedFiles",
    "write_atomic",
    "write_bytes_atomic",
    "write_tree",
    "write_night",
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


def _stage(target: Path, text: str) -> Path:
    """Write ``text`` to a fsynced temporary file next to ``target``; return its path."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


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
    folder = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise OutputError(
            f"{flag}: cannot write in {folder}: {exc.strerror or exc}; nothing was written."
        ) from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OutputError(
            f"{flag}: cannot write {path}: {exc.strerror or exc}; nothing was written."
        ) from exc


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
