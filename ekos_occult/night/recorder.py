"""RecorderPort on the camera's INDI video stream, driven through KStars' INDI D-Bus interface.

The only code that names recording files. One recording is: stream exposure
(``STREAMING_EXPOSURE``), directory and file name (``RECORD_FILE``), duration
(``RECORD_OPTIONS``), the recorder pinned (``CCD_STREAM_RECORDER`` = SER, not a saved OGV;
``STREAMING_DIVISOR_VALUE`` 1, which otherwise drops every Nth frame; ``LIMITS_BUFFER_MAX``
large enough to hold the event, a full buffer skips frames), the stream switched on early
(``CCD_VIDEO_STREAM``, pre-roll), the subframe (``CCD_STREAM_FRAME``) set *after* the stream
started (INDI resets it to full frame on any frame change and, from INDI 2.2.4, at the CCD
Simulator's stream start) and read back, and the record command (``RECORD_STREAM`` /
``RECORD_DURATION_ON``). No D-Bus signal reports recording progress: :meth:`recording_state`
polls ``RECORD_STREAM``'s state light. INDI writes the SER itself, on the machine that runs the
INDI driver; :meth:`find_recording` then looks for it in the directory, from the file system
alone (it works after KStars has gone). While the stream runs, a
:class:`~ekos_occult.kstars.indiwatch.RecordWatch` listens to the INDI server itself (the file
INDI opened, the frames it recorded, frames it skipped, its errors): :meth:`indi_report`.
When INDI runs on another host (Ekos remote mode), :attr:`files_host` names it: the file is
written there. With that host's recordings folder mounted here (``[indi] remote_record_dir``,
and ``record_dir_on_host`` as the host names it), INDI is told to record into it and
:meth:`find_in_mount` finds the file through the mount; without a mount only INDI's report can
be had here, and the free space there cannot be read (:meth:`free_bytes` says so).

File names: INDI expands ``_D_`` (date), ``_H_`` (time) and ``_T_`` (date@time) anywhere in the
record directory and file name, eating the underscores around the letter. The event's stem
therefore has its underscores turned into hyphens, and ``__T_`` is appended so that INDI adds
the time the recording really started: ``Vega-20261121T212113Z_2026-11-21@21-21-13.ser``. A
directory containing such a pattern is refused (INDI would write somewhere else).
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import TypeVar

from ekos_occult.errors import DeviceLost, EkosCommandFailed, EkosTimeout, RecordingError
from ekos_occult.kstars.client import EkosClient
from ekos_occult.kstars.indiwatch import RecordReport, RecordWatch
from ekos_occult.kstars.indiwire import IndiServer
from ekos_occult.kstars.states import PropertyState
from ekos_occult.night.ports import RecordingRequest, RecordingState
from ekos_occult.video.diskspace import FrameGeometry
from ekos_occult.video.diskspace import free_bytes as disk_free_bytes

__all__ = [
    "INDI_PLACEHOLDER",
    "IndiStreamRecorder",
    "record_file_name",
    "recording_glob",
    "check_record_directory",
    "padded_duration_s",
]

INDI_PLACEHOLDER = re.compile(r"_[A-Z]_")
"""What INDI's stream recorder may replace in a record directory or file name (``_D_`` …)."""
_FILE_TIME_SUFFIX = "__T_"
_RECORD_PROPERTIES = (
    "RECORD_FILE",
    "RECORD_OPTIONS",
    "RECORD_STREAM",
    "STREAMING_EXPOSURE",
    "CCD_VIDEO_STREAM",
)
_ROI_ATTEMPTS = 3
_ROI_SETTLE_S = 0.1
_FIND_SLACK_S = 5.0  # a file written this long before the record command still counts
_REPORT_WAIT_S = 5.0  # INDI's closing message follows the recording's switch going idle
T = TypeVar("T")


def record_file_name(stem: str) -> str:
    """The RECORD_FILE_NAME sent to INDI for a recording stem (see the module docstring)."""
    return stem.replace("_", "-") + _FILE_TIME_SUFFIX


def recording_glob(stem: str) -> str:
    """Glob pattern matching the files INDI writes for ``stem``."""
    return f"{glob_escape(stem.replace('_', '-'))}_*.ser"


def glob_escape(text: str) -> str:
    """Escape glob metacharacters (``*?[``) in a literal."""
    return re.sub(r"([*?\[])", r"[\1]", text)


def check_record_directory(directory: Path) -> None:
    """Refuse a record directory INDI would rewrite.

    Raises:
        RecordingError: the path is relative or contains an INDI placeholder (``_D_`` …).
    """
    if not directory.is_absolute():
        raise RecordingError(f"The recordings folder {directory} must be an absolute path.")
    match = INDI_PLACEHOLDER.search(str(directory))
    if match:
        raise RecordingError(
            f"The recordings folder {directory} contains {match.group(0)!r}, which INDI's "
            "recorder replaces (by the date or time): choose a folder without it (--out)."
        )


def padded_duration_s(request: RecordingRequest) -> float:
    """Duration asked of INDI: the planned one plus one frame, so the last frame reaches the
    planned end even though the first arrives a little after the command."""
    return request.duration_s + request.exposure_s


class IndiStreamRecorder:
    """:class:`~ekos_occult.night.ports.RecorderPort` for an INDI camera, through KStars.

    Args:
        client: returns the current adapter (it changes when the Ekos side re-attaches).
        camera: the camera's INDI device name.
        timeout_s: the longest any one method may take.
        timestamp_source: what the SER per-frame timestamps come from (journaled).
        disk_free: free bytes of a directory (default: the file system's answer).
        indi_server: Ekos' INDI server; on another host the files are written there.
        mount: the INDI host's recordings folder as mounted here (remote mode only).
        dir_on_host: that folder as the INDI host names it (default: the mount's path).
        watch: makes the INDI listener for a server and camera (tests pass their own).
    """

    def __init__(
        self,
        client: Callable[[], EkosClient],
        camera: str,
        *,
        timeout_s: float = 10.0,
        timestamp_source: str = "host clock",
        disk_free: Callable[[Path], int] = disk_free_bytes,
        indi_server: IndiServer | None = None,
        mount: Path | None = None,
        dir_on_host: str = "",
        watch: Callable[[IndiServer, str], RecordWatch] | None = None,
    ) -> None:
        self._client, self.camera, self.timeout_s = client, camera, timeout_s
        self._server = indi_server
        remote = indi_server is not None and not indi_server.is_local
        self._mount = mount if remote else None
        self._dir_on_host = Path(dir_on_host or str(mount)) if self._mount is not None else None
        self._make_watch = watch or (
            lambda server, cam: RecordWatch(server.host, server.port, cam, timeout_s=timeout_s)
        )
        self._watch: RecordWatch | None = None
        self._watch_note = ""
        self.roi_readback: tuple[int, int, int, int] | None = None
        self._timestamp_source = timestamp_source
        self._disk_free = disk_free
        self._started = False
        self._seen_busy = False
        self._stream_on = False
        self._request: RecordingRequest | None = None

    @property
    def timestamp_source(self) -> str:
        return self._timestamp_source

    @property
    def files_host(self) -> str | None:
        """The host INDI writes the recordings on; None when it is this machine."""
        server = self._server
        return None if server is None or server.is_local else server.host

    @property
    def mount(self) -> Path | None:
        """The INDI host's recordings folder mounted here (remote mode with a mount), or None."""
        return self._mount

    def indi_directory(self, request: RecordingRequest) -> Path:
        """The folder INDI is told to record into: the mounted folder as the INDI host names it
        (remote mode with a mount), else the request's."""
        return self._dir_on_host if self._dir_on_host is not None else request.directory

    async def stamp_provenance(self) -> dict[str, object]:
        """What will stamp the frames, read from the camera now.

        A QHY GPS camera with ``GPS_CONTROL`` enabled (INDI >= 2.0.1) passes the GPS exposure
        start; its ``GPS_STATE`` lights (Powered, Searching, Locking, Locked) are recorded. Any
        other camera: the host clock when INDI writes the frame (``host write time``).
        """
        return await self._bounded("stamp_provenance", self._provenance())

    async def _provenance(self) -> dict[str, object]:
        c, cam = self._client(), self.camera
        out: dict[str, object] = {"source": "host write time", "camera": cam, "gps": None}
        try:
            enabled = await c.get_switch(cam, "GPS_CONTROL", "INDI_ENABLED")
        except EkosCommandFailed:
            return out  # no GPS header property: not a QHY GPS camera
        lights: dict[str, str] = {}
        get_light = getattr(c, "get_light", None)
        if get_light is not None:
            for name in ("GPS_ON", "GPS_SEARCHING", "GPS_LOCKING", "GPS_LOCKED"):
                try:
                    lights[name] = (await get_light(cam, "GPS_STATE", name)).value
                except EkosCommandFailed:
                    lights[name] = "unknown"
        locked = lights.get("GPS_LOCKED") == PropertyState.OK.value
        out["gps"] = {"control": "enabled" if enabled else "disabled", "state": lights}
        if enabled:
            out["source"] = "GPS exposure start"
            if not locked:
                out["detail"] = "GPS_CONTROL is on but GPS_STATE does not show Locked"
        else:
            out["detail"] = "a GPS camera with GPS_CONTROL off: frames carry host write times"
        return out

    async def _bounded(self, what: str, coro: Awaitable[T]) -> T:
        try:
            return await asyncio.wait_for(coro, self.timeout_s)
        except asyncio.TimeoutError as exc:
            raise EkosTimeout(
                f"The camera {self.camera} did not answer {what} within {self.timeout_s:g} s."
            ) from exc

    async def _require_camera(self, what: str) -> EkosClient:
        client = self._client()
        try:
            connected = await client.is_device_connected(self.camera)
        except EkosCommandFailed:
            connected = False  # KStars does not know the device (any more)
        if not connected:
            raise DeviceLost(f"The camera {self.camera} is not connected ({what}).")
        return client

    async def _send(
        self, client: EkosClient, prop: str, setters: list[Callable[[], Awaitable[None]]]
    ) -> None:
        try:
            for set_value in setters:
                await set_value()
            await client.send_property(self.camera, prop)
        except EkosCommandFailed as exc:
            await self._require_camera(f"setting {prop}")
            raise RecordingError(f"The camera {self.camera} refused {prop}: {exc}") from exc

    async def frame_geometry(self, roi: tuple[int, int, int, int] | None) -> FrameGeometry:
        """Size of one frame: the ROI, or the sensor; bytes per pixel from its bit depth."""
        return await self._bounded("frame_geometry", self._geometry(roi))

    async def _geometry(self, roi: tuple[int, int, int, int] | None) -> FrameGeometry:
        client = await self._require_camera("frame geometry")
        bits = await client.get_number(self.camera, "CCD_INFO", "CCD_BITSPERPIXEL")
        if roi is not None:
            width, height = roi[2], roi[3]
        else:
            width = int(await client.get_number(self.camera, "CCD_INFO", "CCD_MAX_X"))
            height = int(await client.get_number(self.camera, "CCD_INFO", "CCD_MAX_Y"))
        return FrameGeometry(width, height, max(1, math.ceil(bits / 8)))

    async def free_bytes(self, directory: Path) -> int:
        """Free bytes where the recordings go: this machine's folder, or the INDI host's
        folder through its mount.

        Raises:
            RecordingError: INDI writes on another host and no mount of its folder is set: the
                space there cannot be read from here.
        """
        host = self.files_host
        if host is not None:
            if self._mount is None:
                raise RecordingError(
                    f"the recordings are written on the INDI host {host}: its free disk space "
                    "cannot be checked from here (mount its recordings folder and set [indi] "
                    "remote_record_dir to check it)"
                )
            if not self._mount.is_dir():
                raise RecordingError(
                    f"the INDI host {host}'s recordings folder is not mounted at {self._mount}: "
                    "its free disk space cannot be checked"
                )
            directory = self._mount
        return await self._bounded("free_bytes", asyncio.to_thread(self._disk_free, directory))

    async def configure(self, request: RecordingRequest) -> None:
        """Directory, file name, duration, stream exposure, pinned recorder; forget the last one.

        Raises:
            RecordingError: a bad directory, or the camera refused a setting.
            DeviceLost: the camera is not connected.
        """
        check_record_directory(self.indi_directory(request))
        if self.files_host is None:  # on another host INDI creates the folder itself
            try:
                request.directory.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise RecordingError(
                    f"Cannot create the recordings folder {request.directory}: {exc.strerror}."
                ) from exc
        await self.close_watch()
        await self._bounded("configure", self._configure(request))
        self._request, self._started, self._seen_busy = request, False, False

    async def _configure(self, r: RecordingRequest) -> None:
        c, cam = await self._require_camera("configure"), self.camera
        await self._send(
            c,
            "RECORD_FILE",
            [
                lambda: c.set_text(
                    cam, "RECORD_FILE", "RECORD_FILE_DIR", str(self.indi_directory(r))
                ),
                lambda: c.set_text(
                    cam, "RECORD_FILE", "RECORD_FILE_NAME", record_file_name(r.stem)
                ),
            ],
        )
        await self._send(
            c,
            "RECORD_OPTIONS",
            [lambda: c.set_number(cam, "RECORD_OPTIONS", "RECORD_DURATION", padded_duration_s(r))],
        )
        await self._send(
            c,
            "STREAMING_EXPOSURE",
            [
                lambda: c.set_number(
                    cam, "STREAMING_EXPOSURE", "STREAMING_EXPOSURE_VALUE", r.exposure_s
                )
            ],
        )
        await self._pin_recorder(c, r)

    async def _pin_recorder(self, c: EkosClient, r: RecordingRequest) -> None:
        """SER, every frame, a buffer for the whole event: whatever the driver had saved."""
        cam, have = self.camera, set(await c.device_properties(self.camera))

        def has(prop: str, element: str) -> bool:
            return f"{cam}.{prop}.{element}" in have

        if has("CCD_STREAM_RECORDER", "SER"):
            await self._send(
                c,
                "CCD_STREAM_RECORDER",
                [lambda: c.set_switch(cam, "CCD_STREAM_RECORDER", "SER", True)],
            )
        if has("STREAMING_EXPOSURE", "STREAMING_DIVISOR_VALUE"):
            await self._send(
                c,
                "STREAMING_EXPOSURE",
                [lambda: c.set_number(cam, "STREAMING_EXPOSURE", "STREAMING_DIVISOR_VALUE", 1)],
            )
        if has("LIMITS", "LIMITS_BUFFER_MAX"):
            now_mb = await c.get_number(cam, "LIMITS", "LIMITS_BUFFER_MAX")
            geometry = await self._geometry(r.roi)
            frames = math.ceil(padded_duration_s(r) / r.exposure_s)
            need_mb = max(64, math.ceil(geometry.frame_bytes * frames * 1.25 / 2**20))
            if now_mb < need_mb:
                await self._send(
                    c, "LIMITS", [lambda: c.set_number(cam, "LIMITS", "LIMITS_BUFFER_MAX", need_mb)]
                )

    async def _set_roi(self, c: EkosClient, roi: tuple[int, int, int, int]) -> None:
        cam, (x, y, w, h) = self.camera, roi
        await self._send(
            c,
            "CCD_STREAM_FRAME",
            [
                lambda: c.set_number(cam, "CCD_STREAM_FRAME", "X", x),
                lambda: c.set_number(cam, "CCD_STREAM_FRAME", "Y", y),
                lambda: c.set_number(cam, "CCD_STREAM_FRAME", "WIDTH", w),
                lambda: c.set_number(cam, "CCD_STREAM_FRAME", "HEIGHT", h),
            ],
        )

    async def _read_roi(self, c: EkosClient) -> tuple[int, int, int, int]:
        values = [
            int(round(await c.get_number(self.camera, "CCD_STREAM_FRAME", e)))
            for e in ("X", "Y", "WIDTH", "HEIGHT")
        ]
        return values[0], values[1], values[2], values[3]

    async def _full_frame(self, c: EkosClient) -> tuple[int, int, int, int]:
        width = int(await c.get_number(self.camera, "CCD_INFO", "CCD_MAX_X"))
        height = int(await c.get_number(self.camera, "CCD_INFO", "CCD_MAX_Y"))
        return 0, 0, width, height

    async def start_stream(self) -> None:
        """Switch the stream on (pre-roll), then set the subframe and read it back.

        INDI resets ``CCD_STREAM_FRAME`` to full frame when the stream starts (2.2.4 CCD
        Simulator) or the frame changes, so the ROI goes in after ``STREAM_ON``; it is sent
        again once when the read-back differs. What INDI holds is kept in
        :attr:`roi_readback` (the SER header is checked against the ROI afterwards).
        """
        await self._listen()
        await self._bounded("start_stream", self._start_stream())
        self._stream_on = True

    async def _listen(self) -> None:
        """Start listening to the INDI server (before the stream, so that nothing INDI says
        about the recording is missed); a server that cannot be reached is noted, not fatal."""
        await self.close_watch()
        server, self._watch_note = self._server, ""
        if server is None:
            self._watch_note = "Ekos' INDI server was not found: INDI's own report was not read"
            return
        watch = self._make_watch(server, self.camera)
        try:
            await watch.start()
        except (EkosCommandFailed, OSError) as exc:
            self._watch_note = f"INDI's own report was not read: {exc}"
            return
        self._watch = watch

    async def indi_report(self) -> RecordReport | None:
        """What INDI itself said about the last recording (waits a moment for its closing
        message), then stop listening; None when nobody was listening (:attr:`watch_note`)."""
        watch = self._watch
        if watch is None:
            return None
        try:
            return await watch.wait_finished(min(self.timeout_s, _REPORT_WAIT_S))
        finally:
            await self.close_watch()

    @property
    def watch_note(self) -> str:
        """Why INDI's own report is missing ("" when it was read)."""
        return self._watch_note

    async def close_watch(self) -> None:
        """Stop listening to the INDI server (twice is harmless)."""
        watch, self._watch = self._watch, None
        if watch is not None:
            await watch.close()

    async def _start_stream(self) -> None:
        await self._switch("CCD_VIDEO_STREAM", "STREAM_ON")
        r = self._request
        c = await self._require_camera("stream frame")
        roi = r.roi if r is not None and r.roi is not None else await self._full_frame(c)
        for attempt in range(_ROI_ATTEMPTS):
            if attempt:
                # Device settle time, not schedule time: the driver's reset and KStars' copy of
                # the property arrive over separate connections, a moment apart.
                await asyncio.sleep(_ROI_SETTLE_S)
            await self._set_roi(c, roi)
            try:
                self.roi_readback = await self._read_roi(c)
            except EkosCommandFailed:
                self.roi_readback = None  # KStars does not show the values: the SER tells
                break
            if self.roi_readback == roi:
                break

    async def start_recording(self) -> None:
        """Send the record command (records for the configured duration); returns at once."""
        await self._bounded("start_recording", self._switch("RECORD_STREAM", "RECORD_DURATION_ON"))
        self._started = True

    async def _switch(self, prop: str, element: str) -> None:
        c = await self._require_camera(f"{prop} {element}")
        await self._send(c, prop, [lambda: c.set_switch(self.camera, prop, element, True)])

    async def recording_state(self) -> RecordingState:
        """Poll RECORD_STREAM: busy while recording, then idle/ok with RECORD_OFF on."""
        return await self._bounded("recording_state", self._state())

    async def _state(self) -> RecordingState:
        client = self._client()
        try:
            connected = await client.is_device_connected(self.camera)
        except EkosCommandFailed:
            connected = False
        light = await client.property_state(self.camera, "RECORD_STREAM")
        if not connected or light is PropertyState.INVALID:
            return RecordingState.NO_DEVICE
        if light is PropertyState.ALERT:
            return RecordingState.ALERT
        if light is PropertyState.BUSY:
            self._seen_busy = self._started
            return RecordingState.BUSY if self._started else RecordingState.IDLE
        if not self._started:
            return RecordingState.IDLE
        if self._seen_busy or self._file_exists():
            return RecordingState.FINISHED
        return RecordingState.IDLE

    def _file_exists(self) -> bool:
        r = self._request
        return r is not None and any(r.directory.glob(recording_glob(r.stem)))

    async def stop_recording(self) -> None:
        """Stop the recording now; INDI closes the file properly."""
        await self._bounded("stop_recording", self._plain_switch("RECORD_STREAM", "RECORD_OFF"))

    async def stop_stream(self) -> None:
        """Switch the stream off (it stays on after a recording that followed a pre-roll)."""
        await self._bounded("stop_stream", self._plain_switch("CCD_VIDEO_STREAM", "STREAM_OFF"))
        self._stream_on = False

    async def _plain_switch(self, prop: str, element: str) -> None:
        # No connection check first: a stop must be tried even when the camera looks gone.
        c = self._client()
        try:
            await c.set_switch(self.camera, prop, element, True)
            await c.send_property(self.camera, prop)
        except EkosCommandFailed as exc:
            await self._require_camera(f"{prop} {element}")
            raise RecordingError(f"The camera {self.camera} refused {prop}: {exc}") from exc

    async def find_recording(self, request: RecordingRequest, started: datetime) -> Path | None:
        """The newest SER INDI wrote for ``request`` at or after ``started``, or None."""
        return await asyncio.to_thread(_newest_recording, request, started)

    async def find_in_mount(self, request: RecordingRequest, indi_file: str | None) -> Path | None:
        """The recording on the INDI host, through the mount: the file INDI reported opening
        (by its name), else the newest one of this event's name; None without a mount."""
        mount = self._mount
        if mount is None:
            return None
        return await asyncio.to_thread(_in_mount, mount, request, indi_file)


def _in_mount(mount: Path, request: RecordingRequest, indi_file: str | None) -> Path | None:
    if indi_file:
        named = mount / PurePosixPath(indi_file).name
        if named.is_file():
            return named
    found: list[tuple[float, Path]] = []
    for path in mount.glob(recording_glob(request.stem)):
        try:
            found.append((path.stat().st_mtime, path))
        except OSError:
            continue
    return max(found)[1] if found else None


def _newest_recording(request: RecordingRequest, started: datetime) -> Path | None:
    since = started.timestamp() - _FIND_SLACK_S
    found: list[tuple[float, Path]] = []
    for path in request.directory.glob(recording_glob(request.stem)):
        try:
            mtime = path.stat().st_mtime
        except OSError:
            continue  # removed while looking
        if mtime >= since:
            found.append((mtime, path))
    return max(found)[1] if found else None
