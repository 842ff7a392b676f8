"""The ``run`` use case: the unattended night. Ekos runs each event's job, we record each event.

Plans the events (CSV, occelmnt, or a night folder of an earlier run, which keeps
``events.csv``), checks that KStars' settings will not end the night after the first event,
makes sure Ekos is ready, renders one single-job .esl per event into the night folder and
supervises the night with :class:`~ekos_occult.night.runner.NightRunner` on the system clock:
recordings under ``<night>/recordings``, the journal at ``<night>/journal.jsonl`` (a restarted
run skips what is already recorded). Cancelling the task (Ctrl-C, SIGTERM) stops any recording
cleanly and closes the journal.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ekos_occult.app.planning import PlanOptions, Say, quiet
from ekos_occult.errors import ConfigError

if TYPE_CHECKING:
    from ekos_occult.kstars.client import EkosClient
    from ekos_occult.kstars.readiness import ReadyReport
    from ekos_occult.kstars.scheduleroptions import SavedOptions
    from ekos_occult.model import Plan, PlannedEvent
    from ekos_occult.night.ekosport import KStarsLink
    from ekos_occult.night.ports import JournalSink
    from ekos_occult.night.runner import EventResult
    from ekos_occult.settings import Settings

__all__ = [
    "RunRequest",
    "DryRunEvent",
    "DryRun",
    "NightDone",
    "Observers",
    "events_and_folder",
    "run_night",
]

Roi = tuple[int, int, int, int]
Observers = Callable[[Callable[[], datetime]], Sequence["JournalSink"]]
"""Makes the sinks fed every journal entry besides the journal (live view, log lines), given
the night's clock."""


@dataclass(frozen=True)
class RunRequest:
    """What ``ekos-occult run`` was asked.

    Attributes:
        plan: the events (a file, or a night folder of an earlier run) and how to plan them.
        out_dir: the night folder (``--out``); None: the folder given, else
            ``<out_dir or user data>/<night>``.
        bus: KStars' D-Bus address (None: ``$DBUS_SESSION_BUS_ADDRESS``, else a sandbox's).
        kstarsrc: KStars' settings file (None: the one of the KStars on the bus).
        start_ekos: open Ekos and start the configured profile if it is not running.
        dry_run: say what would be done and when; nothing is sent to Ekos or written.
        roi: the recording subframe ``(x, y, w, h)`` in pixels; None: full frame.
    """

    plan: PlanOptions
    out_dir: Path | None = None
    bus: str | None = None
    kstarsrc: Path | None = None
    start_ekos: bool = False
    dry_run: bool = False
    roi: Roi | None = None


@dataclass(frozen=True)
class DryRunEvent:
    """One event of a dry run: why it is skipped (reason, detail), or its steps
    ``(UTC time, what)``."""

    name: str
    skipped: str | None
    detail: str = ""
    steps: tuple[tuple[datetime, str], ...] = ()


@dataclass(frozen=True)
class DryRun:
    """What ``run --dry-run`` would do, event by event."""

    plan: Plan
    night: Path
    events: tuple[DryRunEvent, ...]


@dataclass(frozen=True)
class NightDone:
    """How each event ended, the night folder, and what failed writing the journal (None:
    nothing; the entries concerned were printed on stderr)."""

    night: Path
    results: tuple[EventResult, ...]
    journal_failure: str | None = None


def events_and_folder(events: str) -> tuple[Path, Path | None]:
    """The events file to plan, and the night folder when one was given instead of a file.

    Raises:
        ConfigError: ``-`` (the night folder must keep a copy), or a folder without events.
    """
    from ekos_occult.ekosfiles.nightfolder import EVENTS_COPY

    given = Path(events).expanduser()
    if events == "-":
        raise ConfigError(
            "run needs an events file (not '-'): the night folder keeps a copy "
            "of it so that a restarted run can carry on."
        )
    if not given.is_dir():
        return given, None
    csv = given / EVENTS_COPY
    if not csv.is_file() and any(f.suffix.lower() == ".xml" for f in given.iterdir()):
        return given, None  # a folder of occelmnt predictions
    if not csv.is_file():
        raise ConfigError(
            f"{given} is a folder without {EVENTS_COPY}: give the events CSV "
            f"(run keeps a copy as {EVENTS_COPY} in the night folder it writes)."
        )
    return csv, given.absolute()


def run_night(
    request: RunRequest,
    settings: Settings,
    say: Say = quiet,
    observers: Observers | None = None,
) -> DryRun | NightDone:
    """Plan, check, render and supervise the night (or only say how it would go).

    Raises:
        ConfigError: bad options, or KStars settings that would end the night.
        CsvFormatError: problems in the events file.
        EkosError: KStars/Ekos not reachable or not ready.
        RecordingError: the night folder or journal cannot be used.
    """
    import asyncio
    import dataclasses
    import os

    from ekos_occult.app.planning import build_plan
    from ekos_occult.ekosfiles.nightfolder import night_dir
    from ekos_occult.ekosfiles.render import night_label
    from ekos_occult.kstars.sandbox import resolve_bus_address
    from ekos_occult.night.ekosport import KStarsLink

    csv, folder = events_and_folder(request.plan.events)
    plan = build_plan(dataclasses.replace(request.plan, events=str(csv)), settings)
    for warning in plan.warnings:
        say(f"warning: {warning}")
    night = night_dir(request.out_dir, settings, night_label(plan), folder)
    if request.dry_run:
        return dry_run(plan, night, settings, request.roi)
    bus = resolve_bus_address(request.bus, os.environ, settings.sandbox_dir)
    kstarsrc = _refuse_night_enders(request.kstarsrc, settings, bus)
    link = KStarsLink(bus, timeout_s=settings.ekos.call_timeout_s)

    async def night_main() -> tuple[list[EventResult], str | None]:
        try:
            return await _night(request, settings, plan, link, csv, night, say, observers, kstarsrc)
        finally:
            await link.close()

    results, journal_failure = asyncio.run(night_main())
    return NightDone(night, tuple(results), journal_failure)


def _refuse_night_enders(kstarsrc: Path | None, settings: Settings, bus: str) -> Path:
    """Stop before anything happens when KStars' settings would end the night after one job.

    Returns:
        The kstarsrc read (the one of the KStars on the bus, or ``--kstarsrc``).
    """
    from ekos_occult.app.check import kstarsrc_path
    from ekos_occult.kstars.readiness import kstars_settings_checks, night_ending, read_kstarsrc

    path = kstarsrc_path(kstarsrc, settings, bus)
    try:
        enders = night_ending(kstars_settings_checks(read_kstarsrc(path), path))
    except OSError as exc:
        raise ConfigError(
            f"Cannot read KStars' settings {path}: {exc}; give --kstarsrc PATH."
        ) from exc
    if enders:
        lines = "\n".join(f"  {c.detail}\n  fix: {c.fix}" for c in enders)
        raise ConfigError(
            "KStars' settings would end the night after the first event:\n"
            f"{lines}\n(`ekos-occult check` lists every setting.)"
        )
    return path


def _write_jobs(
    plan: Plan, settings: Settings, report: ReadyReport, night: Path
) -> dict[str, Path]:
    """Render and write one single-job .esl (and its .esq) per scheduled event, all of them
    or none (one :func:`~ekos_occult.files.write_tree`: a full disk leaves no job written)."""
    from pathlib import PurePath

    from ekos_occult.ekosfiles.render import render_single_job
    from ekos_occult.files import write_tree

    files: list[tuple[PurePath, str]] = []
    schedules: dict[str, Path] = {}
    for ev in plan.scheduled:
        rendered = render_single_job(  # ASAP: run starts each job itself, at its time
            plan, settings, ev, version=report.file_format, night_dir=night, tz=report.tz, asap=True
        )
        files += [(f.relpath, f.text) for f in rendered.files]  # its .esl last
        schedules[ev.name] = night / rendered.files[-1].relpath
    write_tree(night, files)
    return schedules


async def _ready(client: EkosClient, settings: Settings, start_ekos: bool) -> ReadyReport:
    from ekos_occult.kstars.readiness import ensure_ekos_ready

    return await ensure_ekos_ready(client, settings, start_ekos=start_ekos)


def _say_ready(report: ReadyReport, say: Say) -> None:
    say(
        f"Ekos ready: {report.version_text}; camera {report.camera}; KStars local time "
        f"UTC{report.location.tz_hours:+g} h."
    )
    for note in report.notes:
        say(f"note: {note}")


def _say_remote(report: ReadyReport, settings: Settings, say: Say) -> None:
    """With INDI on another host: how its recordings will be verified."""
    server, mount = report.indi_server, settings.indi.mount
    if server is None or server.is_local:
        return
    if mount is not None:
        say(
            f"note: INDI on {server.host} records into {settings.indi.on_host}, mounted here at "
            f"{mount}: each file is verified through the mount"
        )
    else:
        say(
            f"note: the recordings stay on {server.host}: each is judged by INDI's own report "
            "(the frames it recorded), its timestamps are not read here, and the free space "
            "there cannot be checked ([indi] remote_record_dir: verify them through a mount)"
        )


async def _night(
    request: RunRequest,
    settings: Settings,
    plan: Plan,
    link: KStarsLink,
    csv: Path,
    night: Path,
    say: Say,
    observers: Observers | None,
    kstarsrc: Path,
) -> tuple[list[EventResult], str | None]:
    """Everything that needs Ekos: readiness, job files, the supervised night, and the user's
    scheduler options put back after it (also on an error or Ctrl-C).

    Returns how each event ended and what failed writing the journal (None: nothing).
    """
    from ekos_occult.app.events import keep_events
    from ekos_occult.clock import SystemClock
    from ekos_occult.ekosfiles.nightfolder import JOBS, JOURNAL, RECORDINGS
    from ekos_occult.kstars.readiness import settings_for_camera
    from ekos_occult.night.ekosport import DBusEkosPort
    from ekos_occult.night.journal import Journal, read_journal
    from ekos_occult.night.optionsguard import scheduler_options_kept
    from ekos_occult.night.recorder import IndiStreamRecorder, check_record_directory
    from ekos_occult.night.records import Limits
    from ekos_occult.night.runner import NightRunner
    from ekos_occult.night.timesync import KernelClockReader

    clock = SystemClock()
    start_ekos = request.start_ekos
    report = await _ready(await link.open(), settings, start_ekos)
    link.version = report.file_format
    settings, note = settings_for_camera(settings, report)  # the camera's own <Format> label
    if note:
        report = replace(report, notes=(*report.notes, note))
    _say_ready(report, say)
    _say_remote(report, settings, say)
    check_record_directory(night / RECORDINGS)
    keep_events(csv, night)
    job_files = _write_jobs(plan, settings, report, night)
    port = DBusEkosPort(
        link, report.camera, clock, on_reattach=lambda c: _ready(c, settings, start_ekos)
    )
    await port.subscribe()
    recorder = IndiStreamRecorder(
        lambda: link.client,
        report.camera,
        timeout_s=settings.ekos.call_timeout_s,
        indi_server=report.indi_server,  # on another host, the SER is written there
        mount=settings.indi.mount,  # ... and read here through its mount, when there is one
        dir_on_host=settings.indi.on_host,
    )
    journal = Journal(night / JOURNAL, now=clock.now).open()  # cuts off a torn tail
    runner = NightRunner(
        plan,
        ekos=port,
        recorder=recorder,
        clock=clock,
        journal=journal,
        job_files=job_files,
        recordings_dir=night / RECORDINGS,
        limits=Limits.from_settings(settings.run),
        roi=request.roi,
        previous=read_journal(night / JOURNAL),
        observers=observers(clock.now) if observers else (),
        clock_sync=KernelClockReader(),
        max_clock_error_s=settings.camera.max_clock_error_s,
        camera=settings.camera,
    )
    saved = _saved_options(kstarsrc, report, say)
    try:
        async with scheduler_options_kept(lambda: link.client, saved, night / JOBS, say):
            return await _cancellable(runner.run()), journal.failure
    finally:
        journal.close()  # never raises; the runner closed it already unless it crashed
        await recorder.close_watch()  # an INDI listener left by an interrupted recording
        await port.close()


def _saved_options(kstarsrc: Path, report: ReadyReport, say: Say) -> SavedOptions | None:
    """The user's scheduler options our schedules rewrite, read now to be put back after."""
    from ekos_occult.kstars.scheduleroptions import keys_changed_by_loading, save_options

    try:
        saved = save_options(kstarsrc, report.file_format, report.kstars_version)
    except OSError as exc:
        say(
            f"warning: {kstarsrc}: the scheduler options cannot be read ({exc}), so they cannot "
            "be put back after the night: check them in the scheduler's options then"
        )
        return None
    keys = ", ".join(keys_changed_by_loading(report.file_format, report.kstars_version))
    say(
        f"note: the scheduler options our schedules change ({keys}) were read from {kstarsrc} "
        "and will be put back after the night, also on Ctrl-C (KStars does not publish them "
        "over D-Bus)"
    )
    return saved


async def _cancellable(coro: Any) -> list[EventResult]:
    """Run the night; SIGTERM cancels it like Ctrl-C (the runner then stops cleanly)."""
    import asyncio
    import signal

    task = asyncio.ensure_future(coro)
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
    except (NotImplementedError, RuntimeError):  # not the main thread (tests)
        pass
    try:
        result: list[EventResult] = await task
        return result
    finally:
        try:
            loop.remove_signal_handler(signal.SIGTERM)
        except (NotImplementedError, RuntimeError):
            pass


def dry_run(plan: Plan, night: Path, settings: Settings, roi: Roi | None) -> DryRun:
    """How the night would go, with the limits of ``settings.run`` (pre-roll ...)."""
    from ekos_occult.ekosfiles.nightfolder import JOBS, RECORDINGS
    from ekos_occult.night.actions import recording_request
    from ekos_occult.night.records import Limits
    from ekos_occult.night.runner import make_job

    limits = Limits.from_settings(settings.run)
    events: list[DryRunEvent] = []
    for ev in plan.events:
        if not ev.is_scheduled:
            reason = ev.reason.value if ev.reason else ev.status.value
            events.append(DryRunEvent(ev.name, reason, ev.detail))
            continue
        job = make_job(ev, night / JOBS / "<job>.esl")
        req = recording_request(job, night / RECORDINGS, roi)
        steps = _steps(ev, req.stem, req.duration_s, limits.stream_preroll_s, roi)
        events.append(DryRunEvent(ev.name, None, steps=tuple(steps)))
    return DryRun(plan, night, tuple(events))


def _steps(
    ev: PlannedEvent, stem: str, duration_s: float, preroll_s: float, roi: Roi | None
) -> list[tuple[datetime, str]]:
    from ekos_occult.ekosfiles.nightfolder import RECORDINGS
    from ekos_occult.night.recorder import record_file_name

    start, end = ev.event.record_start, ev.event.record_end
    frame = "full frame" if roi is None else "ROI {},{} {}x{}".format(*roi)
    return [
        (
            ev.job_start,
            "load this event's one-job .esl into the idle scheduler and start it "
            "(Ekos slews, tracks, takes the control frame)",
        ),
        (
            start - timedelta(seconds=preroll_s),
            f"stream on: {ev.exposure_s:g} s exposures, "
            f"{frame}, file {RECORDINGS}/{record_file_name(stem)} (INDI adds the time)",
        ),
        (start, f"record {duration_s:g} s (scheduler idle, capture idle, mount tracking)"),
        (end, "stream off; check the SER: frames, timestamps, gaps; journal the outcome"),
    ]
