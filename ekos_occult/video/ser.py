"""SER video files: read them as written in the wild (streamed through memory maps); write them.

The reader follows what writers really do rather than the letter of the SER v3 spec:

- FileID ``LUCAM-RECORDER`` (the spec), ``INDI-RECORDER`` (INDI) or any other printable id.
- ``LittleEndian`` = 0 means little-endian 16-bit data (INDI, PyMovie, most writers: the opposite
  of the spec). With 1 the byte order is taken from the data (both uses exist).
- Per-frame UTC timestamps in an optional trailer (.NET ticks: 100 ns since 0001-01-01 UTC).
- A file left by a crash has ``FrameCount`` = 0 and no trailer: frames are recovered from the file
  size and the timestamps are reported missing.

Frames are never loaded all at once: :meth:`SerFile.iter_chunks` maps a window of frames at a time
and releases it before mapping the next, so memory stays flat however big the file is.
:class:`SerWriter` makes recordings (for tests and benchmarks) the way INDI does: header first,
frames, then trailer and a header rewrite on close.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

from ekos_occult.errors import ReductionError

__all__ = [
    "HEADER_SIZE",
    "TICKS_PER_SECOND",
    "COLOR_MONO",
    "COLOR_RGB",
    "COLOR_BGR",
    "SerHeader",
    "SerFile",
    "SerWriter",
    "open_ser",
    "ticks_to_datetime",
    "datetime_to_ticks",
    "luminance",
]

HEADER_SIZE = 178
TICKS_PER_SECOND = 10_000_000
COLOR_MONO = 0
COLOR_RGB = 100
COLOR_BGR = 101
_BAYER = range(8, 20)
_EPOCH = datetime(1, 1, 1, tzinfo=timezone.utc)
_HEADER = struct.Struct("<14s7i40s40s40sqq")
_CHUNK_BYTES = 32 * 1024 * 1024  # one mapped window; bounds resident memory


def ticks_to_datetime(ticks: int) -> datetime:
    """A .NET tick count (100 ns since 0001-01-01 UTC) as an aware UTC datetime."""
    return _EPOCH + timedelta(microseconds=int(ticks) // 10)


def datetime_to_ticks(t: datetime) -> int:
    """An aware datetime as .NET ticks (100 ns since 0001-01-01 UTC)."""
    delta = t.astimezone(timezone.utc) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * TICKS_PER_SECOND + delta.microseconds * 10


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("latin-1").strip()


@dataclass(frozen=True)
class SerHeader:
    """The 178-byte SER header, field for field (times in .NET ticks, 0 when unset)."""

    file_id: str
    lu_id: int
    color_id: int
    little_endian_flag: int
    width: int
    height: int
    pixel_depth: int
    frame_count: int
    observer: str = ""
    instrument: str = ""
    telescope: str = ""
    date_time_ticks: int = 0
    date_time_utc_ticks: int = 0

    @property
    def planes(self) -> int:
        """Samples per pixel: 3 for RGB/BGR, else 1 (Bayer data is read as a mono mosaic)."""
        return 3 if self.color_id in (COLOR_RGB, COLOR_BGR) else 1

    @property
    def sample_bytes(self) -> int:
        """Bytes per sample: 1 up to 8 bits, else 2."""
        return 1 if self.pixel_depth <= 8 else 2

    @property
    def frame_bytes(self) -> int:
        """Bytes per frame."""
        return self.width * self.height * self.planes * self.sample_bytes

    @property
    def frame_shape(self) -> tuple[int, ...]:
        """numpy shape of one frame: (height, width) or (height, width, 3)."""
        if self.planes == 1:
            return (self.height, self.width)
        return (self.height, self.width, self.planes)

    def pack(self) -> bytes:
        """The header as the 178 bytes that start a SER file."""
        return _HEADER.pack(
            self.file_id.encode("latin-1")[:14],
            self.lu_id,
            self.color_id,
            self.little_endian_flag,
            self.width,
            self.height,
            self.pixel_depth,
            self.frame_count,
            self.observer.encode("latin-1")[:40],
            self.instrument.encode("latin-1")[:40],
            self.telescope.encode("latin-1")[:40],
            self.date_time_ticks,
            self.date_time_utc_ticks,
        )


MAX_SIDE = 65_536
"""Largest Width or Height accepted (pixels)."""
MAX_FRAME_BYTES = 512 * 1024 * 1024
"""Largest frame accepted (bytes): 16-bit 16 000 x 16 000 fits; a header beyond it is broken."""
EARLIEST_STAMP = datetime(1990, 1, 1, tzinfo=timezone.utc)
"""Timestamps before this are not plausible for a video recording (SER is from 2005 on)."""
LATEST_STAMP = datetime(2100, 1, 1, tzinfo=timezone.utc)
"""Timestamps from this on are not plausible (a clock or a reader gone wrong)."""
_TICK_RANGE = (0, 0)  # filled below: EARLIEST/LATEST_STAMP in ticks


def _parse_header(raw: bytes, path: str) -> SerHeader:
    """The header fields, each range-checked where it enters; errors name the file and field."""
    if len(raw) < HEADER_SIZE:
        raise ReductionError(
            f"{path}: only {len(raw)} bytes; a SER file starts with a {HEADER_SIZE}-byte header."
        )
    f = _HEADER.unpack(raw[:HEADER_SIZE])
    file_id = _text(f[0])
    if not file_id or not (file_id.isascii() and file_id.isprintable()):
        raise ReductionError(f"{path}: not a SER file (no FileID like LUCAM-RECORDER at byte 0).")
    h = SerHeader(
        file_id,
        f[1],
        f[2],
        f[3],
        f[4],
        f[5],
        f[6],
        f[7],
        _text(f[8]),
        _text(f[9]),
        _text(f[10]),
        f[11],
        f[12],
    )
    for name, value in (("ImageWidth", h.width), ("ImageHeight", h.height)):
        if not 1 <= value <= MAX_SIDE:
            raise ReductionError(
                f"{path}: header field {name} is {value}; expected 1 to {MAX_SIDE} pixels "
                "(a broken header, or one written big-endian)."
            )
    if not 1 <= h.pixel_depth <= 16:
        raise ReductionError(
            f"{path}: header field PixelDepthPerPlane is {h.pixel_depth}; ekos-occult reads "
            "1-16 bit data."
        )
    if h.color_id not in (COLOR_MONO, COLOR_RGB, COLOR_BGR) and h.color_id not in _BAYER:
        raise ReductionError(
            f"{path}: header field ColorID is {h.color_id}; expected 0 (mono), 8-19 (Bayer), "
            "100 (RGB) or 101 (BGR)."
        )
    if h.little_endian_flag not in (0, 1):
        raise ReductionError(
            f"{path}: header field LittleEndian is {h.little_endian_flag}; expected 0 or 1."
        )
    if h.frame_count < 0:
        raise ReductionError(f"{path}: header field FrameCount is negative ({h.frame_count}).")
    if h.frame_bytes > MAX_FRAME_BYTES:
        raise ReductionError(
            f"{path}: header fields ImageWidth x ImageHeight give {h.width}x{h.height} "
            f"{'colour ' if h.planes == 3 else ''}frames of {h.frame_bytes / 2**20:.0f} MiB; "
            f"ekos-occult reads frames up to {MAX_FRAME_BYTES // 2**20} MiB (record a region "
            "of interest around the target)."
        )
    return h


@dataclass(frozen=True)
class SerFile:
    """An opened SER recording: header, usable frame count, timestamps and what was odd about it.

    Attributes:
        path: the file.
        header: the header as found.
        n_frames: complete frames actually present (may differ from ``header.frame_count``).
        dtype: numpy dtype of one sample, with the byte order that was decided on.
        timestamps: per-frame UTC stamps in .NET ticks from the trailer, or None if missing.
        notes: what was recovered or assumed, in words for the user.
    """

    path: Path
    header: SerHeader
    n_frames: int
    dtype: np.dtype[np.unsignedinteger]
    timestamps: npt.NDArray[np.int64] | None
    notes: tuple[str, ...]

    def iter_chunks(
        self,
        start: int = 0,
        stop: int | None = None,
        max_bytes: int = _CHUNK_BYTES,
        *,
        prefetch: bool | None = None,
    ) -> Iterator[tuple[int, npt.NDArray[np.unsignedinteger]]]:
        """Yield ``(first_frame, frames)`` windows, each memory-mapped and released after use.

        ``frames`` has shape (k, height, width[, 3]) in the file's sample type. Do not keep it
        past the next iteration: holding it keeps its pages mapped. Only the pages a caller
        touches are read, so boxes around stars in a huge frame cost only those pages.

        Args:
            prefetch: ask the kernel to read each next window ahead (default: when a frame is
                at most 8 MiB; a caller reading small boxes out of big frames says False).
        """
        if prefetch is None:
            prefetch = self.header.frame_bytes <= 8 << 20
        stop = self.n_frames if stop is None else min(stop, self.n_frames)
        per = max(1, max_bytes // self.header.frame_bytes)
        fb = self.header.frame_bytes
        with open(self.path, "rb") as fh:
            for first in range(max(0, start), stop, per):
                k = min(per, stop - first)
                if prefetch:
                    _prefetch(fh, HEADER_SIZE + (first + k) * fb, min(per, stop - first - k) * fb)
                mm = np.memmap(
                    fh,
                    dtype=self.dtype,
                    mode="r",
                    offset=HEADER_SIZE + first * fb,
                    shape=(k, *self.header.frame_shape),
                )
                yield first, mm
                del mm

    def read_frames(self, start: int, stop: int) -> npt.NDArray[np.float32]:
        """Frames ``start``..``stop-1`` as float32 luminance images (copied; keep it small)."""
        out = [luminance(chunk, self.header.color_id) for _, chunk in self.iter_chunks(start, stop)]
        if not out:
            return np.zeros((0, self.header.height, self.header.width), np.float32)
        return np.concatenate(out)

    def frame_time(self, index: int) -> datetime | None:
        """UTC stamp of one frame from the trailer, or None when there is no trailer."""
        if self.timestamps is None:
            return None
        return ticks_to_datetime(int(self.timestamps[index]))

    @property
    def start_utc(self) -> datetime | None:
        """The header's DateTime_UTC (INDI: when the file was opened), or None when unset or
        outside 1990-2100 (:func:`open_ser` notes that)."""
        t = self.header.date_time_utc_ticks
        lo, hi = _TICK_RANGE
        return ticks_to_datetime(t) if lo <= t < hi else None


def _prefetch(fh: BinaryIO, offset: int, length: int) -> None:
    """Ask the kernel to start reading the next window while this one is processed."""
    if length > 0 and hasattr(os, "posix_fadvise"):
        try:
            os.posix_fadvise(fh.fileno(), offset, length, os.POSIX_FADV_WILLNEED)
        except OSError:  # pragma: no cover - advice only
            pass


def luminance(raw: npt.NDArray[np.generic], color_id: int = COLOR_MONO) -> npt.NDArray[np.float32]:
    """Samples as float32 intensity; RGB/BGR (last axis of 3) become Rec.601 luminance."""
    if color_id not in (COLOR_RGB, COLOR_BGR):
        return np.asarray(raw, dtype=np.float32)
    w = np.array([0.299, 0.587, 0.114], np.float32)
    if color_id == COLOR_BGR:
        w = w[::-1].copy()
    return np.asarray(raw, dtype=np.float32) @ w


def _smoothness(sample: npt.NDArray[np.uint16]) -> float:
    d = np.diff(sample.astype(np.float64), axis=-1)
    return float(np.mean(np.abs(d)))


def _byte_order(h: SerHeader, path: Path, notes: list[str]) -> np.dtype[np.unsignedinteger]:
    if h.sample_bytes == 1:
        return np.dtype(np.uint8)
    if h.little_endian_flag == 0:
        return np.dtype("<u2")  # the de-facto convention (INDI, PyMovie, SharpCap)
    n = min(h.width * h.height * h.planes, 65536)
    raw = np.fromfile(path, dtype="<u2", count=n, offset=HEADER_SIZE)
    if raw.size < 2:
        return np.dtype("<u2")
    swapped = raw.byteswap()
    limit = 1 << h.pixel_depth
    fits_le, fits_be = bool(raw.max() < limit), bool(swapped.max() < limit)
    if fits_le != fits_be:
        big = fits_be
    else:  # real images are smooth in the right byte order and noisy in the wrong one
        big = _smoothness(swapped) < _smoothness(raw)
    notes.append(
        f"LittleEndian flag is 1, which writers use both ways; the data look "
        f"{'big' if big else 'little'}-endian, so they are read that way."
    )
    return np.dtype(">u2" if big else "<u2")


def _plausible(ticks: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """Which stamps lie between :data:`EARLIEST_STAMP` and :data:`LATEST_STAMP`."""
    lo, hi = _TICK_RANGE
    result: npt.NDArray[np.bool_] = (ticks >= lo) & (ticks < hi)
    return result


def _plausible_trailer(path: Path, n: int, offset: int) -> bool:
    """Do the ``n`` 8-byte values at ``offset`` look like a trailer (mostly plausible stamps)?"""
    ticks = np.fromfile(path, dtype="<i8", count=n, offset=offset)
    return bool(ticks.size == n and n > 0 and np.count_nonzero(_plausible(ticks)) * 2 > n)


def _count_frames(h: SerHeader, size: int, path: Path, notes: list[str]) -> tuple[int, int]:
    """Cross-check FrameCount, the file size and the trailer; returns (frames, bytes after them).

    A file that is exactly FrameCount frames (plus an 8-byte-per-frame trailer) is read as the
    header says. Otherwise the size decides when it is unambiguous: exactly n frames plus a
    trailer of plausible stamps, or exactly n frames; the header's count is then overruled
    with a note. A file cut short keeps its complete frames.

    Raises:
        ReductionError: FrameCount and the size disagree in a way no frame count explains.
    """
    body = size - HEADER_SIZE
    fb, hc = h.frame_bytes, h.frame_count
    if hc and body == hc * (fb + 8):  # as the header says (the stamps are checked later)
        return hc, 8 * hc
    if hc and body == hc * fb:
        return hc, 0
    with_trailer = body // (fb + 8) if body > 0 and body % (fb + 8) == 0 else 0
    if with_trailer and _plausible_trailer(path, with_trailer, HEADER_SIZE + with_trailer * fb):
        _overruled(h, with_trailer, size, "plus the 8-byte-per-frame timestamp trailer", notes)
        return with_trailer, 8 * with_trailer
    if hc == 0:
        n = body // fb
        notes.append(
            f"header field FrameCount is 0 (the recording was not closed, e.g. a crash): "
            f"{n} frames recovered from the file size ({size} bytes)."
        )
        if body - n * fb:
            notes.append(f"the last {body - n * fb} bytes are an incomplete frame and are ignored.")
        return n, 0
    if body > 0 and body % fb == 0:
        _overruled(h, body // fb, size, "and no timestamp trailer", notes)
        return body // fb, 0
    fit = body // fb
    if fit < hc:
        notes.append(
            f"header field FrameCount is {hc} but the file ({size} bytes) holds only {fit} "
            f"complete frames (cut short) of {h.width}x{h.height}; reading those, without "
            "timestamps (the trailer comes after the last frame)."
        )
        if body - fit * fb:
            notes.append(f"the last {body - fit * fb} bytes are an incomplete frame, ignored.")
        return fit, 0
    leftover = body - hc * fb
    if leftover >= 8 * hc and _plausible_trailer(path, hc, HEADER_SIZE + hc * fb):
        return hc, leftover  # FrameCount frames, their trailer, then extra bytes (noted later)
    k = leftover // 8
    if leftover < 8 * hc and (
        leftover < fb or (k and _plausible_trailer(path, k, HEADER_SIZE + hc * fb))
    ):
        notes.append(
            f"the timestamp trailer is cut short (the file ends {leftover} bytes after the "
            f"{hc} frames, where {8 * hc} bytes of stamps belong): frames read without "
            "timestamps."
        )
        return hc, 0
    raise ReductionError(
        f"{path}: header field FrameCount is {hc}, but the file size ({size} bytes) is neither "
        f"{hc} frames of {fb} bytes ({h.width}x{h.height}, {h.pixel_depth}-bit) with or "
        "without a timestamp trailer, nor any other whole number of them; the header does not "
        "describe this file."
    )


def _overruled(h: SerHeader, n: int, size: int, what: str, notes: list[str]) -> None:
    notes.append(
        f"header field FrameCount is {h.frame_count}, but the file size ({size} bytes) is "
        f"exactly {n} frames of {h.width}x{h.height} {what}: reading {n} frames."
    )


def _read_trailer(
    path: Path, n: int, frame_bytes: int, leftover: int, notes: list[str]
) -> npt.NDArray[np.int64] | None:
    """The per-frame stamps; implausible ones (outside 1990-2100, or going backwards) are set
    to 0 (missing) and named in ``notes``, never used as times."""
    if n == 0 or leftover < 8 * n:
        if leftover:
            notes.append(f"{leftover} bytes after the frames are not a full timestamp trailer.")
        notes.append("no per-frame timestamps in the file (no trailer).")
        return None
    if leftover > 8 * n:
        notes.append(f"{leftover - 8 * n} unexpected bytes after the timestamp trailer ignored.")
    ticks = np.fromfile(path, dtype="<i8", count=n, offset=HEADER_SIZE + n * frame_bytes)
    zero = ticks == 0
    if zero.all():
        notes.append("the timestamp trailer is all zeros; treated as missing.")
        return None
    if zero.any():
        notes.append(f"{int(zero.sum())} frames have no timestamp (zero) in the trailer.")
    odd = ~zero & ~_plausible(ticks)
    if odd.any():
        first = int(np.argmax(odd))
        notes.append(
            f"trailer timestamps of {int(odd.sum())} frames (first: frame {first}, raw value "
            f"{int(ticks[first])}) lie outside {EARLIEST_STAMP.year}-{LATEST_STAMP.year}; "
            "they are treated as missing."
        )
    ticks = np.where(odd, 0, ticks)
    good = ticks > 0
    if good.any():
        running = np.maximum.accumulate(np.where(good, ticks, np.iinfo(np.int64).min))
        back = good & (ticks < running)
        if back.any():
            first = int(np.argmax(back))
            notes.append(
                f"trailer timestamps go backwards at {int(back.sum())} frames (first: frame "
                f"{first}, {(int(running[first]) - int(ticks[first])) / TICKS_PER_SECOND:.6f} s "
                "before the latest earlier stamp); those stamps are treated as missing."
            )
            ticks = np.where(back, 0, ticks)
            good &= ~back
    if not good.any():
        notes.append("no usable timestamp in the trailer; treated as missing.")
        return None
    return ticks.astype(np.int64)


def open_ser(path: str | os.PathLike[str]) -> SerFile:
    """Open a SER recording: read the header, count the frames, read the timestamp trailer.

    Every header field is range-checked; FrameCount is cross-checked with the file size and
    the trailer (see :func:`_count_frames`); implausible stamps are set to 0 and named in
    ``notes``.

    Raises:
        ReductionError: the file is missing, not SER, a header field is out of range, the size
            fits no frame count, or it holds no complete frame (each message names the file
            and the field).
    """
    p = Path(path)
    try:
        size = p.stat().st_size
        with open(p, "rb") as fh:
            raw = fh.read(HEADER_SIZE)
    except OSError as exc:
        raise ReductionError(f"{p}: cannot read: {exc.strerror or exc}.") from exc
    h = _parse_header(raw, str(p))
    notes: list[str] = []
    if h.file_id not in ("LUCAM-RECORDER", "INDI-RECORDER"):
        notes.append(f"unusual FileID {h.file_id!r}; read as SER.")
    n, leftover = _count_frames(h, size, p, notes)
    if n == 0:
        raise ReductionError(
            f"{p}: no complete {h.width}x{h.height} frame after the header "
            f"({size} bytes); nothing to reduce."
        )
    dtype = _byte_order(h, p, notes)
    ticks = _read_trailer(p, n, h.frame_bytes, leftover, notes)
    t = h.date_time_utc_ticks
    if t and not _TICK_RANGE[0] <= t < _TICK_RANGE[1]:
        notes.append(
            f"header field DateTime_UTC ({t}) is outside {EARLIEST_STAMP.year}-"
            f"{LATEST_STAMP.year}; ignored."
        )
    return SerFile(p, h, n, dtype, ticks, tuple(notes))


_TICK_RANGE = (datetime_to_ticks(EARLIEST_STAMP), datetime_to_ticks(LATEST_STAMP))


class SerWriter:
    """Write a SER file as INDI does: header, frames, then on close trailer and final header.

    Args:
        path: file to create (truncated if it exists).
        width, height: frame size in pixels.
        pixel_depth: bits per sample, 8 or up to 16.
        color_id: 0 mono, 100 RGB, 101 BGR.
        file_id: ``INDI-RECORDER`` (default) or ``LUCAM-RECORDER``.
        little_endian_flag: the header flag (0, like INDI); ``big_endian`` is the real byte order.
        start_utc: DateTime_UTC of the header.
        trailer: write per-frame timestamps on close.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        width: int,
        height: int,
        *,
        pixel_depth: int = 16,
        color_id: int = COLOR_MONO,
        file_id: str = "INDI-RECORDER",
        little_endian_flag: int = 0,
        big_endian: bool = False,
        start_utc: datetime | None = None,
        trailer: bool = True,
    ) -> None:
        self.path = Path(path)
        ticks = datetime_to_ticks(start_utc) if start_utc is not None else 0
        self.header = SerHeader(
            file_id,
            0,
            color_id,
            little_endian_flag,
            width,
            height,
            pixel_depth,
            0,
            "ekos-occult",
            "synthetic",
            "",
            ticks,
            ticks,
        )
        sample = "u1" if pixel_depth <= 8 else ("<u2" if not big_endian else ">u2")
        self._dtype = np.dtype(sample)
        self._trailer = trailer
        self._stamps: list[int] = []
        self._count = 0
        self._fh: BinaryIO | None = None

    def __enter__(self) -> SerWriter:
        self._fh = open(self.path, "wb")
        self._fh.write(self.header.pack())
        return self

    def write(self, frames: npt.NDArray[np.generic], stamps: npt.ArrayLike | None = None) -> None:
        """Append one frame (or a stack of frames) with optional per-frame UTC ticks."""
        assert self._fh is not None, "use SerWriter as a context manager"
        arr = np.asarray(frames)
        if arr.ndim == len(self.header.frame_shape):
            arr = arr[None]
        if arr.shape[1:] != self.header.frame_shape:
            raise ValueError(f"frame shape {arr.shape[1:]} != {self.header.frame_shape}")
        self._fh.write(np.ascontiguousarray(arr, dtype=self._dtype).tobytes())
        self._count += arr.shape[0]
        if stamps is not None:
            self._stamps.extend(int(s) for s in np.atleast_1d(np.asarray(stamps, np.int64)))

    def abandon(self) -> None:
        """Stop as a crash would: frames on disk, FrameCount 0, no trailer."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._fh is None:
            return
        if self._trailer:
            if len(self._stamps) != self._count:
                raise ValueError(f"{self._count} frames but {len(self._stamps)} timestamps")
            self._fh.write(np.asarray(self._stamps, "<i8").tobytes())
        self._fh.seek(0)
        self._fh.write(replace(self.header, frame_count=self._count).pack())
        self._fh.close()
        self._fh = None
