"""The INDI stream recorder against an in-process fake of the adapter's INDI methods.

``FakeIndi`` keeps INDI properties like KStars' client side does (set_* then send_property) and,
on the record command, behaves like INDI's stream recorder as observed on the CCD simulator:
RECORD_STREAM busy while recording, then idle with RECORD_OFF on, and a SER file in the record
directory whose name has ``_D_``/``_H_``/``_T_`` expanded (``docs/kstars-facts.md`` §9).
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from fakes import write_ser

from ekos_occult.errors import DeviceLost, EkosCommandFailed, EkosTimeout, RecordingError
from ekos_occult.kstars.states import PropertyState
from ekos_occult.night.ports import RecordingRequest, RecordingState
from ekos_occult.night.recorder import (
    INDI_PLACEHOLDER,
    IndiStreamRecorder,
    check_record_directory,
    padded_duration_s,
    record_file_name,
)

CAM = "CCD Simulator"
T0 = datetime(2026, 11, 21, 21, 21, 13, tzinfo=timezone.utc)


def indi_expand(text: str, when: datetime) -> str:
    """What INDI 1.9.9's recorder does to RECORD_FILE (observed: ``ev_D_n_H_m__T_`` →
    ``ev2026-11-21n21-21-13m_2026-11-21@21-21-13``)."""
    text = text.replace("_D_", f"{when:%Y-%m-%d}").replace("_H_", f"{when:%H-%M-%S}")
    return text.replace("_T_", f"{when:%Y-%m-%d@%H-%M-%S}")


class FakeIndi:
    """The INDI part of EkosClient for one camera, with the recorder's observed behaviour."""

    def __init__(self) -> None:
        self.connected = True
        self.known = True  # False: KStars no longer knows the device ("Invalid")
        self.numbers: dict[tuple[str, str], float] = {
            ("CCD_INFO", "CCD_MAX_X"): 1280,
            ("CCD_INFO", "CCD_MAX_Y"): 1024,
            ("CCD_INFO", "CCD_BITSPERPIXEL"): 16,
        }
        self.texts: dict[tuple[str, str], str] = {}
        self.switches: dict[tuple[str, str], bool] = {("RECORD_STREAM", "RECORD_OFF"): True}
        self.states: dict[str, PropertyState] = {"RECORD_STREAM": PropertyState.IDLE}
        self.sent: list[tuple[str, dict[str, object]]] = []
        self.refuse: set[str] = set()
        self.hang = False
        self.reset_on_stream = True

    async def _enter(self) -> None:
        if self.hang:
            await asyncio.Event().wait()

    async def is_device_connected(self, device: str) -> bool:
        await self._enter()
        if not self.known:
            raise EkosCommandFailed("INDI switch CONNECTION.CONNECT does not exist")
        return self.connected

    async def property_state(self, device: str, prop: str) -> PropertyState:
        await self._enter()
        if not self.known:
            return PropertyState.INVALID
        return self.states.get(prop, PropertyState.OK)

    async def get_number(self, device: str, prop: str, element: str) -> float:
        await self._enter()
        return self.numbers[(prop, element)]

    async def get_switch(self, device: str, prop: str, element: str) -> bool:
        return self.switches.get((prop, element), False)

    async def device_properties(self, device: str) -> list[str]:
        keys = [*self.numbers, *self.texts, *self.switches]
        return [f"{device}.{p}.{e}" for p, e in keys]

    async def set_number(self, device: str, prop: str, element: str, value: float) -> None:
        self.numbers[(prop, element)] = value

    async def set_text(self, device: str, prop: str, element: str, value: str) -> None:
        self.texts[(prop, element)] = value

    async def set_switch(self, device: str, prop: str, element: str, on: bool) -> None:
        for key in [k for k in self.switches if k[0] == prop]:
            self.switches[key] = False  # one-of-many switches
        self.switches[(prop, element)] = on

    async def send_property(self, device: str, prop: str) -> None:
        await self._enter()
        if prop in self.refuse or not self.connected:
            raise EkosCommandFailed(f"Cannot send INDI property {device} {prop}")
        values = {
            e: v
            for (p, e), v in {**self.numbers, **self.texts, **self.switches}.items()
            if p == prop
        }
        self.sent.append((prop, values))
        if prop == "RECORD_STREAM" and self.switches.get((prop, "RECORD_DURATION_ON")):
            self.states[prop] = PropertyState.BUSY
        if prop == "CCD_VIDEO_STREAM" and self.reset_on_stream:  # INDI 2.2.4 simulator
            for element, value in (("X", 0), ("Y", 0), ("WIDTH", 1280), ("HEIGHT", 1024)):
                self.numbers[("CCD_STREAM_FRAME", element)] = value

    def finish(self, when: datetime = T0, frames: int = 5) -> Path:
        """The recording ends: write the SER INDI would, RECORD_STREAM back to idle."""
        folder = Path(indi_expand(self.texts[("RECORD_FILE", "RECORD_FILE_DIR")], when))
        name = indi_expand(self.texts[("RECORD_FILE", "RECORD_FILE_NAME")], when)
        path = folder / f"{name}.ser"
        write_ser(path, [when + timedelta(seconds=0.1 * i) for i in range(frames)])
        self.states["RECORD_STREAM"] = PropertyState.IDLE
        self.switches[("RECORD_STREAM", "RECORD_DURATION_ON")] = False
        self.switches[("RECORD_STREAM", "RECORD_OFF")] = True
        return path


@pytest.fixture
def indi() -> FakeIndi:
    return FakeIndi()


@pytest.fixture
def recorder(indi: FakeIndi) -> IndiStreamRecorder:
    return IndiStreamRecorder(lambda: indi, CAM, timeout_s=0.5, disk_free=lambda p: 12345)


def request(
    tmp_path: Path,
    stem: str = "Vega_20261121T212113Z",
    roi: tuple[int, int, int, int] | None = None,
) -> RecordingRequest:
    return RecordingRequest(tmp_path / "recordings", stem, 0.1, 10.0, roi)


def test_file_name_survives_indi_expansion() -> None:
    stem = "A_D_B_H_C_T_x_20261121T212113Z"  # an event name full of INDI placeholders
    name = record_file_name(stem)
    assert INDI_PLACEHOLDER.search(name[: -len("__T_")]) is None
    assert indi_expand(name, T0) == "A-D-B-H-C-T-x-20261121T212113Z_2026-11-21@21-21-13"


@pytest.mark.parametrize("folder", ["/data/night_D_/x", "/n_T_", "/a/b_H_c", "relative/path"])
def test_record_directory_indi_would_rewrite_is_refused(folder: str) -> None:
    with pytest.raises(RecordingError, match="recordings folder"):
        check_record_directory(Path(folder))


def test_configure_sends_file_duration_exposure_and_full_frame(
    recorder: IndiStreamRecorder, indi: FakeIndi, tmp_path: Path
) -> None:
    req = request(tmp_path)
    asyncio.run(recorder.configure(req))
    assert "CCD_STREAM_FRAME" not in dict(indi.sent)  # only once the stream runs
    asyncio.run(recorder.start_stream())

    sent = dict(indi.sent)
    assert sent["RECORD_FILE"] == {
        "RECORD_FILE_DIR": str(req.directory),
        "RECORD_FILE_NAME": "Vega-20261121T212113Z__T_",
    }
    assert sent["RECORD_OPTIONS"]["RECORD_DURATION"] == pytest.approx(10.1)
    assert padded_duration_s(req) == pytest.approx(10.1)
    assert sent["STREAMING_EXPOSURE"]["STREAMING_EXPOSURE_VALUE"] == 0.1
    assert sent["CCD_STREAM_FRAME"] == {"X": 0, "Y": 0, "WIDTH": 1280, "HEIGHT": 1024}
    assert req.directory.is_dir()


def test_the_roi_is_set_after_stream_on_and_read_back(
    recorder: IndiStreamRecorder, indi: FakeIndi, tmp_path: Path
) -> None:
    async def go() -> None:
        await recorder.configure(request(tmp_path, roi=(100, 50, 320, 240)))
        await recorder.start_stream()

    asyncio.run(go())
    sent = [p for p, _ in indi.sent]
    assert sent.index("CCD_VIDEO_STREAM") < sent.index("CCD_STREAM_FRAME")
    assert dict(indi.sent)["CCD_STREAM_FRAME"] == {"X": 100, "Y": 50, "WIDTH": 320, "HEIGHT": 240}
    assert recorder.roi_readback == (100, 50, 320, 240)


def test_the_recorder_is_pinned_to_ser_every_frame_and_a_big_buffer(
    recorder: IndiStreamRecorder, indi: FakeIndi, tmp_path: Path
) -> None:
    indi.numbers[("STREAMING_EXPOSURE", "STREAMING_DIVISOR_VALUE")] = 3
    indi.numbers[("LIMITS", "LIMITS_BUFFER_MAX")] = 8
    indi.switches[("CCD_STREAM_RECORDER", "OGV")] = True
    indi.switches[("CCD_STREAM_RECORDER", "SER")] = False
    asyncio.run(recorder.configure(request(tmp_path)))
    sent = dict(indi.sent)
    assert sent["CCD_STREAM_RECORDER"] == {"OGV": False, "SER": True}
    assert sent["STREAMING_EXPOSURE"]["STREAMING_DIVISOR_VALUE"] == 1
    # 101 full frames of 1280x1024x2 bytes, with a quarter to spare: 316 MB.
    assert sent["LIMITS"]["LIMITS_BUFFER_MAX"] == 316


def test_a_recording_from_command_to_file(
    recorder: IndiStreamRecorder, indi: FakeIndi, tmp_path: Path
) -> None:
    req = request(tmp_path)

    async def night() -> tuple[list[RecordingState], Path | None]:
        await recorder.configure(req)
        states = [await recorder.recording_state()]
        await recorder.start_stream()
        await recorder.start_recording()
        states.append(await recorder.recording_state())
        written = indi.finish()
        states.append(await recorder.recording_state())
        await recorder.stop_stream()
        assert (await recorder.find_recording(req, T0)) == written
        return states, await recorder.find_recording(req, T0)

    states, found = asyncio.run(night())
    assert states == [RecordingState.IDLE, RecordingState.BUSY, RecordingState.FINISHED]
    assert found is not None and found.name == "Vega-20261121T212113Z_2026-11-21@21-21-13.ser"
    assert [p for p, _ in indi.sent][-4:] == [
        "CCD_VIDEO_STREAM",
        "CCD_STREAM_FRAME",
        "RECORD_STREAM",
        "CCD_VIDEO_STREAM",
    ]
    assert indi.switches[("CCD_VIDEO_STREAM", "STREAM_OFF")] is True


def test_find_recording_ignores_old_files_and_other_events(tmp_path: Path) -> None:
    req = request(tmp_path)
    req.directory.mkdir(parents=True)
    write_ser(req.directory / "Vega-20261121T212113Z_2026-11-21@21-00-00.ser", [T0])
    write_ser(req.directory / "Vega-2-20261121T212113Z_2026-11-21@21-21-13.ser", [T0])
    rec = IndiStreamRecorder(lambda: FakeIndi(), CAM)
    later = datetime.now(timezone.utc) + timedelta(minutes=1)
    assert asyncio.run(rec.find_recording(req, later)) is None
    found = asyncio.run(rec.find_recording(req, datetime.now(timezone.utc)))
    assert found is not None and found.name.startswith("Vega-20261121T212113Z_")


def test_frame_geometry_from_ccd_info_and_roi(recorder: IndiStreamRecorder) -> None:
    full = asyncio.run(recorder.frame_geometry(None))
    sub = asyncio.run(recorder.frame_geometry((0, 0, 320, 240)))
    assert (full.width, full.height, full.bytes_per_pixel) == (1280, 1024, 2)
    assert (sub.frame_bytes, asyncio.run(recorder.free_bytes(Path("/")))) == (320 * 240 * 2, 12345)


def test_camera_gone_is_device_lost(
    recorder: IndiStreamRecorder, indi: FakeIndi, tmp_path: Path
) -> None:
    indi.connected = False
    with pytest.raises(DeviceLost, match="not connected"):
        asyncio.run(recorder.configure(request(tmp_path)))
    with pytest.raises(DeviceLost):
        asyncio.run(recorder.start_recording())
    assert asyncio.run(recorder.recording_state()) is RecordingState.NO_DEVICE
    indi.connected, indi.known = True, False
    assert asyncio.run(recorder.recording_state()) is RecordingState.NO_DEVICE


def test_driver_alert_and_refusal(
    recorder: IndiStreamRecorder, indi: FakeIndi, tmp_path: Path
) -> None:
    indi.refuse.add("RECORD_OPTIONS")
    with pytest.raises(RecordingError, match="refused RECORD_OPTIONS"):
        asyncio.run(recorder.configure(request(tmp_path)))
    indi.states["RECORD_STREAM"] = PropertyState.ALERT
    assert asyncio.run(recorder.recording_state()) is RecordingState.ALERT


def test_a_call_that_hangs_times_out(
    recorder: IndiStreamRecorder, indi: FakeIndi, tmp_path: Path
) -> None:
    indi.hang = True
    for call in (
        recorder.configure(request(tmp_path)),
        recorder.recording_state(),
        recorder.start_recording(),
    ):
        with pytest.raises(EkosTimeout, match="within 0.5 s"):
            asyncio.run(call)


def test_stem_pattern_has_no_placeholder_for_any_event_name() -> None:
    for raw in ("(41) Daphne_T_", "x_D_", "_H_", "a__T__", "UCAC4 419-034507"):
        stem = re.sub(r"\s", "_", raw) + "_20261121T212113Z"
        assert INDI_PLACEHOLDER.search(record_file_name(stem)[:-4]) is None


# --- what stamps the frames (issue 14) ---


class QhyIndi(FakeIndi):
    """A QHY GPS camera: GPS_CONTROL switch and GPS_STATE lights; unknown switches refused."""

    def __init__(self, enabled: bool, locked: bool, gps: bool = True) -> None:
        super().__init__()
        self.gps = gps
        if gps:
            self.switches[("GPS_CONTROL", "INDI_ENABLED")] = enabled
            self.switches[("GPS_CONTROL", "INDI_DISABLED")] = not enabled
        self.lights = {
            "GPS_ON": PropertyState.OK,
            "GPS_SEARCHING": PropertyState.IDLE,
            "GPS_LOCKING": PropertyState.IDLE,
            "GPS_LOCKED": PropertyState.OK if locked else PropertyState.IDLE,
        }

    async def get_switch(self, device: str, prop: str, element: str) -> bool:
        if (prop, element) not in self.switches:
            raise EkosCommandFailed(f"INDI switch {device} {prop}.{element} does not exist.")
        return self.switches[(prop, element)]

    async def get_light(self, device: str, prop: str, element: str) -> PropertyState:
        return self.lights[element]


@pytest.mark.parametrize(
    ("fake", "source", "control", "locked"),
    [
        (QhyIndi(enabled=True, locked=True), "GPS exposure start", "enabled", "ok"),
        (QhyIndi(enabled=True, locked=False), "GPS exposure start", "enabled", "idle"),
        (QhyIndi(enabled=False, locked=True), "host write time", "disabled", "ok"),
        (QhyIndi(enabled=False, locked=False, gps=False), "host write time", None, None),
    ],
)
def test_stamp_provenance_reads_the_qhy_gps_state(
    fake: QhyIndi, source: str, control: str | None, locked: str | None
) -> None:
    rec = IndiStreamRecorder(lambda: fake, CAM)
    got = asyncio.run(rec.stamp_provenance())
    assert got["source"] == source and got["camera"] == CAM
    if control is None:
        assert got["gps"] is None
        return
    gps = got["gps"]
    assert isinstance(gps, dict) and gps["control"] == control
    assert gps["state"]["GPS_LOCKED"] == locked and gps["state"]["GPS_ON"] == "ok"
    if control == "enabled" and locked != "ok":
        assert "does not show Locked" in str(got["detail"])
