"""Fakes for the supervisor's ports: a virtual clock and a scriptable rig (Ekos + recorder).

- :class:`FakeClock`: virtual UTC time; ``sleep_until`` jumps there at once (and yields to the
  event loop, so cancellation works as with a real sleep).
- :class:`FakeRig` holds the simulated world: the Ekos scheduler running one job at a time
  (phases timed on the fake clock), the mount, the camera and the disk. ``rig.ekos`` implements
  :class:`~ekos_occult.night.ports.EkosPort`, ``rig.recorder``
  :class:`~ekos_occult.night.ports.RecorderPort`.
- Faults are scripted: a method failing on its Nth call (``fail_on``), a call hanging until the
  adapter's timeout (``hang_on``), KStars leaving the bus (``lose_kstars``), the camera
  disconnecting (``lose_camera``), a full disk (``free_bytes``), per-event job and recording
  scripts (job failure, align failure, a job that never ends, off-target pointing, a late,
  truncated, gappy or missing recording).
- The recorder writes real (tiny, 8x8 8-bit) SER files with per-frame timestamps, so the
  supervisor's verification reads real files.

Every call is logged in ``rig.calls`` as ``(time, port, method)``.
"""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from ekos_occult.ekosfiles.naming import sanitize_component
from ekos_occult.errors import (
    DeviceLost,
    EkosCommandFailed,
    EkosTimeout,
    EkosUnavailable,
)
from ekos_occult.kstars.states import MountStatus, SchedulerState
from ekos_occult.model import (
    OccultationEvent,
    Plan,
    PlannedEvent,
    PlanRules,
    Site,
    SkipReason,
    Status,
)
from ekos_occult.night.journal import to_json
from ekos_occult.night.ports import (
    FrameGeometry,
    JobPhase,
    JobProgress,
    MountState,
    RecordingRequest,
    RecordingState,
)

UTC = timezone.utc
_EPOCH = datetime(1, 1, 1, tzinfo=UTC)
_SER = struct.Struct("<14s7i40s40s40sqq")


def ticks(t: datetime) -> int:
    d = t - _EPOCH
    return (d.days * 86_400 + d.seconds) * 10_000_000 + d.microseconds * 10


def write_ser(
    path: Path,
    stamps: list[datetime],
    *,
    width: int = 8,
    height: int = 8,
    header_count: int | None = None,
    trailer: bool = True,
) -> None:
    """Write a tiny 8-bit mono SER file the way INDI does (trailer of per-frame UTC ticks)."""
    n = len(stamps)
    count = n if header_count is None else header_count
    start = ticks(stamps[0]) if stamps else 0
    header = _SER.pack(
        b"INDI-RECORDER", 0, 0, 0, width, height, 8, count, b"", b"", b"", start, start
    )
    pixels = width * height
    body = (bytes(range(256)) * (pixels // 256 + 1))[:pixels] * n
    tail = b"".join(struct.pack("<q", ticks(t)) for t in stamps) if trailer else b""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + body + tail)


class FakeClock:
    """Virtual UTC time: ``sleep_until`` advances it instantly."""

    def __init__(self, start: datetime) -> None:
        self._now = start
        self.sleeps: list[datetime] = []

    def now(self) -> datetime:
        return self._now

    async def sleep_until(self, t: datetime) -> None:
        self.sleeps.append(t)
        if t > self._now:
            self._now = t
        await asyncio.sleep(0)

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)


@dataclass
class JobScript:
    """How the Ekos job of one event behaves (times from start_scheduler).

    ``outcome`` None: the job never ends (stays capturing).
    """

    slew_s: float = 8.0
    align_s: float = 0.0
    capture_s: float = 2.0
    outcome: JobPhase | None = JobPhase.COMPLETE
    detail: str = ""
    offset_deg: float = 0.0
    shutdown_s: float = 2.0  # scheduler back to idle this long after the job ends


@dataclass
class RecScript:
    """How the recording of one event behaves."""

    latency_s: float = 0.05  # first frame after the record command
    never_finishes: bool = False  # stays busy until stopped
    alert: bool = False  # RECORD_STREAM goes to Alert right away
    gap_every_s: float | None = None  # cadence drops to one frame per this many seconds
    gap_after_s: float = 0.0  # ... from this long after the start
    crash: bool = False  # header frame count 0, no trailer
    no_file: bool = False  # nothing written


@dataclass
class Faults:
    """Scripted port faults: method -> {call number (1-based) -> exception}, hangs, losses."""

    fail_on: dict[str, dict[int, Exception]] = field(default_factory=dict)
    hang_on: dict[str, set[int]] = field(default_factory=dict)
    call_timeout_s: float = 10.0
    lost_at: datetime | None = None
    back_at: datetime | None = None
    camera_lost_at: datetime | None = None
    camera_back_at: datetime | None = None


class FakeRig:
    """The simulated observatory shared by FakeEkos and FakeRecorder."""

    def __init__(
        self,
        clock: FakeClock,
        targets: dict[str, tuple[float, float]] | None = None,
        *,
        free_bytes: int = 10**12,
    ) -> None:
        self.clock = clock
        self.targets = targets or {}
        self.jobs: dict[str, JobScript] = {}
        self.recs: dict[str, RecScript] = {}
        self.faults = Faults()
        self.free_bytes = free_bytes
        self.calls: list[tuple[datetime, str, str]] = []
        self._counts: dict[str, int] = {}
        self.attached = True
        self.ekos = FakeEkos(self)
        self.recorder = FakeRecorder(self)

    @classmethod
    def for_plan(cls, plan: Plan, clock: FakeClock, **kw: int) -> FakeRig:
        targets = {ev.name: (ev.event.ra_deg, ev.event.dec_deg) for ev in plan.events}
        return cls(clock, targets, **kw)

    def lose_kstars(self, at: datetime, back_at: datetime | None = None) -> None:
        self.faults.lost_at, self.faults.back_at = at, back_at

    def lose_camera(self, at: datetime, back_at: datetime | None = None) -> None:
        self.faults.camera_lost_at, self.faults.camera_back_at = at, back_at

    def is_kstars_gone(self) -> bool:
        f, now = self.faults, self.clock.now()
        return f.lost_at is not None and f.lost_at <= now and (f.back_at is None or now < f.back_at)

    def is_camera_gone(self) -> bool:
        f, now = self.faults, self.clock.now()
        if f.camera_lost_at is None or now < f.camera_lost_at:
            return False
        return f.camera_back_at is None or now < f.camera_back_at

    def count(self, method: str) -> int:
        return sum(1 for _, _, m in self.calls if m == method)

    def times(self, method: str) -> list[datetime]:
        return [t for t, _, m in self.calls if m == method]

    async def enter(self, port: str, method: str) -> None:
        """Log a call and apply the scripted faults."""
        self.calls.append((self.clock.now(), port, method))
        n = self._counts[method] = self._counts.get(method, 0) + 1
        if self.is_kstars_gone():
            self.attached = False
            self.ekos.kstars_died()
        if not self.attached:
            raise EkosUnavailable(f"org.kde.kstars is not on the bus ({method})")
        if n in self.faults.hang_on.get(method, set()):
            timeout = timedelta(seconds=self.faults.call_timeout_s)
            await self.clock.sleep_until(self.clock.now() + timeout)
            raise EkosTimeout(f"{method}: no answer within {self.faults.call_timeout_s:g} s")
        exc = self.faults.fail_on.get(method, {}).get(n)
        if exc is not None:
            raise exc


class FakeEkos:
    """EkosPort on the simulated rig: one job per load, phases timed on the fake clock."""

    def __init__(self, rig: FakeRig) -> None:
        self.rig = rig
        self.scheduler = SchedulerState.IDLE
        self.loaded: str | None = None
        self.started_at: datetime | None = None
        self.stopped_at: datetime | None = None
        self.aborted = False
        self.mount = MountState(MountStatus.IDLE, 0.0, 90.0)
        self.loads: list[Path] = []

    def kstars_died(self) -> None:
        self.scheduler, self.loaded, self.started_at = SchedulerState.IDLE, None, None
        self.mount = MountState(MountStatus.IDLE, None, None)

    def _script(self) -> JobScript:
        return self.rig.jobs.get(self.loaded or "", JobScript())

    def _elapsed(self) -> float | None:
        if self.started_at is None:
            return None
        return (self.rig.clock.now() - self.started_at).total_seconds()

    def _phase(self) -> JobProgress:
        """Advance the simulated job to now and report its phase."""
        s, t = self._script(), self._elapsed()
        if self.aborted:
            return JobProgress(JobPhase.FAILED, f"Job '{self.loaded}' aborted by scheduler stop.")
        if t is None:
            return JobProgress(JobPhase.QUEUED)
        ends = s.slew_s + s.align_s + s.capture_s
        if t < s.slew_s:
            self.mount = MountState(MountStatus.SLEWING, None, None)
            return JobProgress(JobPhase.SLEWING)
        self._point(s.offset_deg)
        if t < s.slew_s + s.align_s:
            return JobProgress(JobPhase.ALIGNING)
        if t < ends or s.outcome is None:
            return JobProgress(JobPhase.CAPTURING)
        if t >= ends + s.shutdown_s:
            self.scheduler = SchedulerState.IDLE
        detail = s.detail or f"Job '{self.loaded}' is {s.outcome.value}."
        return JobProgress(s.outcome, detail)

    def _point(self, offset_deg: float) -> None:
        ra, dec = self.rig.targets.get(self.loaded or "", (0.0, 0.0))
        self.mount = MountState(MountStatus.TRACKING, ra, dec + offset_deg)

    def capture_busy(self) -> bool:
        return self.scheduler is SchedulerState.RUNNING and self._phase().phase in (
            JobPhase.CAPTURING,
        )

    async def load_job(self, path: Path) -> None:
        await self.rig.enter("ekos", "load_job")
        if self.scheduler is not SchedulerState.IDLE:
            raise EkosCommandFailed("load_job while the scheduler runs (Ekos would mangle it)")
        self.loads.append(path)
        self.loaded, self.started_at, self.aborted = path.stem, None, False

    async def start_scheduler(self) -> None:
        await self.rig.enter("ekos", "start_scheduler")
        self.scheduler, self.started_at = SchedulerState.RUNNING, self.rig.clock.now()

    async def stop_scheduler(self) -> None:
        await self.rig.enter("ekos", "stop_scheduler")
        if self.scheduler is SchedulerState.RUNNING and not self._phase().phase.is_final:
            self.aborted = True
        self.scheduler, self.stopped_at = SchedulerState.IDLE, self.rig.clock.now()

    async def scheduler_state(self) -> SchedulerState:
        await self.rig.enter("ekos", "scheduler_state")
        self._phase()
        return self.scheduler

    async def job_progress(self) -> JobProgress:
        await self.rig.enter("ekos", "job_progress")
        return self._phase()

    async def is_capture_idle(self) -> bool:
        await self.rig.enter("ekos", "is_capture_idle")
        return not self.capture_busy()

    async def abort_capture(self) -> None:
        await self.rig.enter("ekos", "abort_capture")
        self.aborted = True

    async def mount_state(self) -> MountState:
        await self.rig.enter("ekos", "mount_state")
        self._phase()
        return self.mount

    async def is_camera_connected(self) -> bool:
        await self.rig.enter("ekos", "is_camera_connected")
        return not self.rig.is_camera_gone()

    async def park_mount(self) -> None:
        await self.rig.enter("ekos", "park_mount")
        self.mount = MountState(MountStatus.PARKING, None, None)

    async def reattach(self) -> bool:
        self.rig.calls.append((self.rig.clock.now(), "ekos", "reattach"))
        if self.rig.is_kstars_gone():
            return False
        self.rig.attached = True
        return True


class FakeRecorder:
    """RecorderPort on the simulated camera; writes tiny real SER files."""

    timestamp_source = "host clock"
    files_host = None

    def __init__(self, rig: FakeRig) -> None:
        self.rig = rig
        self.request: RecordingRequest | None = None
        self.stream_on = False
        self.state = RecordingState.IDLE
        self.started_at: datetime | None = None
        self.written: list[Path] = []
        self._file: Path | None = None

    def _script(self) -> RecScript:
        stem = self.request.stem if self.request else ""
        for name, script in self.rig.recs.items():
            if stem.startswith(sanitize_component(name).replace(" ", "_")):
                return script
        return RecScript()

    async def _enter(self, method: str, *, needs_camera: bool = True) -> None:
        await self.rig.enter("recorder", method)
        if needs_camera and self.rig.is_camera_gone():
            raise DeviceLost(f"CCD Simulator is not connected ({method})")

    async def frame_geometry(self, roi: tuple[int, int, int, int] | None) -> FrameGeometry:
        await self._enter("frame_geometry")
        return FrameGeometry(roi[2], roi[3], 1) if roi else FrameGeometry(8, 8, 1)

    async def free_bytes(self, directory: Path) -> int:
        await self._enter("free_bytes", needs_camera=False)
        return self.rig.free_bytes

    async def configure(self, request: RecordingRequest) -> None:
        await self._enter("configure")
        self.request, self.state, self._file = request, RecordingState.IDLE, None

    async def start_stream(self) -> None:
        await self._enter("start_stream")
        self.stream_on = True

    async def start_recording(self) -> None:
        await self._enter("start_recording")
        self.started_at = self.rig.clock.now()
        self.state = RecordingState.ALERT if self._script().alert else RecordingState.BUSY

    async def recording_state(self) -> RecordingState:
        await self.rig.enter("recorder", "recording_state")
        if self.rig.is_camera_gone():
            return RecordingState.NO_DEVICE
        if self.state is RecordingState.BUSY and self.request and self.started_at:
            end = self.started_at + timedelta(seconds=self.request.duration_s)
            if not self._script().never_finishes and self.rig.clock.now() >= end:
                self._write(end)
        return self.state

    async def stop_recording(self) -> None:
        await self._enter("stop_recording", needs_camera=False)
        if self.state is RecordingState.BUSY:
            self._write(self.rig.clock.now())

    async def stop_stream(self) -> None:
        await self._enter("stop_stream", needs_camera=False)
        self.stream_on = False

    async def find_recording(self, request: RecordingRequest, started: datetime) -> Path | None:
        await self._enter("find_recording", needs_camera=False)
        return self._file

    def _write(self, end: datetime) -> None:
        """Finish the recording: frames from start + latency to ``end`` at the exposure rate."""
        assert self.request is not None and self.started_at is not None
        self.state = RecordingState.FINISHED
        script = self._script()
        if script.no_file:
            return
        exp = self.request.exposure_s
        t = self.started_at + timedelta(seconds=script.latency_s)
        gap_from = self.started_at + timedelta(seconds=script.gap_after_s)
        stamps: list[datetime] = []
        while t <= end:
            stamps.append(t)
            step = exp
            if script.gap_every_s is not None and t >= gap_from:
                step = script.gap_every_s
            t += timedelta(seconds=step)
        path = self.request.directory / f"{self.request.stem}.ser"
        if script.crash:
            write_ser(path, stamps, header_count=0, trailer=False)
        else:
            write_ser(path, stamps)
        self._file = path
        self.written.append(path)


T0 = datetime(2026, 11, 21, 20, 0, tzinfo=UTC)
"""Start of every fake night (the plan's ``now`` and the fake clock's start)."""


def planned(
    name: str,
    start_min: float,
    *,
    duration_s: float = 10.0,
    exposure_s: float = 0.1,
    lead_s: float = 300.0,
    ra_deg: float = 310.0,
    dec_deg: float = 45.0,
    scheduled: bool = True,
) -> PlannedEvent:
    """A planned event recording ``start_min`` minutes after :data:`T0`."""
    start = T0 + timedelta(minutes=start_min)
    ev = OccultationEvent(name, ra_deg, dec_deg, start, start + timedelta(seconds=duration_s), 9.0)
    status = Status.SCHEDULED if scheduled else Status.SKIPPED
    reason = None if scheduled else SkipReason.SUN
    detail = "" if scheduled else "the Sun is up"
    return PlannedEvent(
        ev, status, reason, detail, start - timedelta(seconds=lead_s), exposure_s, None
    )


def make_plan(*events: PlannedEvent) -> Plan:
    return Plan(Site(51.468, 0.0, 46.0), T0, PlanRules(), tuple(events))


class MemoryJournal:
    """A JournalSink that keeps entries in memory, as the journal would read them back (JSON)."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self.closed = False

    def append(self, entry: Mapping[str, object]) -> None:
        self.entries.append(json.loads(to_json(entry)))

    def close(self) -> None:
        self.closed = True
