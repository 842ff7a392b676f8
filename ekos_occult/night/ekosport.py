"""EkosPort on the real KStars/Ekos: one single-job .esl at a time, followed to its end.

:class:`DBusEkosPort` implements :class:`~ekos_occult.night.ports.EkosPort` with the typed
methods of :class:`~ekos_occult.kstars.client.EkosClient`. It loads a job only while the
scheduler is idle (loading while it runs makes Ekos capture without slewing) and follows the
job by integers, whatever the language: KStars 3.7.1+'s job state and stage (the running job's
``currentJobJson``, then its entry in ``jsonJobs``) where they exist, and the modules' ``status``
signals (Scheduler, Align, Capture, Mount), which also say whether Align plate-solved. The
scheduler's English ``newLog`` lines (signals, with ``logText`` as catch-up) are only the
fallback. It reports the mount in J2000 degrees (Ekos gives JNow) and re-attaches with a new
bus connection after KStars or its bus went away. Every method returns within its time limit
or raises :class:`~ekos_occult.errors.EkosTimeout`; nothing but
our own errors leaves it.

:class:`KStarsLink` holds the current client, shared with the recorder
(:class:`~ekos_occult.night.recorder.IndiStreamRecorder`) so both follow a re-attach.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from ekos_occult.clock import Clock
from ekos_occult.ekosfiles.formats import KStarsFormat
from ekos_occult.errors import EkosCommandFailed, EkosError, EkosTimeout
from ekos_occult.kstars.client import EkosClient, EkosEvent, EkosSignal, Subscription
from ekos_occult.kstars.states import (
    AlignState,
    CaptureState,
    MountStatus,
    SchedulerState,
    is_scheduler_idle,
)
from ekos_occult.night.ports import JobPhase, JobProgress, MountState

__all__ = [
    "KStarsLink",
    "JobTracker",
    "DBusEkosPort",
    "job_name_of",
    "jnow_to_j2000",
]

T = TypeVar("T")
_IDLE_CAPTURE = frozenset({CaptureState.IDLE, CaptureState.COMPLETE, CaptureState.ABORTED})
_RANK = {JobPhase.QUEUED: 0, JobPhase.SLEWING: 1, JobPhase.ALIGNING: 2, JobPhase.CAPTURING: 3}
# Scheduler log phrases (KStars 3.6.2 scheduler.cpp), looked for in the text that follows the
# quoted job name, in this order: the first match decides ("is complete" must come right after
# the name: "slew is complete." is not the job's end). Focus/guide lines only update the detail.
_PHRASES: tuple[tuple[str, JobPhase], ...] = (
    ("alignment procedure failed", JobPhase.ALIGN_FAILED),
    ("marking invalid", JobPhase.FAILED),
    ("marking aborted", JobPhase.FAILED),
    ("terminated due to errors", JobPhase.FAILED),
    ("is aborted", JobPhase.FAILED),
    ("will not run", JobPhase.FAILED),
    ("failed to capture target", JobPhase.FAILED),
    ("^ is complete", JobPhase.COMPLETE),
    ("capture is in progress", JobPhase.CAPTURING),
    ("proceeding directly to capture", JobPhase.CAPTURING),
    ("plate solving", JobPhase.ALIGNING),
    ("alignment", JobPhase.ALIGNING),
    ("slewing to target", JobPhase.SLEWING),
    ("slew is complete", JobPhase.SLEWING),
    ("repositioning", JobPhase.SLEWING),
)
_QUEUE_EMPTY = "No jobs left in the scheduler queue"
# KStars 3.7.1+ jsonJobs: job state and stage numbers (shared/reference/kstars-3.8-interfaces.md).
_JOB_STATES = {
    0: "idle",
    1: "evaluation",
    2: "scheduled",
    3: "busy",
    4: "error",
    5: "aborted",
    6: "invalid",
    7: "complete",
}
_STAGE_PHASES = {
    0: JobPhase.QUEUED,
    1: JobPhase.SLEWING,
    2: JobPhase.SLEWING,
    5: JobPhase.ALIGNING,
    6: JobPhase.ALIGNING,
    7: JobPhase.SLEWING,
    8: JobPhase.SLEWING,
    13: JobPhase.CAPTURING,
}
_NO_NAME = "Target name is required"
_SIGNALS = (
    EkosSignal.SCHEDULER_LOG,
    EkosSignal.SCHEDULER_STATUS,
    EkosSignal.ALIGN_STATUS,
    EkosSignal.CAPTURE_STATUS,
    EkosSignal.MOUNT_STATUS,
)


@dataclass
class JobTracker:
    """The loaded job's phase, folded from scheduler log lines and status changes (pure).

    Phases only move forward; the first final phase (complete, failed, align failed) sticks.
    Structured state decides where it exists: the job's integer state and stage (3.7.1+), the
    Align, Capture and Mount status signals (every version). When the scheduler goes idle after
    running the job without the job's own state: Capture reported complete means the job
    completed, Align reported failed means it was not plate-solved, anything else failed. The
    English log lines only fill in what those did not say.
    """

    name: str = ""
    phase: JobPhase = JobPhase.QUEUED
    detail: str = ""
    started: bool = False
    was_running: bool = False
    seen: set[str] = field(default_factory=set)
    structured: bool = False  # jsonJobs decides; the scheduler status alone never fails it
    went_idle: bool = False
    align: AlignState | None = None  # the last Align status seen during this job
    capture_complete: bool = False  # Capture reported its sequence complete during this job

    def reset(self, name: str) -> None:
        """Follow a newly loaded job called ``name``."""
        self.name, self.phase, self.detail = name, JobPhase.QUEUED, ""
        self.started = self.was_running = self.went_idle = False
        self.align, self.capture_complete = None, False
        self.seen = set()

    @property
    def plate_solve_failed(self) -> bool:
        """Align's last word during this job was failed or aborted."""
        return self.align in (AlignState.FAILED, AlignState.ABORTED)

    def on_align(self, state: AlignState) -> None:
        """Take an Align status change (signal): whether the pointing was plate-solved."""
        if not self.started:
            return
        self.align = state
        if state is AlignState.COMPLETE:
            self._set(JobPhase.ALIGNING, "Align: plate solved (Align status complete)")
        elif self.plate_solve_failed:
            self._set(JobPhase.ALIGNING, f"Align: not plate-solved (Align status {state.value})")
        elif state in (AlignState.PROGRESS, AlignState.SUCCESSFUL, AlignState.SYNCING):
            self._set(JobPhase.ALIGNING, f"Align: {state.value}")

    def on_capture(self, state: CaptureState) -> None:
        """Take a Capture status change (signal; 3.7+: the main camera's)."""
        if not self.started or not self.was_running:
            return
        if state is CaptureState.COMPLETE:
            self.capture_complete = True
            self._set(JobPhase.CAPTURING, "Capture: the job's sequence is complete")
        elif state in (CaptureState.CAPTURING, CaptureState.PROGRESS):
            self._set(JobPhase.CAPTURING, f"Capture: {state.value}")

    def on_mount(self, state: MountStatus) -> None:
        """Take a Mount status change (signal)."""
        if self.started and self.was_running and state is MountStatus.SLEWING:
            self._set(JobPhase.SLEWING, "Mount: slewing to the target")

    @property
    def align_note(self) -> str:
        """What Align said during this job, for a final detail ("" when it said nothing)."""
        if self.align is AlignState.COMPLETE:
            return "; Align: plate solved"
        return "; Align: not plate-solved" if self.plate_solve_failed else ""

    def _ended_without_state(self, why: str) -> None:
        """The scheduler stopped running the job and nothing said how the job ended."""
        if self.capture_complete:
            self._set(JobPhase.COMPLETE, f"Capture reported complete, then {why}{self.align_note}")
        elif self.plate_solve_failed:
            self._set(JobPhase.ALIGN_FAILED, f"Align failed ({self.detail}), then {why}")
        else:
            self._set(
                JobPhase.FAILED,
                f"{why} before the job completed (last: {self.detail or 'nothing logged'})",
            )

    @property
    def progress(self) -> JobProgress:
        return JobProgress(self.phase, self.detail)

    def _set(self, phase: JobPhase, detail: str) -> None:
        if self.phase.is_final:
            return
        if phase.is_final or _RANK[phase] >= _RANK[self.phase]:
            self.phase = phase
        self.detail = detail

    def feed(self, line: str) -> None:
        """Take one scheduler log line (without its time stamp); repeated lines are ignored."""
        if not self.name or line in self.seen:
            return
        self.seen.add(line)
        quoted = f"'{self.name}'"
        if quoted in line:
            after = line.split(quoted, 1)[1].lower()
            for phrase, phase in _PHRASES:
                anchored = phrase.startswith("^")
                if after.startswith(phrase[1:]) if anchored else phrase in after:
                    self._set(phase, line)
                    return
            self._set(self.phase, line)
        elif self.started and (_QUEUE_EMPTY in line or _NO_NAME in line):
            self._set(JobPhase.FAILED, f"Ekos dropped the job without running it: {line}")

    def on_status(self, state: SchedulerState) -> None:
        """Take a scheduler status change (signal or poll)."""
        if not self.started:
            return
        if state is SchedulerState.RUNNING:
            self.was_running = True
        elif is_scheduler_idle(state) and self.was_running:
            self.went_idle = True
            if self.structured:
                return  # the job's own state (jsonJobs, read next) says how it ended
            self._ended_without_state(f"the scheduler became {state.value}")

    def on_json(self, job: Mapping[str, object] | None) -> None:
        """Take the job's entry of KStars 3.7.1+ ``jsonJobs`` (None: not in the queue)."""
        if job is None:
            if self.started and self.went_idle:
                self._set(JobPhase.FAILED, "Ekos dropped the job (not in jsonJobs)")
            return
        state, stage = _int(job.get("state")), _int(job.get("stage"))
        what = f"jsonJobs: state {state} ({_JOB_STATES.get(state, '?')}), stage {stage}"
        if state == 7 or stage == 14:
            self._set(JobPhase.COMPLETE, f"Ekos: the job is complete ({what}){self.align_note}")
        elif state in (4, 5, 6) and (self.plate_solve_failed or stage in (5, 6)):
            self._set(JobPhase.ALIGN_FAILED, f"Ekos ended the job while aligning ({what})")
        elif state in (4, 5, 6):
            self._set(JobPhase.FAILED, f"Ekos ended the job ({what})")
        elif self.started and self.went_idle:
            self._set(JobPhase.FAILED, f"the scheduler stopped before the job completed ({what})")
        else:
            self._set(_STAGE_PHASES.get(stage, self.phase), what)


def _int(value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        return -1


def _since(entries: list[str], marker: str | None) -> list[str]:
    """The log entries (newest first) written after ``marker``; all when it is gone (a new
    KStars, or a log that has rolled over)."""
    if marker is None or marker not in entries:
        return entries
    return entries[: entries.index(marker)]


def job_name_of(path: Path) -> str:
    """The ``<Name>`` of the single job in an .esl file.

    Raises:
        EkosCommandFailed: the file is unreadable or has not exactly one named job.
    """
    from lxml import etree

    try:
        root = etree.parse(str(path)).getroot()
    except (OSError, etree.XMLSyntaxError) as exc:
        raise EkosCommandFailed(f"Cannot read the schedule {path}: {exc}.") from exc
    names = [(job.findtext("Name") or "").strip() for job in root.iter("Job")]
    if len(names) != 1 or not names[0]:
        raise EkosCommandFailed(
            f"{path}: expected one named <Job>, found {len(names)}; run "
            "loads one job per event (ekos-occult render writes jobs/*.esl)."
        )
    return names[0]


def jnow_to_j2000(ra_hours: float, dec_deg: float, when: datetime) -> tuple[float, float]:
    """Ekos' JNow (apparent, true equator and equinox of date) → ICRS/J2000 degrees."""
    import astropy.units as u
    from astropy.coordinates import ICRS, TETE, SkyCoord
    from astropy.time import Time

    apparent = SkyCoord(
        ra=ra_hours * 15.0 * u.deg, dec=dec_deg * u.deg, frame=TETE(obstime=Time(when))
    )
    icrs = apparent.transform_to(ICRS())
    return float(icrs.ra.deg) % 360.0, float(icrs.dec.deg)


class KStarsLink:
    """The current :class:`EkosClient` of one bus address; replaced by :meth:`reconnect`."""

    def __init__(
        self,
        bus_address: str,
        *,
        timeout_s: float = 10.0,
        version: KStarsFormat = KStarsFormat.V3_6,
        make_client: Callable[..., EkosClient] = EkosClient,
    ) -> None:
        self.bus_address, self.timeout_s, self.version = bus_address, timeout_s, version
        self._make = make_client
        self._client: EkosClient | None = None

    @property
    def client(self) -> EkosClient:
        """The connected client (call :meth:`open` first)."""
        if self._client is None:
            raise EkosError("KStarsLink.open() was not called.")
        return self._client

    async def open(self) -> EkosClient:
        """Connect (once)."""
        if self._client is None:
            client = self._make(self.bus_address, timeout_s=self.timeout_s, version=self.version)
            await client.connect()
            self._client = client
        return self._client

    async def reconnect(self) -> EkosClient:
        """Drop the connection and make a new one (the bus may have been restarted)."""
        await self.close()
        return await self.open()

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            self.version = client.version
            await client.close()


class DBusEkosPort:
    """:class:`~ekos_occult.night.ports.EkosPort` on a running KStars/Ekos.

    Args:
        link: the shared connection (opened by the caller).
        camera: the recording camera's INDI name.
        clock: the time for the JNow → J2000 conversion.
        timeout_s: the longest any method may take (default: the link's call timeout).
        on_reattach: awaited with the new client after a reconnect (e.g. the Ekos-ready check,
            which may start Ekos); an EkosError from it means "not back yet".
        reattach_timeout_s: the longest one re-attach attempt may take.
    """

    def __init__(
        self,
        link: KStarsLink,
        camera: str,
        clock: Clock,
        *,
        timeout_s: float | None = None,
        on_reattach: Callable[[EkosClient], Awaitable[object]] | None = None,
        reattach_timeout_s: float = 120.0,
    ) -> None:
        self.link, self.camera, self.clock = link, camera, clock
        self.timeout_s = timeout_s or link.timeout_s
        self._on_reattach, self._reattach_timeout_s = on_reattach, reattach_timeout_s
        self.tracker = JobTracker()
        self._sub: Subscription | None = None
        self._log_marker: str | None = None

    async def _bounded(self, what: str, coro: Awaitable[T], limit: float | None = None) -> T:
        limit = limit or self.timeout_s
        try:
            return await asyncio.wait_for(coro, limit)
        except asyncio.TimeoutError as exc:
            raise EkosTimeout(f"Ekos did not complete {what} within {limit:g} s.") from exc

    def _on_event(self, event: EkosEvent) -> None:
        value, t = event.value, self.tracker
        if event.signal is EkosSignal.SCHEDULER_LOG and isinstance(value, str):
            t.feed(value)
        elif isinstance(value, SchedulerState):
            t.on_status(value)
        elif isinstance(value, AlignState):
            t.on_align(value)
        elif isinstance(value, CaptureState):
            t.on_capture(value)
        elif isinstance(value, MountStatus):
            t.on_mount(value)

    async def subscribe(self) -> None:
        """Listen to the scheduler's log and status (again, after a reconnect)."""
        if self._sub is not None:
            try:
                await self._sub.close()
            except EkosError:
                pass  # the old connection is gone
        self._sub = await self.link.client.subscribe(self._on_event, *_SIGNALS)

    async def close(self) -> None:
        """Stop listening (the link is closed by its owner)."""
        sub, self._sub = self._sub, None
        if sub is not None:
            try:
                await sub.close()
            except EkosError:
                pass

    # ------------------------------------------------------------------ scheduler
    async def load_job(self, path: Path) -> None:
        """Load a single-job .esl into the idle scheduler (refused while it runs)."""
        await self._bounded("loading the job", self._load(path))

    async def _load(self, path: Path) -> None:
        name = job_name_of(path)
        c = self.link.client
        state = await c.scheduler_status()
        if not is_scheduler_idle(state):
            raise EkosCommandFailed(
                f"The Ekos scheduler is {state.value}: a schedule is loaded only while it is "
                "idle (loading while it runs makes Ekos capture without slewing)."
            )
        await c.remove_all_jobs()
        # The scheduler's log survives loads: remember its newest line, so that lines of an
        # earlier run of the same job ("... is complete.") are not taken for this one's.
        self._log_marker = next(iter(await c.scheduler_log()), None)
        self.tracker.reset(name)
        # 3.7.1+: the job's integer state decides, not (translated) log lines (probed here,
        # before the status signals of this run arrive).
        self.tracker.structured = await c.scheduler_jobs() is not None
        if not await c.load_schedule(path):
            log = await c.scheduler_log()
            raise EkosCommandFailed(
                f"Ekos refused the schedule {path}; its log says: " + " | ".join(log[:5])
            )

    async def start_scheduler(self) -> None:
        self.tracker.started = True
        await self._bounded("starting the scheduler", self.link.client.start_scheduler())

    async def stop_scheduler(self) -> None:
        await self._bounded("stopping the scheduler", self.link.client.stop_scheduler())

    async def scheduler_state(self) -> SchedulerState:
        return await self._bounded(
            "reading the scheduler state", self.link.client.scheduler_status()
        )

    async def job_progress(self) -> JobProgress:
        """The job's phase from the signals seen, the scheduler log and the scheduler state."""
        return await self._bounded("reading the job progress", self._progress())

    async def _progress(self) -> JobProgress:
        c, t = self.link.client, self.tracker
        if t.phase.is_final:
            return t.progress
        jobs = await c.scheduler_jobs()
        if jobs is not None:  # 3.7.1+: integer state and stage, whatever the language
            t.structured = True
            t.on_status(await c.scheduler_status())
            current = await c.scheduler_current_job()
            if current is not None and str(current.get("name", "")) == t.name:
                t.on_json(current)  # the running job, as the scheduler holds it now
            else:  # not running (any more): its entry in the queue
                t.on_json(next((j for j in jobs if str(j.get("name", "")) == t.name), None))
            return t.progress
        # Catch up on lines whose signals were missed (e.g. across a re-attach); only lines
        # naming the job count, the log may hold older jobs' generic lines.
        for entry in reversed(_since(await c.scheduler_log(), self._log_marker)):
            line = entry.split(" ", 1)[1] if entry[:4].isdigit() and " " in entry else entry
            if f"'{t.name}'" in line:
                t.feed(line)
        t.on_status(await c.scheduler_status())
        return t.progress

    # ------------------------------------------------------------------ capture, mount, camera
    async def is_capture_idle(self) -> bool:
        state = await self._bounded("reading the capture state", self.link.client.capture_status())
        return state in _IDLE_CAPTURE

    async def abort_capture(self) -> None:
        await self._bounded("aborting the capture", self.link.client.abort_capture())

    async def mount_state(self) -> MountState:
        """Mount status and pointing in J2000 degrees (None when Ekos cannot tell)."""
        return await self._bounded("reading the mount", self._mount())

    async def _mount(self) -> MountState:
        c = self.link.client
        status = await c.mount_status()
        try:
            ra_h, dec = await c.mount_equatorial()
        except EkosCommandFailed:
            return MountState(status)
        if status in (MountStatus.ERROR, MountStatus.UNKNOWN):
            return MountState(status)
        ra_deg, dec_deg = await asyncio.to_thread(jnow_to_j2000, ra_h, dec, self.clock.now())
        return MountState(status, ra_deg, dec_deg)

    async def park_mount(self) -> None:
        """Start parking the mount (Ekos' Mount ``park``); the mount then parks on its own."""
        await self._bounded("parking the mount", self.link.client.park_mount())

    async def is_camera_connected(self) -> bool:
        return await self._bounded("reading the camera connection", self._camera_connected())

    async def _camera_connected(self) -> bool:
        try:
            return await self.link.client.is_device_connected(self.camera)
        except EkosCommandFailed:
            return False  # KStars no longer knows the device

    # ------------------------------------------------------------------ re-attach
    async def reattach(self) -> bool:
        """One attempt to talk to KStars again; False (never an error) when it is not back."""
        try:
            return await self._bounded("re-attaching", self._reattach(), self._reattach_timeout_s)
        except EkosError:
            return False

    async def _reattach(self) -> bool:
        client = await self.link.reconnect()
        if not await client.is_running():
            return False
        if self._on_reattach is not None:
            await self._on_reattach(client)
        await client.scheduler_status()  # every module the night uses answers
        await client.capture_status()
        await client.mount_status()
        await self.subscribe()
        return True
