"""Parse rendered Ekos files back (lxml) and compare them with the jobs they were made from.

Runs before any file is written: a broken template or a value Ekos would misread becomes a
RenderError here instead of a schedule that KStars silently mangles (its loader accepts almost
anything, see ``docs/kstars-facts.md`` §6).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

from lxml import etree

from ekos_occult.ekosfiles.formats import KStarsFormat
from ekos_occult.errors import RenderError
from ekos_occult.settings import Settings

if TYPE_CHECKING:
    from ekos_occult.ekosfiles.jobs import JobSpec
    from ekos_occult.ekosfiles.rendered import RenderedFile, RenderedNight

__all__ = ["ESL_ROOT_VERSION", "ESQ_ROOT_VERSION", "is_valid_rendered", "check_rendered"]

ESL_ROOT_VERSION = {KStarsFormat.V3_6: "1.5", KStarsFormat.V3_7: "2.2"}
ESQ_ROOT_VERSION = {KStarsFormat.V3_6: "2.4", KStarsFormat.V3_7: "2.6"}

# Every job carries every element: KStars 3.6 parses jobs through its GUI widgets, so an
# element left out silently keeps the previous job's value.
_ESL_JOB_ELEMENTS = {
    KStarsFormat.V3_6: (
        "Name",
        "Priority",
        "Coordinates",
        "Sequence",
        "PositionAngle",
        "StartupCondition",
        "Constraints",
        "CompletionCondition",
        "Steps",
    ),
    KStarsFormat.V3_7: (
        "JobType",
        "Name",
        "Group",
        "Coordinates",
        "PositionAngle",
        "Sequence",
        "StartupCondition",
        "Constraints",
        "CompletionCondition",
        "Steps",
    ),
}
_ESL_TOP = (
    "Profile",
    "SchedulerAlgorithm",
    "ErrorHandlingStrategy",
    "StartupProcedure",
    "ShutdownProcedure",
)
# KStars 3.7+ turns any unknown top-level element of a sequence file into a capture job.
_ESQ_TOP = {
    KStarsFormat.V3_6: {
        "GuideDeviation",
        "GuideStartDeviation",
        "Autofocus",
        "RefocusOnTemperatureDelta",
        "RefocusEveryN",
        "RefocusOnMeridianFlip",
        "Job",
    },
    KStarsFormat.V3_7: {
        "GuideDeviation",
        "GuideStartDeviation",
        "HFRCheck",
        "RefocusOnTemperatureDelta",
        "RefocusEveryN",
        "RefocusOnMeridianFlip",
        "Job",
    },
}
_ESQ_JOB_ELEMENTS = (
    "Exposure",
    "Format",
    "Encoding",
    "Binning",
    "Frame",
    "Temperature",
    "Type",
    "Count",
    "Delay",
    "FITSDirectory",
    "UploadMode",
    "Properties",
    "Calibration",
)


def _parse(file: RenderedFile) -> etree._Element:
    text = file.text
    # lilxml (Ekos' parser) decodes only named entities, and ends a comment at its first '>'.
    if "&#" in text or "<!--" in text:
        raise RenderError(
            f"{file.relpath}: numeric character references and comments are not "
            "read correctly by Ekos; the template must not produce them."
        )
    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True)
    try:
        return etree.fromstring(text.encode("utf-8"), parser)
    except etree.XMLSyntaxError as exc:
        raise RenderError(f"{file.relpath}: the rendered XML is not well-formed: {exc}.") from exc


def _text(parent: etree._Element, path: str, where: str) -> str:
    node = parent.find(path)
    if node is None:
        raise RenderError(f"{where}: element <{path}> is missing.")
    return (node.text or "").strip()


def _number(parent: etree._Element, path: str, where: str) -> float:
    raw = _text(parent, path, where)
    try:
        value = float(raw)
    except ValueError:
        raise RenderError(f"{where}: <{path}> is {raw!r}, not a number.") from None
    if not math.isfinite(value):
        raise RenderError(f"{where}: <{path}> is {raw!r}, not a finite number.")
    return value


def _expect(where: str, what: str, got: object, want: object) -> None:
    if got != want:
        raise RenderError(f"{where}: {what} is {got!r}, expected {want!r}.")


def _check_root(root: etree._Element, tag: str, version: str, where: str) -> None:
    _expect(where, "root element", root.tag, tag)
    _expect(where, "format version", root.get("version"), version)


def _check_esl_job(
    node: etree._Element, job: JobSpec, version: KStarsFormat, steps: list[str], where: str
) -> None:
    where = f"{where} job {job.name!r}"
    children = [child.tag for child in node]
    missing = [tag for tag in _ESL_JOB_ELEMENTS[version] if tag not in children]
    if missing:
        raise RenderError(f"{where}: elements missing: {', '.join(missing)}.")
    _expect(where, "Name", _text(node, "Name", where), job.name)
    ra, dec = (
        _number(node, "Coordinates/J2000RA", where),
        _number(node, "Coordinates/J2000DE", where),
    )
    if not (0.0 <= ra < 24.0 and -90.0 <= dec <= 90.0):
        raise RenderError(f"{where}: coordinates out of range: RA {ra} h, Dec {dec}°.")
    if abs(ra - job.ra_hours) > 1e-7 or abs(dec - job.dec_deg) > 1e-6:
        raise RenderError(
            f"{where}: coordinates {ra} h/{dec}° do not match the plan "
            f"({job.ra_hours} h/{job.dec_deg}°)."
        )
    start = node.find("StartupCondition/Condition")
    _expect(
        where,
        "start condition",
        None if start is None else (start.text, start.get("value")),
        ("ASAP", None) if job.asap else ("At", job.start_at),
    )
    _expect(where, "Sequence", _text(node, "Sequence", where), str(job.sequence_path))
    _expect(where, "completion", _text(node, "CompletionCondition/Condition", where), "Sequence")
    _expect(where, "steps", [(s.text or "").strip() for s in node.iterfind("Steps/Step")], steps)
    if version == KStarsFormat.V3_7:
        job_type = node.find("JobType")
        _expect(where, "JobType lead", None if job_type is None else job_type.get("lead"), "true")


def _check_schedule(rendered: RenderedNight, settings: Settings, steps: list[str]) -> None:
    where = str(rendered.schedule.relpath)
    root = _parse(rendered.schedule)
    _check_root(root, "SchedulerList", ESL_ROOT_VERSION[rendered.version], where)
    for tag in _ESL_TOP:
        if root.find(tag) is None:
            raise RenderError(f"{where}: element <{tag}> is missing.")
    _expect(where, "Profile", _text(root, "Profile", where), settings.ekos.profile)
    nodes = root.findall("Job")
    _expect(where, "number of jobs", len(nodes), len(rendered.jobs))
    for node, job in zip(nodes, rendered.jobs, strict=True):
        _check_esl_job(node, job, rendered.version, steps, where)
    paths = {str(rendered.night_dir / f.relpath) for f in rendered.sequences}
    _expect(
        where, "sequence files", sorted(str(j.sequence_path) for j in rendered.jobs), sorted(paths)
    )


def _check_sequence(
    file: RenderedFile, job: JobSpec, version: KStarsFormat, settings: Settings
) -> None:
    where = str(file.relpath)
    root = _parse(file)
    _check_root(root, "SequenceQueue", ESQ_ROOT_VERSION[version], where)
    unknown = sorted({child.tag for child in root} - _ESQ_TOP[version])
    if unknown:
        raise RenderError(
            f"{where}: unexpected top-level elements {unknown} (KStars 3.7+ would "
            "read each as a capture job)."
        )
    jobs = root.findall("Job")
    _expect(where, "number of capture jobs", len(jobs), 1)
    node = jobs[0]
    missing = [tag for tag in _ESQ_JOB_ELEMENTS if node.find(tag) is None]
    if missing:
        raise RenderError(f"{where}: elements missing: {', '.join(missing)}.")
    exposure = _number(node, "Exposure", where)
    if not math.isclose(exposure, settings.capture.exposure_s, rel_tol=1e-9):
        want = settings.capture.exposure_s
        raise RenderError(f"{where}: exposure {exposure} s, expected {want}.")
    _expect(where, "frame type", _text(node, "Type", where), "Light")
    _expect(where, "count", _text(node, "Count", where), "1")
    _expect(where, "FITSDirectory", _text(node, "FITSDirectory", where), str(job.capture_dir))
    if (
        version == KStarsFormat.V3_6
        and min(_number(node, "Frame/W", where), _number(node, "Frame/H", where)) < 1
    ):
        # KStars 3.6 clamps a 0 width/height to 1: it would capture a 1x1 pixel frame.
        raise RenderError(f"{where}: <Frame> width and height must be positive for KStars 3.6.")
    if version == KStarsFormat.V3_7:
        _expect(where, "TargetName", _text(node, "TargetName", where), job.name)


def _unique(paths: Iterable[str], what: str) -> None:
    seen: set[str] = set()
    for p in paths:
        if p.casefold() in seen:
            raise RenderError(f"Two jobs would share the {what} {p!r}.")
        seen.add(p.casefold())


def check_rendered(rendered: RenderedNight, settings: Settings) -> None:
    """Parse every rendered file and compare it with the jobs and settings it came from.

    Checks the root element and format version, the job count, each job's name, coordinates
    (finite, in range, equal to the plan's), StartAt time, sequence path, completion and steps,
    and in each .esq the single Light frame, its exposure and capture folder.

    Raises:
        RenderError: naming the file, the job and what differs.
    """
    steps: list[str] = [s for s in ("Track", "Focus", "Align", "Guide") if s in settings.ekos.steps]
    _unique((j.name for j in rendered.jobs), "job name")
    _unique((str(f.relpath) for f in rendered.files), "file")
    _check_schedule(rendered, settings, steps)
    _expect("render", "number of sequence files", len(rendered.sequences), len(rendered.jobs))
    for file, job in zip(rendered.sequences, rendered.jobs, strict=True):
        _expect(str(file.relpath), "path", file.relpath, job.sequence_relpath)
        _check_sequence(file, job, rendered.version, settings)


def is_valid_rendered(rendered: RenderedNight, settings: Settings) -> bool:
    """True when :func:`check_rendered` finds nothing wrong."""
    try:
        check_rendered(rendered, settings)
    except RenderError:
        return False
    return True
