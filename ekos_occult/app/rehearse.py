"""The ``rehearse`` use case: tonight's plan, run now on the sandbox, with simulated occultations.

On the sandbox only (started if needed; refused on any other bus, so never on a real rig):
the night's scheduled events are re-timed to run one after another from a few minutes from now
(:func:`ekos_occult.night.rehearsal.retime`), the sandbox simulates one occultation per event
(:func:`~ekos_occult.night.rehearsal.injected`), the night runs exactly as ``run`` runs it
(same settings, Align included), every recording is reduced like ``reduce`` does, and the
measured D/R are set beside the injected ones.

Timestamps: the SER frames carry INDI's stamps (host clock, taken when a streamed frame
arrives, i.e. at the end of its exposure); D and R are given for the start of exposure with
``reduce``'s default correction and no ``--latency`` (the camera's model from ``[camera]``: for
the sandbox's CCD Simulator, which samples the sky at one instant per frame, each frame is
dated midway between its sample instant and the previous one; see ``docs/timing.md``), the
night journal saying what stamped the frames, and the report says how much and why.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ekos_occult.app.night import Observers, RunRequest
from ekos_occult.app.planning import PlanOptions, Say, quiet
from ekos_occult.errors import ConfigError

if TYPE_CHECKING:
    from ekos_occult.kstars.sandbox_layout import SandboxState
    from ekos_occult.kstars.sky import Occultation
    from ekos_occult.model import PlannedEvent
    from ekos_occult.night.rehearsal import Comparison
    from ekos_occult.night.runner import EventResult
    from ekos_occult.settings import Settings

__all__ = ["RehearseRequest", "EventRehearsal", "RehearsalDone", "rehearse"]

Roi = tuple[int, int, int, int]


@dataclass(frozen=True)
class RehearseRequest:
    """What ``ekos-occult rehearse`` was asked.

    Attributes:
        plan: the night's events and how to plan them (at their real times).
        out_dir: the rehearsal's night folder; None: ``<nights>/rehearsal-<UTC now>``.
        bus: must be the sandbox's bus when given (anything else is refused).
        kstarsrc: KStars' settings file (None: the sandbox's).
        roi: the recording subframe; None: full frame.
        start_in_s: the first event's Ekos job starts this long from now.
    """

    plan: PlanOptions
    out_dir: Path | None = None
    bus: str | None = None
    kstarsrc: Path | None = None
    roi: Roi | None = None
    start_in_s: float = 120.0


@dataclass(frozen=True)
class EventRehearsal:
    """One rehearsed event: what happened, the truth, what was measured."""

    event: PlannedEvent
    result: EventResult | None
    aligned: bool
    truth: Occultation
    measured_d: datetime | None
    measured_r: datetime | None
    comparison: Comparison
    latency_s: float
    frame_s: float
    """The recording's frame (seconds): the longer of the exposure and the median interval
    between its frames (a camera that cannot keep up with the exposure, e.g. the CCD
    Simulator under load, gives slower frames); differences in frames are in this unit."""
    note: str = ""
    stamps_why: str = ""

    @property
    def recorded(self) -> bool:
        return self.result is not None and self.result.outcome.value == "recorded"

    @property
    def timed(self) -> bool:
        """Recorded, and both edges within one frame of the truth."""
        return self.recorded and self.comparison.within(1.0)

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` shape: name, file, aligned, outcome, truth {D, R}, measured {D, R}."""
        r, c = self.result, self.comparison
        return {
            "name": self.event.name,
            "file": str(r.file) if r is not None and r.file else None,
            "aligned": self.aligned,
            "outcome": r.outcome.value if r is not None else "not run",
            "reason": r.reason.value if r is not None and r.reason else None,
            "flags": list(r.flags) if r is not None else [],
            "exposure_s": self.event.exposure_s,
            "frame_s": self.frame_s,
            "truth": {
                "D": _iso(self.truth.d_utc),
                "R": _iso(self.truth.r_utc),
                "drop_mag": self.truth.drop_mag,
            },
            "measured": {"D": _iso(self.measured_d), "R": _iso(self.measured_r)},
            "difference_s": {"D": c.d_s, "R": c.r_s},
            "difference_frames": {"D": c.d_frames, "R": c.r_frames},
            "latency_s": self.latency_s,
            "timestamps": self.stamps_why
            or "INDI's (host write time); reduce's default correction for the start of exposure",
            "timed": self.timed,
            "note": self.note,
        }


@dataclass(frozen=True)
class RehearsalDone:
    """The rehearsal: its night folder, each event, and what failed writing the journal."""

    night: Path
    events: tuple[EventRehearsal, ...]
    journal_failure: str | None = None

    @property
    def ok(self) -> bool:
        """Every event recorded and timed within one frame."""
        return bool(self.events) and all(e.timed for e in self.events)


def _iso(t: datetime | None) -> str | None:
    if t is None:
        return None
    return t.astimezone(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _utc(text: str | None) -> datetime | None:
    if text is None:
        return None
    t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def _sandbox(request: RehearseRequest, settings: Settings, say: Say) -> SandboxState:
    """The running sandbox (started when needed); refuse any bus that is not a sandbox's."""
    import asyncio
    import os

    from ekos_occult.kstars import sandbox

    state_dir = settings.sandbox_dir or sandbox.default_state_dir()
    state = sandbox.read_state(state_dir)
    if state is None or not state.is_running():
        if request.bus:
            raise ConfigError(
                f"--bus {request.bus}: rehearse runs only on the sandbox (it moves the mount "
                f"and fakes occultations), and no sandbox is running in {state_dir}."
            )
        say(f"Starting the sandbox in {state_dir} ...")
        site = settings.site or sandbox.DEFAULT_SITE
        state, _ = asyncio.run(
            sandbox.start(
                state_dir, site, dict(os.environ), profile=settings.ekos.profile, progress=say
            )
        )
    if request.bus and request.bus != state.bus_address:
        raise ConfigError(
            f"--bus {request.bus} is not the sandbox's bus ({state.bus_address}): rehearse "
            "runs only on the sandbox, never on a real rig."
        )
    if not state.sky:
        raise ConfigError(
            f"The sandbox in {state.state_dir} draws noise (started with --no-sky): Align "
            "cannot solve and no occultation can be simulated. Stop it and start it again "
            "without --no-sky."
        )
    return state


def _aligned(journal: Path, name: str, steps: tuple[str, ...]) -> bool:
    """Whether Ekos plate-solved this event's pointing: Align ran, nothing flagged it not
    plate-solved, and the job went past it (completed, or reached its capture: Ekos starts a
    job's capture only once its Align step succeeded; a job stopped for the recording while
    capturing its control frame was still aligned)."""
    from ekos_occult.night.journal import read_journal
    from ekos_occult.night.supervisor import NOT_PLATE_SOLVED

    if "Align" not in steps:
        return False
    phases: set[str] = set()
    flags: list[str] = []
    for e in read_journal(journal):
        if e.get("name") != name:
            continue
        if e["type"] == "progress":
            phases.add(str(e["phase"]))
        flags += e.get("flags") or []
    solved = not any(str(f).startswith(NOT_PLATE_SOLVED) for f in flags)
    return "aligning" in phases and bool(phases & {"capturing", "complete"}) and solved


def _measure(
    path: Path, journal: Path, settings: Settings
) -> tuple[datetime | None, datetime | None, str, float, str, float | None]:
    """D, R, a note, the correction applied (nominal, seconds), why, and the recording's median
    frame interval (seconds; None when unread), measured as ``reduce`` measures them with no
    ``--latency``: the night journal's provenance and the camera's acquisition delay model."""
    from ekos_occult.app.recording import recording_provenance
    from ekos_occult.errors import OccultError
    from ekos_occult.reduce.reduction import ReduceOptions, reduce_file, to_dict

    try:
        opts = ReduceOptions(provenance=recording_provenance(path, journal), camera=settings.camera)
        d = to_dict(reduce_file(path, opts))
    except OccultError as exc:
        return None, None, str(exc), 0.0, "", None
    applied = float(d["latency_s"] or 0.0)
    why = str(d["timestamps"]["why"]) if d.get("timestamps") else ""
    cadence = float(d["cadence_s"]) if d.get("cadence_s") else None
    if not d["event"]:
        return None, None, "no event found in the light curve", applied, why, cadence
    return _utc(d["D"]), _utc(d["R"]), "", applied, why, cadence


def rehearse(
    request: RehearseRequest,
    settings: Settings,
    say: Say = quiet,
    observers: Observers | None = None,
) -> RehearsalDone:
    """Rehearse the night on the sandbox.

    Raises:
        ConfigError: a bus that is not the sandbox's, a sandbox without stars, nothing
            scheduled, or KStars settings that would end the night.
        CsvFormatError: problems in the events file.
        EkosError: the sandbox's KStars not reachable or not ready.
        SandboxError: the sandbox could not start.
    """
    import asyncio

    from ekos_occult.app.night import _night, _refuse_night_enders
    from ekos_occult.app.planning import build_plan
    from ekos_occult.clock import SystemClock
    from ekos_occult.ekosfiles.nightfolder import JOURNAL, night_dir
    from ekos_occult.kstars import sky
    from ekos_occult.night.ekosport import KStarsLink
    from ekos_occult.night.rehearsal import compare, injected, recording_frame_s, retime

    plan = build_plan(request.plan, settings)
    for warning in plan.warnings:
        say(f"warning: {warning}")
    if not plan.scheduled:
        raise ConfigError(
            f"{request.plan.events}: no event of the night is scheduled: nothing to rehearse."
        )
    state = _sandbox(request, settings, say)
    now = SystemClock().now()
    rehearsal, _ = retime(plan, now + timedelta(seconds=request.start_in_s))
    truths = {ev.name: injected(ev) for ev in rehearsal.events}
    sky.write_occultations(state.sky_files, list(truths.values()))
    night = night_dir(request.out_dir, settings, f"rehearsal-{now:%Y%m%dT%H%M%SZ}")
    say(
        f"Rehearsing {len(rehearsal.events)} event(s) on the sandbox from "
        f"{rehearsal.events[0].job_start:%H:%M:%S} UTC; night folder {night}"
    )
    kstarsrc = _refuse_night_enders(request.kstarsrc, settings, state.bus_address)
    run_request = RunRequest(
        dataclasses.replace(request.plan),
        out_dir=night,
        bus=state.bus_address,
        kstarsrc=request.kstarsrc,
        start_ekos=True,
        roi=request.roi,
    )
    link = KStarsLink(state.bus_address, timeout_s=settings.ekos.call_timeout_s)

    async def night_main() -> tuple[list[EventResult], str | None]:
        try:
            return await _night(
                run_request, settings, rehearsal, link, Path(request.plan.events), night, say,
                observers, kstarsrc,
            )  # fmt: skip
        finally:
            await link.close()

    done, journal_failure = asyncio.run(night_main())
    results = {r.name: r for r in done}
    events = []
    for ev in rehearsal.events:
        res = results.get(ev.name)
        latency, why, cadence = 0.0, "", None
        if res is not None and res.file is not None:
            d, r, note, latency, why, cadence = _measure(res.file, night / JOURNAL, settings)
        else:
            d, r, note = None, None, "no recording"
        truth = truths[ev.name]
        frame_s = recording_frame_s(ev.exposure_s, cadence)
        events.append(
            EventRehearsal(
                ev,
                res,
                _aligned(night / JOURNAL, ev.name, settings.ekos.steps),
                truth,
                d,
                r,
                compare(truth, d, r, frame_s),
                latency,
                frame_s,
                note,
                why,
            )
        )
    return RehearsalDone(night, tuple(events), journal_failure)
