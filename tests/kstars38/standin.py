"""A KStars 3.8 / INDI 2.x stand-in: the contract of ``shared/reference/kstars-3.8-interfaces.md``.

Debian ships KStars 3.6.2 only, so the newest stack is met here as a D-Bus service (dbus-next,
on a private dbus-daemon) plus a small INDI server on TCP, both following the reference:

- ``/KStars``: read-only ``version``/``release`` (3.8; absent when ``version_prop`` is empty, as
  on 3.7.0-3.7.7), ``location()`` JSON.
- ``/KStars/Ekos``: status properties, a *translated* ``logText`` (German by default) that never
  has the English "INDI services started on port" line, ``getProfile(name)`` JSON (3.8) with
  mode/host/port (remote mode: INDI on another host).
- ``/KStars/Ekos/Scheduler``: ``jsonJobs``/``currentJobJson`` with integer state and stage,
  status 0/2/3/6 only (never 5 "aborted"), ``stop()`` that does nothing unless running,
  ``loadScheduler`` that refuses the 3.6 format, StartAt read as KStars' local wall-clock time
  (> 500 s late: invalid; > 5 min early: the mount is parked first), translated ``newLog``.
- ``/KStars/Ekos/Align``, ``/KStars/Ekos/Capture``, ``/KStars/Ekos/Mount``: ``status`` and the
  ``newStatus`` signals as a job runs (Align progress then complete or failed; Capture
  capturing then complete, with train and camera id on 3.7+; Mount slewing then tracking);
  ``log_silent`` makes the scheduler log nothing at all.
- ``/KStars/Ekos/Capture``: ``abort(s)``, ``start(s)``, ``loadSequenceQueue(ssbs)`` (3.7.3+); the
  3.6 forms are absent (``UnknownMethod``) unless ``train_args`` is false.
- ``/KStars/Ekos/Mount`` and ``/KStars/INDI`` (getters/setters; ``sendProperty`` *crashes*: the
  stand-in drops off the bus, as KStars does when the driver's client manager is null).
- :class:`IndiServer`: ``new*Vector`` XML from any TCP client, INDI 2.x rules: STREAM_ON resets
  ``CCD_STREAM_FRAME`` to full frame (2.2.4 simulator), the ROI cannot change while recording,
  ``CCD_STREAM_RECORDER`` may be OGV (writes ``.ogv``), ``STREAMING_DIVISOR_VALUE`` > 1 drops
  frames, a small ``LIMITS_BUFFER_MAX`` skips frames; the SER (little-endian, trailer of host
  UTC ticks) is written in ``disk`` (another host's disk in remote mode). To a client that
  asked for the camera's properties it publishes what INDI's stream manager publishes (INDI
  1.9.9 and 2.x): the messages "Starting video record (Duration): N secs.", "Record file is
  PATH", "Frame buffer is full, skipping frame...", "Record Duration: MS millisec / N frames",
  "Recording stream has been disabled. Closing the stream...", and the ``RECORD_STREAM`` and
  ``FPS`` vectors.

This is a contract for tests, not product code: nothing in ``ekos_occult`` imports it.
"""
# ruff: noqa: F821, F722, N802, N803  (dbus-next reads D-Bus types from string annotations)

import asyncio
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from dbus_next.aio import MessageBus
from dbus_next.constants import PropertyAccess
from dbus_next.errors import DBusError
from dbus_next.service import ServiceInterface, dbus_property, method, signal
from fakes import write_ser

CAM = "CCD Simulator"
MOUNT = "Telescope Simulator"
TRAIN = "Primary"
SENSOR = (1280, 1024)

# The camera's capture formats as its INDI driver defines them (a colour camera: no "Mono").
CAPTURE_FORMAT_DEF = (
    f'<defSwitchVector device="{CAM}" name="CCD_CAPTURE_FORMAT" label="Format" state="Idle" '
    'perm="rw" rule="OneOfMany">\n'
    '<defSwitch name="INDI_RGB" label="RGB">Off</defSwitch>\n'
    '<defSwitch name="INDI_RAW" label="RAW 16">On</defSwitch>\n'
    "</defSwitchVector>\n"
)

# Scheduler job state and stage (3.7.1+ jsonJobs), from the reference.
JOB_IDLE, JOB_SCHEDULED, JOB_BUSY, JOB_ERROR, JOB_ABORTED, JOB_INVALID, JOB_COMPLETE = (
    0,
    2,
    3,
    4,
    5,
    6,
    7,
)
STAGE_IDLE, STAGE_SLEWING, STAGE_SLEW_COMPLETE, STAGE_CAPTURING, STAGE_COMPLETE = 0, 1, 2, 13, 14
STAGE_ALIGNING, STAGE_ALIGN_COMPLETE = 5, 6

# KStars 3.8's defaults of the scheduler options a schedule sets (kcfg).
OPTION_DEFAULTS = {
    "ErrorHandlingStrategy": "1",
    "ErrorHandlingStrategyDelay": "0",
    "SchedulerStartupEnabled": "true",
    "SchedulerShutdownEnabled": "true",
}

# What a German KStars logs (the reference: every Ekos log line is translated).
GERMAN = {
    "started": "Planer gestartet.",
    "slewing": "Auftrag „{0}“ schwenkt zum Ziel.",
    "capturing": "Auftrag „{0}“: Aufnahme läuft ...",
    "complete": "Auftrag „{0}“ ist abgeschlossen.",
    "empty": "Keine Aufträge mehr in der Warteschlange.",
    "invalid": "Warnung: Auftrag „{0}“ hat eine feste Startzeit in der Vergangenheit, ungültig.",
    "early": "Auftrag „{0}“ startet erst in {1} Minuten: Montierung wird geparkt.",
    "refused": "Das klassische Planerformat wird nicht mehr unterstützt.",
    "align_failed": "Auftrag „{0}“: Ausrichtung fehlgeschlagen, Auftrag abgebrochen.",
    "indi": "Die INDI-Dienste werden gestartet ...",
    "connected": "CCD Simulator ist verbunden.",
}


@dataclass
class Rig38:
    """The stand-in's world. ``now`` is the time source (a FakeClock's ``now`` or the system's).

    Attributes:
        version_prop: the ``version`` property ("" = not there, as on 3.7.0-3.7.7).
        json_jobs: whether ``Scheduler.jsonJobs`` exists (3.7.1+).
        train_args: whether Capture.abort/start take the optical train (3.7.3+).
        tz_hours: KStars' current UTC offset (a GPS/mount time source may change it mid-night).
        mode, indi_host: Ekos profile mode; INDI's host in remote mode.
        disk: where the INDI host writes files (another host's disk in remote mode).
        capture_busy_after_job: leave Capture capturing after a job (the runner must abort it).
    """

    now: Callable[[], datetime]
    disk: Path
    version_prop: str = "3.8.1"
    json_jobs: bool = True
    train_args: bool = True
    tz_hours: float = 1.0
    mode: str = "local"
    indi_host: str = "127.0.0.1"
    indi_port: int = 0  # 0: any free port
    get_profile: bool = True  # Ekos.getProfile (3.8); 3.7 finds a remote INDI in its userdb
    capture_busy_after_job: bool = False
    # world state
    scheduler: int = 0
    jobs: list[dict[str, object]] = field(default_factory=list)
    sched_log: list[str] = field(default_factory=list)  # newest first
    ekos_log: list[str] = field(default_factory=list)
    capture: int = 0
    aborts: list[str] = field(default_factory=list)
    stops: list[int] = field(default_factory=list)  # scheduler status at each stop() call
    parked: bool = False
    pointing: tuple[float, float] = (20.6905, 45.2803)  # JNow RA h, Dec deg
    loaded: list[str] = field(default_factory=list)
    crashed: bool = False
    service: "StandIn | None" = None
    props: dict[tuple[str, str], str] = field(default_factory=dict)  # the driver's values
    kcopy: dict[tuple[str, str], str] = field(default_factory=dict)  # KStars' copy of them
    states: dict[str, str] = field(default_factory=dict)
    recording_until: datetime | None = None
    written: list[Path] = field(default_factory=list)
    recorded_frames: int = 0  # of the recording in progress (INDI's closing message)
    recording_started: datetime | None = None
    publish: Callable[[str], None] | None = None  # to INDI clients that asked for the camera
    indi_silent: bool = False  # an INDI server whose messages never reach us
    record_nothing: bool = False  # the camera delivers no frame while recording
    log_silent: bool = False  # the scheduler logs nothing (structured state only)
    solve_fails: bool = False  # Align cannot plate-solve: the job is aborted while aligning
    align: int = 0
    kstarsrc: Path | None = None  # KStars' config: scheduler options loaded at start, saved
    options: dict[str, str] = field(default_factory=dict)  # the scheduler options in memory
    loaded_options: dict[str, str] = field(default_factory=dict)  # as read at start

    def __post_init__(self) -> None:
        w, h = SENSOR
        self.props.update(
            {
                ("CONNECTION", "CONNECT"): "On",
                ("CONNECTION", "DISCONNECT"): "Off",
                ("CCD_INFO", "CCD_MAX_X"): str(w),
                ("CCD_INFO", "CCD_MAX_Y"): str(h),
                ("CCD_INFO", "CCD_BITSPERPIXEL"): "8",
                ("CCD_CAPTURE_FORMAT", "INDI_MONO"): "On",
                ("CCD_FRAME", "X"): "0",
                ("CCD_FRAME", "Y"): "0",
                ("CCD_FRAME", "WIDTH"): str(w),
                ("CCD_FRAME", "HEIGHT"): str(h),
                ("CCD_VIDEO_STREAM", "STREAM_ON"): "Off",
                ("CCD_VIDEO_STREAM", "STREAM_OFF"): "On",
                ("STREAMING_EXPOSURE", "STREAMING_EXPOSURE_VALUE"): "0.1",
                # A user's saved driver settings that spoil a recording (the reference):
                ("STREAMING_EXPOSURE", "STREAMING_DIVISOR_VALUE"): "2",
                ("CCD_STREAM_RECORDER", "SER"): "Off",
                ("CCD_STREAM_RECORDER", "OGV"): "On",
                ("LIMITS", "LIMITS_BUFFER_MAX"): "1",  # MB
                ("LIMITS", "LIMITS_PREVIEW_FPS"): "10",
                ("RECORD_FILE", "RECORD_FILE_DIR"): "_HOME_/indi__D_",
                ("RECORD_FILE", "RECORD_FILE_NAME"): "indi_record__T_",
                ("RECORD_OPTIONS", "RECORD_DURATION"): "1",
                ("RECORD_OPTIONS", "RECORD_FRAME_TOTAL"): "30",
                ("RECORD_STREAM", "RECORD_ON"): "Off",
                ("RECORD_STREAM", "RECORD_DURATION_ON"): "Off",
                ("RECORD_STREAM", "RECORD_FRAME_ON"): "Off",
                ("RECORD_STREAM", "RECORD_OFF"): "On",
                ("CCD_STREAM_FRAME", "X"): "0",
                ("CCD_STREAM_FRAME", "Y"): "0",
                ("CCD_STREAM_FRAME", "WIDTH"): str(w),
                ("CCD_STREAM_FRAME", "HEIGHT"): str(h),
            }
        )
        self.ekos_log[:0] = [self._stamp(GERMAN[k]) for k in ("connected", "indi")]
        self.kcopy = dict(self.props)
        self.options = dict(OPTION_DEFAULTS)
        if self.kstarsrc is not None and self.kstarsrc.exists():
            group = ""
            for line in self.kstarsrc.read_text(encoding="utf-8").splitlines():
                if line.startswith("["):
                    group = line.strip("[]")
                elif group == "Scheduler" and line.split("=")[0] in self.options:
                    self.options[line.split("=")[0]] = line.split("=", 1)[1]
        self.loaded_options = dict(self.options)

    def apply_options(self, root: ET.Element) -> None:
        """3.8: a loaded schedule sets the global options (error handling; the startup and
        shutdown queues on or off) and KStars saves them (KConfig: the keys whose value
        differs from the one read at start)."""
        errors = root.find("ErrorHandlingStrategy")
        if errors is not None:
            self.options["ErrorHandlingStrategy"] = errors.get("value", "0")
            self.options["ErrorHandlingStrategyDelay"] = (errors.findtext("delay") or "0").strip()
        for element, key in (
            ("StartupProcedure", "SchedulerStartupEnabled"),
            ("ShutdownProcedure", "SchedulerShutdownEnabled"),
        ):
            found = root.find(element)
            if found is not None:
                self.options[key] = found.get("enabled", "false")
        self._save_options()

    def _save_options(self) -> None:
        if self.kstarsrc is None:
            return
        lines = self.kstarsrc.read_text(encoding="utf-8").splitlines()
        dirty = {k: v for k, v in self.options.items() if v != self.loaded_options[k]}
        group, end = "", None
        for i, line in enumerate(lines):
            if line.startswith("["):
                if group == "Scheduler":
                    end = i
                group = line.strip("[]")
            elif group == "Scheduler" and line.split("=")[0] in dirty:
                key = line.split("=")[0]
                lines[i] = f"{key}={dirty.pop(key)}"
        at = end if end is not None else len(lines)
        while at > 0 and not lines[at - 1].strip():
            at -= 1
        lines[at:at] = [f"{k}={v}" for k, v in dirty.items()]
        self.kstarsrc.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def echo(self, prop: str) -> None:
        """The driver's setXVector reaching KStars: its copy follows the driver."""
        for key, value in self.props.items():
            if key[0] == prop:
                self.kcopy[key] = value

    def _stamp(self, text: str) -> str:
        return f"{self.now():%Y-%m-%dT%H:%M:%S} {text}"

    # ------------------------------------------------------------------ INDI driver side
    def prop_state(self, prop: str) -> str:
        if not any(p == prop for p, _ in self.props):
            return "Invalid"
        if prop == "RECORD_STREAM" and self.recording_until is not None:
            if self.now() < self.recording_until:
                return "Busy"
            self.recording_until = None
            self._set_switch("RECORD_STREAM", "RECORD_OFF")
            self.echo("RECORD_STREAM")
            self.say("Waiting for all buffered frames to be recorded")
            self.states["RECORD_STREAM"] = "Idle"
            self._send_record_stream()
            self._closed()
        return self.states.get(prop, "Idle")

    # ------------------------------------------------------------------ INDI's publications
    def say(self, text: str, level: str = "INFO") -> None:
        """A driver message, as INDI's logger sends it to clients ("[LEVEL] text")."""
        if self.publish is None or self.indi_silent:
            return
        stamp = f"{self.now():%Y-%m-%dT%H:%M:%S}"
        attrs = {"device": CAM, "timestamp": stamp, "message": f"[{level}] {text}"}
        self.publish(ET.tostring(ET.Element("message", attrs), encoding="unicode") + "\n")

    def _send_record_stream(self) -> None:
        if self.publish is None or self.indi_silent:
            return
        root = ET.Element(
            "setSwitchVector",
            {
                "device": CAM,
                "name": "RECORD_STREAM",
                "state": self.states.get("RECORD_STREAM", "Idle"),
            },
        )
        for (p, e), value in self.props.items():
            if p == "RECORD_STREAM":
                ET.SubElement(root, "oneSwitch", {"name": e}).text = value
        self.publish(ET.tostring(root, encoding="unicode") + "\n")

    def _send_fps(self, fps: float) -> None:
        if self.publish is None or self.indi_silent:
            return
        root = ET.Element("setNumberVector", {"device": CAM, "name": "FPS", "state": "Idle"})
        ET.SubElement(root, "oneNumber", {"name": "EST_FPS"}).text = f"{fps:.2f}"
        ET.SubElement(root, "oneNumber", {"name": "AVG_FPS"}).text = f"{fps:.2f}"
        self.publish(ET.tostring(root, encoding="unicode") + "\n")

    def _closed(self) -> None:
        """INDI's stopRecording: the closing message with the frames recorded."""
        started = self.recording_started or self.now()
        ms = (self.now() - started).total_seconds() * 1000.0
        self.say(f"Record Duration: {ms:g} millisec / {self.recorded_frames} frames")
        self.recording_started = None

    def _set_switch(self, prop: str, element: str) -> None:
        for p, e in list(self.props):
            if p == prop:
                self.props[(p, e)] = "On" if e == element else "Off"

    def apply(self, kind: str, prop: str, values: dict[str, str]) -> None:
        """A ``new<kind>Vector`` reaching the driver (INDI 2.x behaviour)."""
        if prop == "CCD_STREAM_FRAME" and self.recording_until is not None:
            self.states[prop] = "Alert"  # cannot change the ROI while recording
            return
        if kind == "Switch":
            for element, value in values.items():
                if value == "On":
                    self._set_switch(prop, element)
        else:
            for element, value in values.items():
                if (prop, element) in self.props:
                    self.props[(prop, element)] = value
        self.states[prop] = "Ok"
        if prop == "CCD_VIDEO_STREAM" and values.get("STREAM_ON") == "On":
            self._reset_stream_frame()  # INDI 2.2.4: the simulator's stream start resets it
        if prop == "RECORD_STREAM" and values.get("RECORD_DURATION_ON") == "On":
            self._record()
        if prop == "RECORD_STREAM" and values.get("RECORD_OFF") == "On":
            if self.recording_until is not None:
                self.say("Recording stream has been disabled. Closing the stream...")
                self._closed()
            self.recording_until = None
        self.echo(prop)

    def _reset_stream_frame(self) -> None:
        w, h = SENSOR
        for element, value in (("X", 0), ("Y", 0), ("WIDTH", w), ("HEIGHT", h)):
            self.props[("CCD_STREAM_FRAME", element)] = str(value)
        self.echo("CCD_STREAM_FRAME")

    def number(self, prop: str, element: str) -> float:
        return float(self.props[(prop, element)])

    def _record(self) -> None:
        now = self.now()
        duration = self.number("RECORD_OPTIONS", "RECORD_DURATION")
        exposure = self.number("STREAMING_EXPOSURE", "STREAMING_EXPOSURE_VALUE")
        divisor = max(1, int(self.number("STREAMING_EXPOSURE", "STREAMING_DIVISOR_VALUE")))
        w = int(self.number("CCD_STREAM_FRAME", "WIDTH"))
        h = int(self.number("CCD_STREAM_FRAME", "HEIGHT"))
        folder = expand(self.props[("RECORD_FILE", "RECORD_FILE_DIR")], now)
        name = expand(self.props[("RECORD_FILE", "RECORD_FILE_NAME")], now)
        ogv = self.props[("CCD_STREAM_RECORDER", "OGV")] == "On"
        on_host = f"{folder.rstrip('/')}/{name}.{'ogv' if ogv else 'ser'}"
        path = self.disk / on_host.lstrip("/")
        self.say(f"Starting video record (Duration): {duration:g} secs.")
        self.say(f"Record file is {on_host}")
        self.states["RECORD_STREAM"] = "Busy"
        self._send_record_stream()
        frames = int(duration / exposure)
        # A buffer smaller than a second of frames skips every other frame; the divisor drops
        # every Nth frame from the recording.
        full = w * h * frames
        buffer_mb = self.number("LIMITS", "LIMITS_BUFFER_MAX")
        step = 2 if buffer_mb * 1024 * 1024 < full else 1
        kept = [i for i in range(0, frames, step) if divisor == 1 or i % divisor]
        kept = [] if self.record_nothing else kept
        for _ in range(0, frames, step) if step > 1 else ():
            self.say("Frame buffer is full, skipping frame...", "WARNING")
        self._send_fps(len(kept) / duration if duration else 0.0)
        self.recorded_frames, self.recording_started = len(kept), now
        stamps = [now + timedelta(seconds=0.02 + i * exposure) for i in kept]
        if ogv:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"OggS")
        else:
            write_ser(path, stamps, width=w, height=h)
        self.written.append(path)
        self.recording_until = now + timedelta(seconds=duration)


def expand(text: str, when: datetime) -> str:
    """INDI's record-file placeholders, in UTC; ':' would become '-'."""
    text = text.replace("_HOME_", "/home/indi")
    text = re.sub(r"_?_D_", f"_{when:%Y-%m-%d}", text)
    text = re.sub(r"_?_H_", f"_{when:%H-%M-%S}", text)
    return re.sub(r"_?_T_", f"_{when:%Y-%m-%d@%H-%M-%S}", text)


# ---------------------------------------------------------------------- D-Bus objects
class KStarsRoot(ServiceInterface):
    def __init__(self, rig: Rig38) -> None:
        super().__init__("org.kde.kstars")
        self.rig = rig

    @method()
    def location(self) -> "s":
        return json.dumps(
            {
                "name": "GPS Location",
                "latitude": 51.4769,
                "longitude": -0.0005,
                "elevation": 46.0,
                "tz0": 0.0,
                "tz": self.rig.tz_hours,
            }
        )

    @method()
    def setTimeToNow(self) -> None:
        pass


class KStarsVersion(KStarsRoot):
    """The 3.8 read-only properties; exported only when ``rig.version_prop`` is set."""

    @dbus_property(access=PropertyAccess.READ)
    def version(self) -> "s":
        return self.rig.version_prop

    @dbus_property(access=PropertyAccess.READ)
    def release(self) -> "s":
        return "Stable"


class Ekos(ServiceInterface):
    def __init__(self, rig: Rig38) -> None:
        super().__init__("org.kde.kstars.Ekos")
        self.rig = rig

    @dbus_property(access=PropertyAccess.READ)
    def ekosStatus(self) -> "i":
        return 2

    @dbus_property(access=PropertyAccess.READ)
    def indiStatus(self) -> "i":
        return 2

    @dbus_property(access=PropertyAccess.READ)
    def settleStatus(self) -> "u":
        return 2

    @dbus_property(access=PropertyAccess.READ)
    def logText(self) -> "as":
        return self.rig.ekos_log

    @method()
    def getProfiles(self) -> "as":
        return ["Simulators", "StellarMate"]

    @method()
    def setProfile(self, name: "s") -> "b":
        return name in ("Simulators", "StellarMate")

    @method()
    def start(self) -> None:
        pass

    @method()
    def stop(self) -> None:
        pass


class Ekos38(Ekos):
    """3.8 adds ``getProfile(name)``: the profile's JSON."""

    @method()
    def getProfile(self, name: "s") -> "s":
        rig = self.rig
        remote = rig.mode == "remote"
        return json.dumps(
            {
                "name": name,
                "mode": rig.mode,
                "remote_host": rig.indi_host if remote else "localhost",
                "remote_port": rig.indi_port if remote else 7624,
                "use_web_manager": remote,
                "drivers": {"mount": MOUNT, "ccd": CAM},
            }
        )


class SchedulerCore(ServiceInterface):
    """The scheduler of 3.7.0 (no jsonJobs); :class:`Scheduler` adds it (3.7.1+)."""

    def __init__(self, rig: Rig38) -> None:
        super().__init__("org.kde.kstars.Ekos.Scheduler")
        self.rig = rig

    @dbus_property(access=PropertyAccess.READ)
    def status(self) -> "i":
        return self.rig.scheduler

    @dbus_property(access=PropertyAccess.READ)
    def logText(self) -> "as":
        return self.rig.sched_log

    @method()
    def loadScheduler(self, path: "s") -> "b":
        rig = self.rig
        root = ET.parse(path).getroot()
        if float(root.get("version", "0")) < 2.0 or root.find("ShutdownProcedure") is None:
            self._log(GERMAN["refused"])
            return False
        rig.loaded.append(path)
        rig.apply_options(root)
        rig.jobs = []
        for job in root.iter("Job"):
            cond = job.find("StartupCondition/Condition")
            rig.jobs.append(
                {
                    "name": (job.findtext("Name") or "").strip(),
                    "state": JOB_IDLE,
                    "stage": STAGE_IDLE,
                    "startup": (cond.text or "").strip() if cond is not None else "ASAP",
                    "startAt": cond.get("value", "") if cond is not None else "",
                    "completedCount": 0,
                    "sequenceCount": 1,
                    "align": any(s.text == "Align" for s in job.iter("Step")),
                }
            )
        return True

    @method()
    def removeAllJobs(self) -> None:
        self.rig.jobs = []

    @method()
    def start(self) -> None:
        """Run the loaded jobs at once (the stand-in's jobs take no time on the test clock)."""
        rig = self.rig
        self._status(2)
        self._log(GERMAN["started"])
        for job in rig.jobs:
            self._run(job)
        ended = (JOB_COMPLETE, JOB_INVALID, JOB_ABORTED)
        if rig.scheduler == 2 and all(j["state"] in ended for j in rig.jobs):
            self._log(GERMAN["empty"])
            self._status(0)

    def _run(self, job: dict[str, object]) -> None:
        rig, name = self.rig, str(job["name"])
        if job["startup"] == "At":
            local_now = rig.now() + timedelta(hours=rig.tz_hours)
            start = datetime.fromisoformat(str(job["startAt"]))
            if start.tzinfo is not None:
                local_now = rig.now().astimezone(start.tzinfo)
            else:
                local_now = local_now.replace(tzinfo=None)
            ahead = (start - local_now).total_seconds()
            if ahead < -500:
                job["state"] = JOB_INVALID
                self._log(GERMAN["invalid"].format(name))
                return
            if ahead > 300:
                rig.parked = True  # 3.8: a job that looks > 5 min early parks the mount first
                job["state"] = JOB_SCHEDULED
                self._log(GERMAN["early"].format(name, round(ahead / 60)))
                return
        svc = rig.service
        assert svc is not None
        job["state"], job["stage"] = JOB_BUSY, STAGE_SLEWING
        self._log(GERMAN["slewing"].format(name))
        svc.mount.moved(2)  # slewing
        svc.mount.moved(3)  # tracking
        if job["align"]:
            job["stage"] = STAGE_ALIGNING
            svc.align.moved(4)  # progress
            if rig.solve_fails:
                svc.align.moved(2)  # failed
                job["state"] = JOB_ABORTED
                self._log(GERMAN["align_failed"].format(name))
                return
            svc.align.moved(1)  # complete
            job["stage"] = STAGE_ALIGN_COMPLETE
        job["stage"] = STAGE_CAPTURING
        svc.capture.moved(2)  # capturing
        self._log(GERMAN["capturing"].format(name))
        job["state"], job["stage"], job["completedCount"] = JOB_COMPLETE, STAGE_COMPLETE, 1
        if rig.capture_busy_after_job:
            rig.capture = 2
        else:
            svc.capture.moved(19)  # complete
        self._log(GERMAN["complete"].format(name))

    @method()
    def stop(self) -> None:
        self.rig.stops.append(self.rig.scheduler)
        if self.rig.scheduler == 2:  # 3.7+: only acts while running; never reports "aborted"
            self._status(0)

    def _status(self, value: int) -> None:
        self.rig.scheduler = value
        self.newStatus([value])

    def _log(self, text: str) -> None:
        if self.rig.log_silent:
            return
        self.rig.sched_log.insert(0, self.rig._stamp(text))
        self.newLog(text)

    @signal()
    def newLog(self, text: str) -> "s":
        return text

    @signal()
    def newStatus(self, value: list[int]) -> "(i)":
        return value


class Scheduler(SchedulerCore):
    """3.7.1+: the jobs with integer state and stage."""

    @dbus_property(access=PropertyAccess.READ)
    def jsonJobs(self) -> "s":
        return json.dumps(self.rig.jobs)

    @dbus_property(access=PropertyAccess.READ)
    def currentJobJson(self) -> "s":
        current = [j for j in self.rig.jobs if j["state"] == JOB_BUSY]
        return json.dumps(current[0] if current else {})


class CaptureBase(ServiceInterface):
    def __init__(self, rig: Rig38) -> None:
        super().__init__("org.kde.kstars.Ekos.Capture")
        self.rig = rig

    @dbus_property(access=PropertyAccess.READ)
    def status(self) -> "i":
        return self.rig.capture

    @dbus_property(access=PropertyAccess.READ)
    def camera(self) -> "s":
        return CAM

    @dbus_property(access=PropertyAccess.READ)
    def opticalTrain(self) -> "s":
        return TRAIN

    @method()
    def stop(self) -> None:
        self.rig.capture = 0

    def moved(self, value: int) -> None:
        self.rig.capture = value
        self.newStatus([value], TRAIN, 0)

    @signal()
    def newStatus(self, value: list[int], train: str, camera_id: int) -> "(i)si":
        return [value, train, camera_id]


class Capture(CaptureBase):
    """Capture of 3.7.3+: abort takes the optical train (empty: all cameras)."""

    @method()
    def abort(self, train: "s") -> None:
        self.rig.aborts.append(train)
        if train in ("", TRAIN):
            self.rig.capture = 6  # aborted


class Capture36(CaptureBase):
    """Capture of 3.7.0-3.7.2: the 3.6 forms without a train."""

    @method()
    def abort(self) -> None:
        self.rig.aborts.append("(no train)")
        self.rig.capture = 6


class Mount(ServiceInterface):
    def __init__(self, rig: Rig38) -> None:
        super().__init__("org.kde.kstars.Ekos.Mount")
        self.rig = rig

    @dbus_property(access=PropertyAccess.READ)
    def status(self) -> "i":
        return 5 if self.rig.parked else 3

    @dbus_property(access=PropertyAccess.READ)
    def parkStatus(self) -> "i":
        return 1 if self.rig.parked else 4

    @dbus_property(access=PropertyAccess.READ)
    def equatorialCoords(self) -> "ad":
        return list(self.rig.pointing)

    def moved(self, value: int) -> None:
        self.newStatus([value])

    @signal()
    def newStatus(self, value: list[int]) -> "(i)":
        return value


class Align(ServiceInterface):
    """Ekos Align: its status and the status signal (1 complete = plate solved, 2 failed)."""

    def __init__(self, rig: Rig38) -> None:
        super().__init__("org.kde.kstars.Ekos.Align")
        self.rig = rig

    @dbus_property(access=PropertyAccess.READ)
    def status(self) -> "i":
        return self.rig.align

    def moved(self, value: int) -> None:
        self.rig.align = value
        self.newStatus([value])

    @signal()
    def newStatus(self, value: list[int]) -> "(i)":
        return value


class Indi(ServiceInterface):
    """KStars' INDI interface: a mirror of the driver's properties."""

    def __init__(self, rig: Rig38) -> None:
        super().__init__("org.kde.kstars.INDI")
        self.rig = rig

    @method()
    def getDevices(self) -> "as":
        return [CAM, MOUNT]

    @method()
    def getProperties(self, device: "s") -> "as":
        if device != CAM:
            return [f"{device}.CONNECTION.CONNECT"]
        return [f"{device}.{p}.{e}" for p, e in self.rig.props]

    @method()
    def getPropertyState(self, device: "s", prop: "s") -> "s":
        return self.rig.prop_state(prop) if device == CAM else "Ok"

    @method()
    def getSwitch(self, device: "s", prop: "s", element: "s") -> "s":
        if device != CAM:
            return "On" if (prop, element) == ("CONNECTION", "CONNECT") else "Invalid"
        value = self.rig.kcopy.get((prop, element))
        return value if value in ("On", "Off") else "Invalid"

    @method()
    def getNumber(self, device: "s", prop: "s", element: "s") -> "d":
        try:
            return float(self.rig.kcopy[(prop, element)]) if device == CAM else float("nan")
        except (KeyError, ValueError):
            return float("nan")

    @method()
    def getText(self, device: "s", prop: "s", element: "s") -> "s":
        value = self.rig.kcopy.get((prop, element))
        return value if value is not None and device == CAM else "Invalid"

    @method()
    def setNumber(self, device: "s", prop: "s", element: "s", value: "d") -> "b":
        return self._set(prop, element, repr(value))

    @method()
    def setText(self, device: "s", prop: "s", element: "s", value: "s") -> "b":
        return self._set(prop, element, value)

    @method()
    def setSwitch(self, device: "s", prop: "s", element: "s", value: "s") -> "b":
        if value == "On":  # one-of-many: KStars clears the others
            for key in [k for k in self.rig.kcopy if k[0] == prop]:
                self.rig.kcopy[key] = "Off"
        return self._set(prop, element, value)

    def _set(self, prop: str, element: str, value: str) -> bool:
        if (prop, element) not in self.rig.kcopy:
            return False
        self.rig.kcopy[(prop, element)] = value
        return True

    @method()
    async def sendProperty(self, device: "s", prop: "s") -> "b":
        # The null client manager of indidbus.cpp (still in 3.8): KStars dies.
        self.rig.crashed = True
        if self.rig.service is not None:
            asyncio.ensure_future(self.rig.service.drop())
        raise DBusError("org.freedesktop.DBus.Error.NoReply", "KStars crashed (SIGSEGV)")


class IndiServer:
    """indiserver 2.x on TCP: applies ``new*Vector`` messages from any client to the rig."""

    def __init__(self, rig: Rig38, host: str) -> None:
        self.rig, self.host = rig, host
        self.server: asyncio.base_events.Server | None = None
        self.messages: list[str] = []
        self.watchers: set[asyncio.StreamWriter] = set()
        rig.publish = self._publish

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._client, self.host, self.rig.indi_port)
        port = int(self.server.sockets[0].getsockname()[1])
        self.rig.indi_port = port
        return port

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One INDI client: apply its new*Vector messages as they come; answer getProperties
        (the capture formats' definition; for the whole camera, the stream manager's
        publications from then on, until the client leaves)."""
        data = ""
        try:
            while chunk := await reader.read(65536):
                data += chunk.decode("utf-8")
                data = self._take(data, writer)
        except OSError:
            pass
        finally:
            self.watchers.discard(writer)
            writer.close()

    def _take(self, data: str, writer: asyncio.StreamWriter) -> str:
        pattern = r"<getProperties[^>]*/>|<new(Number|Text|Switch)Vector[^>]*>.*?</new\1Vector>"
        end = 0
        for m in re.finditer(pattern, data, re.S):
            end = m.end()
            root = ET.fromstring(m.group(0))
            if root.tag == "getProperties":
                if root.get("name") == "CCD_CAPTURE_FORMAT":
                    writer.write(CAPTURE_FORMAT_DEF.encode("utf-8"))  # labels, not names
                elif root.get("device") in (None, CAM):
                    self.watchers.add(writer)
                continue
            if root.get("device") != CAM:
                continue
            values = {el.get("name", ""): (el.text or "").strip() for el in root}
            self.messages.append(str(root.get("name")))
            self.rig.apply(str(m.group(1)), str(root.get("name")), values)
        return data[end:]

    def _publish(self, xml: str) -> None:
        for writer in list(self.watchers):
            if writer.is_closing():
                self.watchers.discard(writer)
            else:
                writer.write(xml.encode("utf-8"))

    async def stop(self) -> None:
        for writer in list(self.watchers):
            writer.close()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


class StandIn:
    """The stand-in's bus connection and INDI server: export, own or drop the KStars name."""

    def __init__(self, address: str, rig: Rig38) -> None:
        self.address, self.rig = address, rig
        self.bus: MessageBus | None = None
        self.indi = IndiServer(rig, rig.indi_host)
        self.scheduler = Scheduler(rig) if rig.json_jobs else SchedulerCore(rig)
        self.capture: CaptureBase = Capture(rig) if rig.train_args else Capture36(rig)
        self.align = Align(rig)
        self.mount = Mount(rig)
        self.indiserver_child: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        rig = self.rig
        rig.service = self
        port = await self.indi.start()
        if rig.mode == "local":
            # What Ekos starts in local mode: `indiserver -v -p PORT ...`, a child of KStars
            # (the stand-in's process here). The INDI traffic goes to IndiServer on that port.
            self.indiserver_child = subprocess.Popen(
                ["indiserver", "-c", "import time; time.sleep(120)", "-v", "-p", str(port)],
                executable=sys.executable,
            )
        self.bus = await MessageBus(bus_address=self.address).connect()
        root = KStarsVersion(rig) if rig.version_prop else KStarsRoot(rig)
        for path, iface in (
            ("/KStars", root),
            ("/KStars/Ekos", Ekos38(rig) if rig.get_profile else Ekos(rig)),
            ("/KStars/Ekos/Scheduler", self.scheduler),
            ("/KStars/Ekos/Capture", self.capture),
            ("/KStars/Ekos/Align", self.align),
            ("/KStars/Ekos/Mount", self.mount),
            ("/KStars/INDI", Indi(rig)),
        ):
            self.bus.export(path, iface)
        await self.bus.request_name("org.kde.kstars")

    async def drop(self) -> None:
        if self.bus is not None:
            await self.bus.release_name("org.kde.kstars")

    async def stop(self) -> None:
        if self.indiserver_child is not None:
            self.indiserver_child.terminate()
            self.indiserver_child.wait(10)
        await self.indi.stop()
        if self.bus is not None:
            self.bus.disconnect()
            await self.bus.wait_for_disconnect()
            for name in ("_stream", "_sock"):  # dbus-next only shuts its socket down
                getattr(self.bus, name).close()


UTC = timezone.utc
