"""Judging one recording after it ended, and saying how it was judged.

Three ways, journaled as the event's ``verified`` (with INDI's own report beside it):

- ``on disk``: INDI wrote the SER on this machine; the file is read whole (header, frame count,
  per-frame timestamps, gaps; :func:`~ekos_occult.video.serverify.verify_ser`) and its frame
  size checked against the ROI asked for.
- ``through mount``: INDI runs on another host (Ekos remote mode) whose recordings folder is
  mounted here (``[indi] remote_record_dir``); the file is found through the mount and read
  exactly as on disk. A mount that is not there, or that does not show the file, falls back to
  INDI's report with a warning (the recording is not thrown away).
- ``INDI's report only``: INDI runs on another host and its files cannot be read here. The
  verdict rests on what INDI published (:mod:`ekos_occult.kstars.indiwatch`): the file it
  opened, the frames it recorded against the frames the plan calls for, frames it skipped, its
  errors; timestamps cannot be checked. Zero frames recorded is no usable file.

Whenever INDI's report was read, a frame count that differs from the file's by more than one
is a warning (one of them is wrong about the recording).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from ekos_occult.errors import ReductionError
from ekos_occult.kstars.indiwatch import RecordReport
from ekos_occult.night.ports import RecorderPort, RecordingRequest
from ekos_occult.night.recorder import record_file_name
from ekos_occult.video.ser import open_ser
from ekos_occult.video.serverify import SerCheck, SerExpectation, verify_ser

__all__ = [
    "ON_DISK",
    "THROUGH_MOUNT",
    "INDI_ONLY",
    "Verification",
    "verify_recording",
    "judged_by_indi",
    "checked_with_roi",
]

ON_DISK = "on disk"
THROUGH_MOUNT = "through mount"
INDI_ONLY = "INDI's report only"


@dataclass(frozen=True)
class Verification:
    """A recording's verdict and how it was reached.

    Attributes:
        check: the verdict (None: no file found).
        file: the file judged (on another host without a mount: INDI's path there).
        how: :data:`ON_DISK`, :data:`THROUGH_MOUNT` or :data:`INDI_ONLY`.
        indi: INDI's own report of the recording, None when it was not read (``note`` says why).
        note: why INDI's report is missing ("" when it was read).
    """

    check: SerCheck | None
    file: Path | None
    how: str
    indi: RecordReport | None = None
    note: str = ""

    def journal(self) -> dict[str, Any]:
        """The event line's ``verified`` value (JSON-ready)."""
        return {
            "how": self.how,
            "indi": self.indi.to_dict() if self.indi is not None else None,
            "note": self.note,
        }


async def verify_recording(
    recorder: RecorderPort, request: RecordingRequest, expect: SerExpectation, started: datetime
) -> Verification:
    """Find and judge the recording ``request`` made (the record command went out at
    ``started``), on disk, through the mount, or by INDI's report."""
    report_of = getattr(recorder, "indi_report", None)
    report: RecordReport | None = await report_of() if report_of is not None else None
    note = "" if report is not None else str(getattr(recorder, "watch_note", ""))
    host = recorder.files_host
    if host is not None:
        mount = getattr(recorder, "mount", None)
        path = None
        if mount is not None and await asyncio.to_thread(mount.is_dir):
            find_in_mount = getattr(recorder, "find_in_mount")  # noqa: B009 - not in every port
            path = await find_in_mount(request, report.file if report else None)
        if path is None:  # no mount, or the file is not visible through it: INDI's word
            check = judged_by_indi(request, expect, host, report, note)
            if mount is not None:
                missing = f"the recording was not found through the mount {mount}"
                check = replace(check, warnings=(missing, *check.warnings))
            return Verification(check, check.path, INDI_ONLY, report, note)
        how = THROUGH_MOUNT
    else:
        path = await recorder.find_recording(request, started)
        how = ON_DISK
    if path is None:
        return Verification(None, None, how, report, note)
    check = await asyncio.to_thread(checked_with_roi, path, expect, request.roi)
    return Verification(_cross_checked(check, report), path, how, report, note)


def _cross_checked(check: SerCheck, report: RecordReport | None) -> SerCheck:
    """The file's verdict with a warning when INDI counted other frames than the file holds."""
    if report is None or report.frames is None or abs(report.frames - check.frames) <= 1:
        return check
    differ = (
        f"INDI reported {report.frames} frames recorded, the file holds {check.frames}: "
        "the file's count is the one used"
    )
    return replace(check, warnings=(*check.warnings, differ))


def judged_by_indi(
    request: RecordingRequest,
    expect: SerExpectation,
    host: str,
    report: RecordReport | None,
    note: str = "",
) -> SerCheck:
    """The verdict on a recording written on another host, from INDI's own report (pure).

    The recording's switch went busy and then idle without an alert before this is asked
    (otherwise the job failed earlier). INDI's closing message gives the frames it recorded;
    none recorded is a problem (no usable file). Without the report only INDI's switch speaks.
    """
    name = record_file_name(request.stem)
    where = Path(report.file) if report and report.file else request.directory / f"{name}.ser"
    on_host = f"written on the INDI host {host}, not on this machine"
    fetch = (
        f"copy it from {host} (INDI named it {where.name}"
        if report and report.file
        else f"copy {request.directory}/ from {host} ({name} with INDI's time for _T_"
    ) + ") and run `ekos-occult reduce` on it"
    base = SerCheck(where, expected_frames=expect.expected_frames)
    if report is None or not report.connected or not report.finished:
        why = note or (
            "INDI's closing message (its frame count) did not arrive"
            if report is not None and report.connected
            else "INDI's own report could not be read"
        )
        warning = (
            f"{on_host}: INDI's recording switch went busy and ended without an error; {why}: "
            f"frames and timestamps were not checked here. {fetch[0].upper()}{fetch[1:]}."
        )
        return replace(base, warnings=(warning,))
    frames = report.frames or 0
    warnings = [
        f"{on_host}: INDI reports {frames} frames recorded of {expect.expected_frames} "
        f"expected, in {report.duration_s or 0:.3f} s; the timestamps were not checked here: "
        f"{fetch}."
    ]
    if report.skipped:
        warnings.append(f"INDI skipped {report.skipped} frames (its frame buffer was full)")
    if report.avg_fps:
        warnings.append(f"INDI measured {report.avg_fps:.2f} frames per second")
    problems = [f"INDI: {e}" for e in report.errors]
    if frames == 0:
        problems.append("INDI recorded no frame")
    elif problems:  # frames were recorded: the file is worth fetching whatever went wrong
        warnings += problems
        problems = []
    return replace(base, frames=frames, warnings=tuple(warnings), problems=tuple(problems))


def checked_with_roi(
    path: Path, expect: SerExpectation, roi: tuple[int, int, int, int] | None
) -> SerCheck:
    """:func:`verify_ser`, plus the SER header's frame size against the ROI asked for."""
    check = verify_ser(path, expect)
    if roi is None or not check.frames:
        return check
    try:
        header = open_ser(path).header
    except ReductionError:
        return check
    size = (header.width, header.height)
    if size == (roi[2], roi[3]):
        return check
    lost = (
        f"the SER frames are {size[0]}x{size[1]}, not the {roi[2]}x{roi[3]} ROI asked for "
        "(INDI reset CCD_STREAM_FRAME): the event is in the recording, the file is larger"
    )
    return replace(check, warnings=(*check.warnings, lost))
