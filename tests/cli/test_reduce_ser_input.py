"""Any SER file through ``ekos-occult reduce`` in-process: exit 0 or 2, never a traceback,
bounded memory, every error naming the file (and the header field when one is at fault).

Files are small valid recordings (sometimes with a star and an occultation) that are then
mutated: header bytes overwritten, the file cut anywhere, bytes appended.
"""

from __future__ import annotations

import json
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ekos_occult.cli import main
from ekos_occult.video.ser import HEADER_SIZE, SerWriter, datetime_to_ticks

FAST = ["--trials", "200", "--false-trials", "500"]
PEAK_LIMIT_MIB = 64  # traced Python + numpy allocations of one reduce of a small file
FIELDS = {  # header offsets of the int32 fields, for targeted mutations
    "LuID": 14,
    "ColorID": 18,
    "LittleEndian": 22,
    "ImageWidth": 26,
    "ImageHeight": 30,
    "PixelDepthPerPlane": 34,
    "FrameCount": 38,
}
INT32 = st.one_of(
    st.integers(-(2**31), 2**31 - 1),
    st.sampled_from([0, 1, -1, 2, 7, 8, 16, 17, 100, 101, 65536, 65537, 2**31 - 1]),
)
INT64 = st.one_of(st.integers(-(2**63), 2**63 - 1), st.sampled_from([0, 1, 63_000_000_000_000_000]))


@st.composite
def ser_file(draw: st.DrawFn, path: Path) -> bytes:
    from datetime import datetime, timedelta, timezone

    w, h = draw(st.integers(1, 24)), draw(st.integers(1, 20))
    depth = draw(st.sampled_from([8, 12, 16]))
    color = draw(st.sampled_from([0, 8, 100, 101]))
    n = draw(st.integers(0, 60))
    star = draw(st.integers(0, 3)) > 0
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    top = (1 << depth) - 1
    frames = rng.normal(top * 0.05, top * 0.01, size=(n, h, w)).clip(0, top)
    if star and n:
        yy, xx = np.mgrid[0:h, 0:w]
        psf = np.exp(-(((xx - w / 2) ** 2 + (yy - h / 2) ** 2) / 4.0))
        light = np.where((np.arange(n) > n // 3) & (np.arange(n) < n // 2), 0.05, 1.0)
        frames += top * 0.5 * light[:, None, None] * psf
    frames = frames.clip(0, top)
    t0 = datetime(2024, 5, 6, 1, 2, 3, tzinfo=timezone.utc)
    stamps = [datetime_to_ticks(t0 + timedelta(seconds=0.04 * k)) for k in range(n)]
    for k in draw(st.lists(st.integers(0, max(n - 1, 0)), max_size=3)) if n else []:
        stamps[k] = draw(INT64)
    with SerWriter(
        path, w, h, pixel_depth=depth, color_id=color if color >= 100 else 0, start_utc=t0
    ) as wr:
        for k in range(n):
            img = frames[k]
            if color >= 100:
                img = np.repeat(img[:, :, None], 3, axis=2)
            wr.write(img, stamps[k])
    raw = bytearray(path.read_bytes())
    if color == 8:
        struct.pack_into("<i", raw, FIELDS["ColorID"], 8)  # Bayer: read as a mono mosaic
    how = draw(st.sets(st.sampled_from(["field", "start", "bytes", "cut", "append"]), max_size=2))
    for name in draw(st.lists(st.sampled_from(sorted(FIELDS)), min_size=1, max_size=2)):
        if "field" in how:
            struct.pack_into("<i", raw, FIELDS[name], draw(INT32))
    if "start" in how:
        struct.pack_into("<q", raw, 170, draw(INT64))  # DateTime_UTC
    if "bytes" in how:  # stray bytes anywhere
        at = draw(st.integers(0, max(len(raw) - 1, 0)))
        raw[at : at + 4] = draw(st.binary(min_size=1, max_size=4))
    if "cut" in how:
        raw = raw[: draw(st.integers(0, len(raw)))]
    if "append" in how:
        raw += draw(st.binary(min_size=1, max_size=24))
    return bytes(raw)


@pytest.mark.timeout(300)
@settings(
    max_examples=120,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_ser_exits_0_or_2_in_bounded_memory_naming_the_file(
    data: st.DataObject, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "any.ser"
    path.write_bytes(data.draw(ser_file(path)))
    tracemalloc.start()
    try:
        rc = main(["reduce", str(path), "--json", *FAST])  # any other exception fails the test
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    out, err = capsys.readouterr()
    assert rc in (0, 2), err
    event(f"exit {rc}")
    assert "Traceback" not in err
    assert peak < PEAK_LIMIT_MIB * 2**20, peak
    if rc == 2:
        assert err.startswith("ekos-occult reduce: error: ") and str(path) in err, err
        event(err.split(str(path), 1)[1][:40])
    else:
        info = json.loads(out)
        assert info["file"] == str(path)
        for edge in ("D", "R"):  # a time, when given, is from a plausible year
            if info[edge] and info["date_known"]:
                assert 1990 <= int(info[edge][:4]) < 2100, info[edge]


def test_header_field_errors_name_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    path = tmp_path / "a.ser"
    with SerWriter(path, 4, 4) as wr:
        wr.write(np.zeros((3, 4, 4), np.uint16), [datetime_to_ticks_now(k) for k in range(3)])
    raw = bytearray(path.read_bytes())
    struct.pack_into("<i", raw, FIELDS["PixelDepthPerPlane"], 40)
    path.write_bytes(bytes(raw))
    assert main(["reduce", str(path), *FAST]) == 2
    assert f"{path}: header field PixelDepthPerPlane is 40" in capsys.readouterr().err
    assert len(raw) > HEADER_SIZE


def datetime_to_ticks_now(k: int) -> int:
    from datetime import datetime, timedelta, timezone

    return datetime_to_ticks(datetime(2024, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=k))


def _sparse_big_ser(path: Path, side: int, n: int = 10) -> None:
    """8-bit mono SER of ``n`` frames of side x side, sparse: two stars, an event at 4-6."""
    from datetime import datetime, timezone

    from ekos_occult.video.ser import SerHeader

    fb = side * side
    yy, xx = np.mgrid[0:15, 0:15]
    psf = np.exp(-((xx - 7) ** 2 + (yy - 7) ** 2) / (2 * 1.3**2))
    t0 = datetime_to_ticks(datetime(2024, 3, 14, 22, 15, 30, tzinfo=timezone.utc))
    with path.open("wb") as fh:
        fh.write(SerHeader("INDI-RECORDER", 0, 0, 0, side, side, 8, n).pack())
        for k in range(n):
            level = 0.1 if 4 <= k < 7 else 1.0
            for (x, y), peak in (
                ((side // 2, side // 2), 200 * level),
                ((side // 2 - 40, 20), 220),
            ):
                patch = (20 + peak * psf).astype(np.uint8)
                for r in range(15):
                    fh.seek(HEADER_SIZE + k * fb + (y - 7 + r) * side + x - 7)
                    fh.write(patch[r].tobytes())
        fh.seek(HEADER_SIZE + n * fb)
        fh.write((t0 + np.arange(n, dtype=np.int64) * 400_000).astype("<i8").tobytes())


@pytest.mark.timeout(120)
def test_a_huge_frame_is_searched_in_a_bounded_window(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "big.ser"
    side = 6000  # 36 MB a frame; the whole frame as float64 would be 288 MB per copy
    _sparse_big_ser(path, side)
    tracemalloc.start()
    try:
        rc = main(["reduce", str(path), "--json", *FAST])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    out, err = capsys.readouterr()
    assert rc == 0, err
    info = json.loads(out)
    from datetime import datetime, timedelta, timezone

    shift = timedelta(seconds=info["timestamps"]["correction_s"])  # stamp -> exposure start
    t0 = datetime(2024, 3, 14, 22, 15, 30, tzinfo=timezone.utc) - shift
    assert info["event"]
    for edge, frame in (("D", 4), ("R", 7)):  # stamps 0.04 s apart
        got = datetime.fromisoformat(info[edge]) - (t0 + timedelta(seconds=0.04 * frame))
        assert abs(got.total_seconds()) < 0.01, (edge, info[edge])
    assert f"frames of {side}x{side}: stars were searched in the 2048x2048 px" in err
    assert peak < 200 * 2**20, peak  # the 2048 x 2048 window and its temporaries


def test_search_window_stays_inside_the_frame() -> None:
    from ekos_occult.reduce.photometry import search_window

    assert search_window(640, 480) == (0, 0, 640, 480)
    assert search_window(10_000, 100) == (3976, 0, 6024, 100)
    assert search_window(10_000, 10_000, (50.0, 9_990.0)) == (0, 7952, 2048, 10_000)
