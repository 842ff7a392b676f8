"""SER reader/writer: what INDI and other writers really produce, and files cut short."""

from __future__ import annotations

import struct
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from ekos_occult.errors import ReductionError
from ekos_occult.video.ser import (
    COLOR_BGR,
    COLOR_RGB,
    HEADER_SIZE,
    SerHeader,
    SerWriter,
    datetime_to_ticks,
    luminance,
    open_ser,
    ticks_to_datetime,
)

T0 = datetime(2024, 1, 2, 3, 12, 16, 451775, tzinfo=timezone.utc)


def _stack(n: int, h: int = 6, w: int = 8, seed: int = 0, top: int = 4095) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, top, size=(n, h, w)).astype(np.uint16)


def _stamps(n: int, step_s: float = 0.04) -> list[int]:
    return [datetime_to_ticks(T0 + timedelta(seconds=i * step_s)) for i in range(n)]


def test_ticks_are_dotnet_ticks_since_year_one() -> None:
    unix = datetime(1970, 1, 1, tzinfo=timezone.utc)
    assert datetime_to_ticks(unix) == 621_355_968_000_000_000
    assert ticks_to_datetime(datetime_to_ticks(T0)) == T0
    assert datetime_to_ticks(T0 + timedelta(microseconds=1)) - datetime_to_ticks(T0) == 10


def test_indi_file_round_trip(tmp_path: Path) -> None:
    frames = _stack(7)
    path = tmp_path / "indi.ser"
    with SerWriter(path, 8, 6, pixel_depth=12, start_utc=T0) as wr:
        wr.write(frames[:3], _stamps(7)[:3])
        for k in range(3, 7):
            wr.write(frames[k], _stamps(7)[k])
    ser = open_ser(path)
    assert ser.header.file_id == "INDI-RECORDER"
    assert ser.header.little_endian_flag == 0 and ser.dtype == np.dtype("<u2")
    assert (ser.header.width, ser.header.height, ser.header.frame_count) == (8, 6, 7)
    assert ser.n_frames == 7 and ser.notes == ()
    np.testing.assert_array_equal(ser.read_frames(0, 7), frames.astype(np.float32))
    assert ser.timestamps is not None and list(ser.timestamps) == _stamps(7)
    assert ser.frame_time(6) == T0 + timedelta(seconds=0.24)
    assert ser.start_utc == T0
    assert path.stat().st_size == HEADER_SIZE + 7 * 8 * 6 * 2 + 7 * 8


@pytest.mark.parametrize("big_endian", [True, False])
def test_flag_one_byte_order_is_read_from_the_data(tmp_path: Path, big_endian: bool) -> None:
    # Smooth 16-bit images: the wrong byte order would make them noisy.
    yy, xx = np.mgrid[0:32, 0:40]
    img = (1000 + 30 * xx + 20 * yy + np.arange(3)[:, None, None]).astype(np.uint16)
    path = tmp_path / "lucam.ser"
    with SerWriter(
        path,
        40,
        32,
        file_id="LUCAM-RECORDER",
        little_endian_flag=1,
        big_endian=big_endian,
        trailer=False,
    ) as wr:
        wr.write(img)
    ser = open_ser(path)
    assert ser.dtype == np.dtype(">u2" if big_endian else "<u2")
    np.testing.assert_array_equal(ser.read_frames(0, 3), img.astype(np.float32))
    assert any("LittleEndian flag is 1" in n for n in ser.notes)


def test_flag_one_uses_pixel_depth_when_it_decides(tmp_path: Path) -> None:
    img = _stack(2, top=4095)  # noisy 12-bit data: only one byte order stays below 4096
    path = tmp_path / "be12.ser"
    with SerWriter(
        path, 8, 6, pixel_depth=12, little_endian_flag=1, big_endian=True, trailer=False
    ) as wr:
        wr.write(img)
    np.testing.assert_array_equal(open_ser(path).read_frames(0, 2), img.astype(np.float32))


def test_eight_bit_mono(tmp_path: Path) -> None:
    img = _stack(4, top=255).astype(np.uint8)
    path = tmp_path / "m8.ser"
    with SerWriter(path, 8, 6, pixel_depth=8) as wr:
        wr.write(img, _stamps(4))
    ser = open_ser(path)
    assert ser.dtype == np.dtype(np.uint8) and ser.header.frame_bytes == 48
    np.testing.assert_array_equal(ser.read_frames(1, 3), img[1:3].astype(np.float32))


@pytest.mark.parametrize("color_id", [COLOR_RGB, COLOR_BGR])
def test_colour_becomes_luminance(tmp_path: Path, color_id: int) -> None:
    rgb = np.zeros((2, 6, 8, 3), np.uint16)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 1000, 2000, 3000  # planes in file order
    path = tmp_path / "rgb.ser"
    with SerWriter(path, 8, 6, color_id=color_id) as wr:
        wr.write(rgb, _stamps(2))
    lum = open_ser(path).read_frames(0, 2)
    r, g, b = (1000, 2000, 3000) if color_id == COLOR_RGB else (3000, 2000, 1000)
    np.testing.assert_allclose(lum, 0.299 * r + 0.587 * g + 0.114 * b, rtol=1e-6)
    assert luminance(rgb, color_id).shape == (2, 6, 8)


def test_crash_truncated_file_recovers_frames_and_says_no_timestamps(tmp_path: Path) -> None:
    frames = _stack(5)
    path = tmp_path / "crash.ser"
    with SerWriter(path, 8, 6, start_utc=T0) as wr:
        wr.write(frames, _stamps(5))
        wr.abandon()
    with open(path, "ab") as fh:  # the crash hit in the middle of the next frame
        fh.write(b"\x01" * 30)
    ser = open_ser(path)
    assert ser.header.frame_count == 0
    assert ser.n_frames == 5 and ser.timestamps is None
    np.testing.assert_array_equal(ser.read_frames(0, 5), frames.astype(np.float32))
    text = " ".join(ser.notes)
    assert "FrameCount is 0" in text and "5 frames recovered" in text
    assert "30 bytes are an incomplete frame" in text and "no per-frame timestamps" in text


def test_count_zero_with_a_trailer_keeps_the_timestamps(tmp_path: Path) -> None:
    path = tmp_path / "zero.ser"
    with SerWriter(path, 8, 6) as wr:
        wr.write(_stack(4), _stamps(4))
    raw = bytearray(path.read_bytes())
    raw[38:42] = struct.pack("<i", 0)  # FrameCount
    path.write_bytes(bytes(raw))
    ser = open_ser(path)
    assert ser.n_frames == 4
    assert ser.timestamps is not None and list(ser.timestamps) == _stamps(4)


def test_header_promising_more_frames_than_the_file_holds(tmp_path: Path) -> None:
    path = tmp_path / "short.ser"
    with SerWriter(path, 8, 6, trailer=False) as wr:
        wr.write(_stack(6))
    raw = path.read_bytes()
    path.write_bytes(raw[: HEADER_SIZE + 4 * 96 + 10])
    ser = open_ser(path)
    assert ser.n_frames == 4 and "holds only 4 complete frames" in " ".join(ser.notes)


def test_trailer_of_zeros_is_missing_timestamps(tmp_path: Path) -> None:
    path = tmp_path / "zeros.ser"
    with SerWriter(path, 8, 6) as wr:
        wr.write(_stack(3), [0, 0, 0])
    ser = open_ser(path)
    assert ser.timestamps is None and "all zeros" in " ".join(ser.notes)


def test_chunks_are_memory_mapped_windows(tmp_path: Path) -> None:
    frames = _stack(50)
    path = tmp_path / "big.ser"
    with SerWriter(path, 8, 6) as wr:
        wr.write(frames, _stamps(50))
    ser = open_ser(path)
    seen = []
    for first, chunk in ser.iter_chunks(max_bytes=96 * 8):
        assert isinstance(chunk, np.memmap) and chunk.nbytes <= 96 * 8
        np.testing.assert_array_equal(chunk, frames[first : first + chunk.shape[0]])
        seen.append((first, chunk.shape[0]))
    assert seen[0] == (0, 8) and sum(k for _, k in seen) == 50 and len(seen) == 7


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "only 0 bytes"),
        (b"\xff\x00" * 100, "not a SER file"),
    ],
)
def test_not_a_ser_file(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.ser"
    path.write_bytes(content)
    with pytest.raises(ReductionError, match=message) as exc:
        open_ser(path)
    assert str(path) in str(exc.value)


def _header(**kw: int) -> bytes:
    fields = {"color_id": 0, "width": 8, "height": 6, "pixel_depth": 16, "frame_count": 1}
    fields.update(kw)
    return SerHeader(
        "LUCAM-RECORDER",
        0,
        fields["color_id"],
        0,
        fields["width"],
        fields["height"],
        fields["pixel_depth"],
        fields["frame_count"],
    ).pack()


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"width": 0}, "header field ImageWidth is 0; expected 1 to 65536"),
        ({"pixel_depth": 32}, "PixelDepthPerPlane is 32"),
        ({"color_id": 7}, "header field ColorID is 7; expected 0"),
        ({"frame_count": 3}, "no complete 8x6 frame"),
    ],
)
def test_bad_headers(tmp_path: Path, kw: dict[str, int], message: str) -> None:
    path = tmp_path / "h.ser"
    path.write_bytes(_header(**kw) + b"\0" * 20)
    with pytest.raises(ReductionError, match=message):
        open_ser(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ReductionError, match="cannot read"):
        open_ser(tmp_path / "nope.ser")


# --- header, size and trailer cross-checked; implausible stamps named, never used --------------


def _write(path: Path, n: int, stamps: list[int] | None = None, **kw: object) -> np.ndarray:
    frames = _stack(n)
    with SerWriter(path, 8, 6, start_utc=T0, trailer=stamps is not False, **kw) as wr:  # type: ignore[arg-type]
        wr.write(frames, _stamps(n) if stamps is None else stamps)
    return frames


def _set_count(path: Path, count: int) -> None:
    raw = bytearray(path.read_bytes())
    struct.pack_into("<i", raw, 38, count)  # FrameCount: 14 + 6 x 4 bytes in
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("wrong", [-1, +1, -5, +50])
def test_a_frame_count_that_disagrees_with_the_size_is_repaired_from_size_and_trailer(
    tmp_path: Path, wrong: int
) -> None:
    path = tmp_path / "a.ser"
    frames = _write(path, 20)
    _set_count(path, 20 + wrong)
    ser = open_ser(path)
    assert ser.n_frames == 20
    assert ser.timestamps is not None and list(ser.timestamps) == _stamps(20)  # not pixels
    np.testing.assert_array_equal(ser.read_frames(0, 20), frames.astype(np.float32))
    assert f"header field FrameCount is {20 + wrong}, but the file size" in " ".join(ser.notes)
    assert "exactly 20 frames of 8x6 plus the 8-byte-per-frame timestamp trailer" in " ".join(
        ser.notes
    )


def test_a_frame_count_no_size_explains_is_refused_naming_the_field(tmp_path: Path) -> None:
    path = tmp_path / "a.ser"
    _write(path, 20, stamps=[0] * 20)  # zero trailer: nothing to recognise it by
    _set_count(path, 19)
    with path.open("ab") as fh:
        fh.write(b"\1\2\3")
    with pytest.raises(ReductionError, match=rf"{path}: header field FrameCount is 19, but"):
        open_ser(path)


def test_stamps_outside_1990_2100_are_named_and_not_used(tmp_path: Path) -> None:
    path = tmp_path / "a.ser"
    stamps = _stamps(10)
    stamps[0] = datetime_to_ticks(datetime(203, 5, 1, tzinfo=timezone.utc))
    stamps[7] = datetime_to_ticks(datetime(2150, 1, 1, tzinfo=timezone.utc))
    _write(path, 10, stamps=stamps)
    ser = open_ser(path)
    assert ser.timestamps is not None
    assert list(ser.timestamps) == [0, *_stamps(10)[1:7], 0, *_stamps(10)[8:]]
    assert "trailer timestamps of 2 frames (first: frame 0" in " ".join(ser.notes)
    assert "outside 1990-2100; they are treated as missing" in " ".join(ser.notes)


def test_stamps_going_backwards_are_named_and_not_used(tmp_path: Path) -> None:
    path = tmp_path / "a.ser"
    stamps = _stamps(10)
    stamps[5] = stamps[2]  # a run that jumps back
    stamps[6] = stamps[3]
    _write(path, 10, stamps=stamps)
    ser = open_ser(path)
    assert ser.timestamps is not None
    assert list(ser.timestamps) == [*_stamps(10)[:5], 0, 0, *_stamps(10)[7:]]
    assert "go backwards at 2 frames (first: frame 5, 0.080000 s before" in " ".join(ser.notes)


def test_all_stamps_implausible_is_no_trailer(tmp_path: Path) -> None:
    path = tmp_path / "a.ser"
    _write(path, 4, stamps=[5, 6, 7, 8])
    ser = open_ser(path)
    assert ser.timestamps is None
    assert "no usable timestamp in the trailer" in " ".join(ser.notes)


def test_an_implausible_header_start_is_named_and_ignored(tmp_path: Path) -> None:
    path = tmp_path / "a.ser"
    _write(path, 4)
    raw = bytearray(path.read_bytes())
    struct.pack_into("<q", raw, 170, 12345)  # DateTime_UTC
    path.write_bytes(bytes(raw))
    ser = open_ser(path)
    assert ser.start_utc is None
    assert "header field DateTime_UTC (12345) is outside 1990-2100; ignored." in ser.notes


@pytest.mark.parametrize(
    ("offset", "value", "message"),
    [
        (26, 0x01000000, "header field ImageWidth is 16777216; expected 1 to 65536"),
        (30, -3, "header field ImageHeight is -3"),
        (34, 0, "header field PixelDepthPerPlane is 0"),
        (34, 17, "header field PixelDepthPerPlane is 17"),
        (18, 102, "header field ColorID is 102"),
        (22, 2, "header field LittleEndian is 2; expected 0 or 1"),
        (38, -1, "header field FrameCount is negative"),
    ],
)
def test_every_header_field_is_range_checked(
    tmp_path: Path, offset: int, value: int, message: str
) -> None:
    path = tmp_path / "a.ser"
    _write(path, 3)
    raw = bytearray(path.read_bytes())
    struct.pack_into("<i", raw, offset, value)
    path.write_bytes(bytes(raw))
    with pytest.raises(ReductionError, match=f"{path}: {message}"):
        open_ser(path)


def test_a_frame_too_big_to_read_is_refused_with_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "a.ser"
    path.write_bytes(SerHeader("INDI-RECORDER", 0, COLOR_RGB, 0, 60000, 60000, 16, 1).pack())
    with pytest.raises(
        ReductionError, match="60000x60000 colour frames of 20599 MiB; .* up to 512"
    ):
        open_ser(path)


def test_a_trailer_cut_short_keeps_the_frames_without_stamps(tmp_path: Path) -> None:
    path = tmp_path / "a.ser"
    _write(path, 10)
    path.write_bytes(path.read_bytes()[:-20])  # a copy that stopped inside the trailer
    ser = open_ser(path)
    assert ser.n_frames == 10 and ser.timestamps is None
    assert "the timestamp trailer is cut short" in " ".join(ser.notes)
