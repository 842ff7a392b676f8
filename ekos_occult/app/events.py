"""Reading the events a night is planned from: the CSV, or occelmnt predictions (file or folder).

Also the copy of them a night folder keeps (``events.csv``), so that ``ekos-occult run FOLDER``
can carry on a night written by ``render``, ``load`` or ``run``: :func:`events_copy` (for a folder
written whole) and :func:`keep_events` (written beside a night's other files).
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from ekos_occult.ekosfiles.nightfolder import EVENTS_COPY
from ekos_occult.errors import CsvFormatError, CsvProblem, InputError, PredictionFormatError

if TYPE_CHECKING:
    from ekos_occult.plan.occelmnt import Feed

__all__ = [
    "read_events_text",
    "is_prediction_path",
    "read_prediction_files",
    "merged_occelmnt_text",
    "events_copy",
    "keep_events",
]


def read_events_text(path: str) -> str:
    """The events file's text (``-``: standard input, read as bytes and decoded like a file).

    UTF-8; a UTF-8 byte-order mark is dropped, and UTF-16 with its mark (Excel's "Unicode
    text") is read too.

    Raises:
        InputError: the file cannot be read.
        CsvFormatError: the file is not UTF-8 (the line of the first bad byte is named).
    """
    name = "<stdin>" if path == "-" else path
    data = read_input_bytes(path, "events file")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass  # not UTF-16 after all: report it as UTF-8 below
    data = data.removeprefix(b"\xef\xbb\xbf")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise CsvFormatError(
            [
                CsvProblem(
                    name,
                    line,
                    None,
                    f"byte 0x{data[exc.start]:02x} is not UTF-8 text: save the file as UTF-8 CSV",
                )
            ],
        ) from None


def is_prediction_path(path: str) -> bool:
    """A folder, or a file named ``*.xml``: read as occelmnt predictions."""
    p = Path(path)
    return path != "-" and (p.is_dir() or p.suffix.lower() == ".xml")


MAX_INPUT_BYTES = 256 * 1024 * 1024
"""Largest events or predictions file read (a whole-sky occelmnt search of 100 000 events is
about 70 MB, 700 bytes an event); more is refused, so that /dev/zero or a wrong file cannot
fill the memory."""


def read_input_bytes(path: str | Path, what: str) -> bytes:
    """The bytes of ``path`` (``-``: standard input), at most :data:`MAX_INPUT_BYTES`.

    Raises:
        InputError: the file cannot be read, or is larger than the limit.
    """
    name = "<stdin>" if str(path) == "-" else str(path)
    chunks: list[bytes] = []
    size = 0
    try:
        with contextlib.ExitStack() as stack:
            fh = (
                sys.stdin.buffer if str(path) == "-" else stack.enter_context(Path(path).open("rb"))
            )
            # In pieces: read(limit) would allocate the whole limit at once.
            while size <= MAX_INPUT_BYTES and (chunk := fh.read(1 << 20)):
                chunks.append(chunk)
                size += len(chunk)
    except OSError as exc:
        raise InputError(f"Cannot read the {what} {name}: {exc.strerror or exc}.") from exc
    data = b"".join(chunks)
    if len(data) > MAX_INPUT_BYTES:
        raise InputError(
            f"{name}: more than {MAX_INPUT_BYTES // 2**20} MB, the limit for {what}s: "
            "is it the right file? (Split a larger one.)"
        )
    return data


def _read_bytes(path: Path) -> bytes:
    return read_input_bytes(path, "predictions file")


def read_prediction_files(path: str) -> Feed:
    """Read an occelmnt file, or every ``*.xml`` in a folder (name order), or standard input.

    In a folder, a file that cannot be read is a warning while others can; an event ID seen in
    several files is kept once, from the newest prediction (``ID`` field 1).

    Raises:
        InputError: the path cannot be read, or a folder holds no XML file.
        PredictionFormatError: no event can be read at all.
    """
    from ekos_occult.plan.occelmnt import Feed, read_occelmnt

    if path == "-":
        return read_occelmnt(read_input_bytes("-", "predictions file"), "<stdin>")
    root = Path(path)
    if not root.is_dir():
        return read_occelmnt(_read_bytes(root), path)
    files = sorted(f for f in root.iterdir() if f.is_file() and f.suffix.lower() == ".xml")
    if not files:
        raise InputError(f"The folder {path} holds no .xml occelmnt file.")
    feeds, problems = [], []
    for f in files:
        try:
            feeds.append(read_occelmnt(_read_bytes(f), str(f)))
        except PredictionFormatError as exc:
            problems.append(f"{exc} (file skipped)")
    if not feeds:
        raise PredictionFormatError("\n".join(problems))
    newest: dict[str, Any] = {}
    warnings = [w for feed in feeds for w in feed.warnings] + problems
    for p in (p for feed in feeds for p in feed.predictions):
        seen = newest.get(p.event_id)
        if seen is None or (p.prediction_mjd or 0.0) > (seen.prediction_mjd or 0.0):
            if seen is not None:
                warnings.append(f"{p.event_id}: in {seen.path} and {p.path}; using {p.path}")
            newest[p.event_id] = p
        else:
            warnings.append(f"{p.event_id}: in {seen.path} and {p.path}; using {seen.path}")
    return Feed(tuple(newest.values()), tuple(warnings))


def merged_occelmnt_text(path: str) -> str:
    """One occelmnt document holding every readable event of a file or folder.

    ``run`` keeps it in the night folder so that a restarted night plans the same events.
    (``Orbit``/``Moons`` elements are not kept: planning does not use them.)
    """
    from lxml import etree

    root = etree.Element("Occultations")
    for p in read_prediction_files(path).predictions:
        event = etree.SubElement(root, "Event")
        for tag, text in p.raw:
            if text:
                etree.SubElement(event, tag).text = text
    return str(etree.tostring(root, pretty_print=True, encoding="unicode"))


def events_copy(source: str | Path) -> list[tuple[PurePosixPath, str]]:
    """The ``events.csv`` file for a night folder written whole (render, load), as
    ``[(relative path, text)]``; empty for events read from stdin (``-``).

    A folder of occelmnt predictions is kept as one merged document.

    Raises:
        InputError: the events cannot be read.
    """
    if str(source) == "-":
        return []
    path = Path(source).expanduser()
    if path.is_dir():
        return [(PurePosixPath(EVENTS_COPY), merged_occelmnt_text(str(path)))]
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"Cannot read the events file {path}: {exc}.") from exc
    return [(PurePosixPath(EVENTS_COPY), text)]


def keep_events(source: Path, night: Path) -> Path:
    """Copy the events the night was planned from into ``night/events.csv`` (atomically).

    A folder of occelmnt predictions is kept as one merged document (the planner reads either
    form by its content). Reading a night folder's own copy leaves it as it is.

    Raises:
        InputError: the events cannot be read.
        OutputError: the copy cannot be written.
    """
    from ekos_occult.files import write_atomic

    target = night / EVENTS_COPY
    if target.exists() and target.resolve() == source.resolve():
        return target
    if source.is_dir():
        write_atomic(target, merged_occelmnt_text(str(source)))
        return target
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"Cannot read the events file {source}: {exc}.") from exc
    write_atomic(target, text)
    return target
