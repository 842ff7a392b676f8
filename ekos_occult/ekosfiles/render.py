"""Plan + Settings → Ekos scheduler list (.esl) and capture sequence (.esq) texts, checked.

Pure: no files are read or written here (templates come from the installed package), and no
clock is read. Jinja templates in ``templates/`` are the only producer of Ekos XML; every output
is parsed back (:mod:`ekos_occult.ekosfiles.render_check`) and compared with the plan before it is
returned.
Two formats: ``"3.6"`` (KStars 3.6.x, Debian/Ubuntu) and ``"3.7"`` (KStars 3.7 and newer).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from datetime import datetime, timezone, tzinfo
from decimal import Decimal
from importlib import resources
from pathlib import PurePath, PurePosixPath
from typing import Any

import jinja2
from markupsafe import Markup

from ekos_occult.ekosfiles.formats import KStarsFormat
from ekos_occult.ekosfiles.jobs import (
    STEP_SECONDS,
    JobSpec,
    build_jobs,
    night_label,
    spacing_notes,
)
from ekos_occult.ekosfiles.nightfolder import CAPTURES, JOBS
from ekos_occult.ekosfiles.render_check import check_rendered
from ekos_occult.ekosfiles.rendered import RenderedFile, RenderedNight
from ekos_occult.errors import RenderError
from ekos_occult.model import Plan, PlannedEvent
from ekos_occult.settings import Settings

__all__ = [
    "render_options_restore",
    "template_environment",
    "lilxml_escape",
    "night_label",
    "build_jobs",
    "spacing_notes",
    "render_night",
    "render_single_job",
]

PRIORITY = 10
"""Priority written to 3.6 jobs (KStars' own default; all our jobs start at fixed times)."""
GAIN_PROPERTIES = (("CCD_GAIN", "GAIN"), ("CCD_CONTROLS", "Gain"))
"""INDI gain properties: drivers use one or the other; Ekos applies the one the camera has."""
FULL_FRAME = {KStarsFormat.V3_6: (0, 0, 100_000, 100_000), KStarsFormat.V3_7: (0, 0, 0, 0)}
"""The <Frame> written when no ROI is configured. KStars 3.6 clamps the values into its frame
boxes, so an oversize width/height gives the full sensor, while 0 gives a 1x1 pixel frame and an
omitted <Frame> keeps the previous sequence's ROI (both seen on KStars 3.6.2). KStars 3.7+ reads
a 0x0 <Frame> as "leave the frame as it is": the camera keeps whatever frame it has (the full
sensor unless something set a subframe before), it is not reset to the full frame."""

_TEMPLATES = {
    KStarsFormat.V3_6: ("scheduler-3.6.esl.j2", "sequence-3.6.esq.j2"),
    KStarsFormat.V3_7: ("scheduler-3.7.esl.j2", "sequence-3.7.esq.j2"),
}


def lilxml_escape(value: object) -> Markup:
    """Escape text for Ekos' XML parser (INDI lilxml).

    lilxml decodes only the five named entities, not numeric references such as ``&#39;``
    (MarkupSafe's form), so Jinja's output goes through this function (``finalize``).
    """
    if isinstance(value, Markup):
        return value
    text = str(value)
    for raw, entity in (
        ("&", "&amp;"),
        ("<", "&lt;"),
        (">", "&gt;"),
        ("'", "&apos;"),
        ('"', "&quot;"),
    ):
        text = text.replace(raw, entity)
    return Markup(text)


class _PackageTemplates(jinja2.BaseLoader):
    """Templates from the installed ``ekos_occult.templates`` package, via importlib.resources."""

    _package = "ekos_occult.templates"

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str | None, None]:
        resource = resources.files(self._package).joinpath(template)
        if not template.endswith(".j2") or not resource.is_file():
            raise jinja2.TemplateNotFound(template)
        return resource.read_text(encoding="utf-8"), None, None

    def list_templates(self) -> list[str]:
        entries = resources.files(self._package).iterdir()
        return sorted(entry.name for entry in entries if entry.name.endswith(".j2"))


def template_environment(loader: jinja2.BaseLoader | None = None) -> jinja2.Environment:
    """The Jinja environment: templates from the installed package, autoescape on, strict.

    Args:
        loader: another loader (tests use a ``DictLoader`` with a broken template).

    Returns:
        An environment whose undefined names are errors and whose output is lilxml-escaped.
    """
    return jinja2.Environment(
        loader=loader or _PackageTemplates(),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        finalize=lilxml_escape,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _plain(x: float) -> str:
    return format(Decimal(repr(float(x))).normalize(), "f")


def _frame_context(settings: Settings, version: KStarsFormat) -> dict[str, Any]:
    cap = settings.capture
    x, y, w, h = cap.frame if cap.frame is not None else FULL_FRAME[version]
    if not (math.isfinite(cap.exposure_s) and cap.exposure_s > 0):
        raise RenderError(f"[capture] exposure_s must be a positive number, not {cap.exposure_s}.")
    if cap.binning < 1 or min(x, y) < 0 or (cap.frame is not None and min(w, h) <= 0):
        raise RenderError(
            "[capture] binning must be ≥ 1 and frame [x, y, w, h] non-negative "
            "with a positive width and height."
        )
    return {
        "exposure": _plain(cap.exposure_s),
        "format": cap.format,
        "encoding": cap.encoding,
        "binning": cap.binning,
        "x": x,
        "y": y,
        "w": w,
        "h": h,
        "filter": cap.filter,
        "count": 1,
        "delay": 0,
        "gain": _plain(cap.gain) if cap.gain is not None else "",
        "gain_elements": GAIN_PROPERTIES if cap.gain is not None else (),
    }


def _job_context(job: JobSpec) -> dict[str, Any]:
    return {
        "name": job.name,
        "stem": job.stem,
        "priority": PRIORITY,
        "ra_hours": f"{job.ra_hours:.8f}",
        "dec_deg": f"{job.dec_deg:.7f}",
        "start_at": job.start_at,
        "asap": job.asap,
        "sequence": str(job.sequence_path),
        "capture_dir": str(job.capture_dir),
    }


def _render(env: jinja2.Environment, name: str, context: dict[str, Any]) -> str:
    try:
        return env.get_template(name).render(context)
    except jinja2.TemplateError as exc:
        raise RenderError(
            f"Template {name} could not be rendered: {exc}. The installed templates are broken; "
            "reinstall ekos-occult."
        ) from exc


def _render_files(
    jobs: Sequence[JobSpec],
    schedule_relpath: PurePosixPath,
    settings: Settings,
    version: KStarsFormat,
    env: jinja2.Environment,
) -> tuple[RenderedFile, tuple[RenderedFile, ...]]:
    if version not in _TEMPLATES:
        raise RenderError(f"Unknown Ekos file format {version!r}; choose 3.6 or 3.7.")
    esl_template, esq_template = _TEMPLATES[version]
    frame = _frame_context(settings, version)
    sequences = tuple(
        RenderedFile(
            job.sequence_relpath,
            _render(env, esq_template, {"job": _job_context(job), "frame": frame}),
        )
        for job in jobs
    )
    steps = [s for s in STEP_SECONDS if s in settings.ekos.steps]
    context = {
        "profile": settings.ekos.profile,
        "steps": steps,
        "jobs": [_job_context(job) for job in jobs],
    }
    schedule = RenderedFile(schedule_relpath, _render(env, esl_template, context))
    return schedule, sequences


def _with_notes(plan: Plan, jobs: Sequence[JobSpec], notes: dict[str, str]) -> Plan:
    by_event = {id(job.event): notes[job.name] for job in jobs if job.name in notes}
    events = tuple(
        dataclasses.replace(e, notes=(*e.notes, by_event[id(e)])) if id(e) in by_event else e
        for e in plan.events
    )
    return dataclasses.replace(plan, events=events)


def _tz_label(tz: tzinfo, when: datetime) -> str:
    local = when.astimezone(tz)
    offset = local.strftime("%z")
    utc = f"UTC{offset[:3]}:{offset[3:]}" if offset not in ("", "+0000") else "UTC"
    name = local.tzname() or utc
    return utc if name in (utc, "UTC", utc.replace(":", "")) else f"{name} ({utc})"


def _finish(
    plan: Plan,
    settings: Settings,
    version: KStarsFormat,
    night_dir: PurePath,
    tz: tzinfo,
    jobs: tuple[JobSpec, ...],
    schedule_relpath: PurePosixPath,
    env: jinja2.Environment | None,
    notes: dict[str, str],
) -> RenderedNight:
    schedule, sequences = _render_files(
        jobs, schedule_relpath, settings, version, env or template_environment()
    )
    rendered = RenderedNight(
        version=version,
        night=night_label(plan),
        night_dir=night_dir,
        tz_label=_tz_label(tz, jobs[0].event.job_start),
        schedule=schedule,
        sequences=sequences,
        jobs=jobs,
        plan=_with_notes(plan, jobs, notes),
    )
    check_rendered(rendered, settings)
    return rendered


def render_night(
    plan: Plan,
    settings: Settings,
    *,
    version: KStarsFormat,
    night_dir: PurePath,
    capture_root: PurePath | None = None,
    tz: tzinfo = timezone.utc,
    env: jinja2.Environment | None = None,
) -> RenderedNight:
    """Render the night's .esl (one job per scheduled event) and one .esq per job, checked.

    Args:
        plan: the night's plan (only scheduled events become jobs).
        settings: profile, steps and control-frame settings.
        version: Ekos file format, ``"3.6"`` or ``"3.7"``.
        night_dir: absolute folder the files will be written to (``<night>.esl`` and
            ``sequences/``); the .esl names the .esq files by absolute path inside it.
        capture_root: absolute folder for the control frames (default ``night_dir/captures``);
            each job captures into ``capture_root/<job>``.
        tz: time zone of KStars' geographic location: StartAt is its naive wall-clock time.
        env: a Jinja environment (default :func:`template_environment`).

    Returns:
        The checked texts, their paths relative to ``night_dir`` and the plan with Ekos
        spacing notes.

    Raises:
        RenderError: nothing scheduled, invalid coordinates/settings, a broken template, or
            output that does not match the plan.
    """
    capture_root = capture_root or night_dir / CAPTURES
    jobs = build_jobs(plan, night_dir=night_dir, capture_root=capture_root, tz=tz)
    notes = spacing_notes(jobs, settings, version)
    relpath = PurePosixPath(f"{night_label(plan)}.esl")
    return _finish(plan, settings, version, night_dir, tz, jobs, relpath, env, notes)


def render_single_job(
    plan: Plan,
    settings: Settings,
    event: PlannedEvent,
    *,
    version: KStarsFormat,
    night_dir: PurePath,
    capture_root: PurePath | None = None,
    tz: tzinfo = timezone.utc,
    env: jinja2.Environment | None = None,
    asap: bool = False,
) -> RenderedNight:
    """Render a one-job .esl (``jobs/<job>.esl``) and its .esq for one scheduled event.

    Names and paths are the same as in :func:`render_night` for the same plan, so ``run`` can
    load one event at a time next to the night file. Arguments as for :func:`render_night`;
    ``asap`` writes an ASAP start instead of the fixed StartAt (``run`` starts each job itself,
    so its jobs must not depend on KStars' clock; ``load``'s whole night keeps fixed times).

    Raises:
        RenderError: ``event`` is not scheduled in ``plan``, or as for :func:`render_night`.
    """
    capture_root = capture_root or night_dir / CAPTURES
    jobs = build_jobs(plan, night_dir=night_dir, capture_root=capture_root, tz=tz)
    chosen = tuple(job for job in jobs if job.event is event or job.event == event)
    if not chosen:
        raise RenderError(f"Event {event.name!r} is not scheduled in this plan.")
    if asap:
        chosen = tuple(dataclasses.replace(job, asap=True) for job in chosen)
    relpath = PurePosixPath(JOBS) / f"{chosen[0].stem}.esl"
    return _finish(plan, settings, version, night_dir, tz, chosen[:1], relpath, env, {})


def render_options_restore(
    version: KStarsFormat, context: dict[str, Any], env: jinja2.Environment | None = None
) -> str:
    """A schedule without jobs that carries the user's scheduler options (error handling,
    startup/shutdown procedures or task queues): loading it puts them back in KStars' memory
    after the night (see :mod:`ekos_occult.kstars.scheduleroptions` for the context).

    Raises:
        RenderError: the installed template is broken.
    """
    name = (
        "options-restore-3.6.esl.j2"
        if version is KStarsFormat.V3_6
        else ("options-restore-3.7.esl.j2")
    )
    return _render(env or template_environment(), name, context)
