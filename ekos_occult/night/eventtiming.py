"""What an event line says about time and verification beyond the supervisor's record.

For each event key :class:`EventTiming` keeps, and adds to the journal's event line:

- ``clock``: the system clock's synchronisation read just before the recording (kernel
  ``adjtimex``, chrony when present), journaled at once as a ``clock`` entry; its problems
  (unsynchronised, error bound over ``[camera] max_clock_error_s``) also become flags;
- ``timestamps``: what stamped the frames (``host write time``, or a QHY GPS camera's
  ``GPS exposure start`` with its lock state), the exposure, and the mean frame interval from
  the first and last stamps and the frame count; for host stamps, ``correction_model``: the
  camera's timing model from ``[camera]`` that ``reduce`` applies by default (sampling,
  acquisition delay and its uncertainty, where it came from; see docs/timing.md);
- ``verified``: how the file was judged (:mod:`ekos_occult.night.verification`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from ekos_occult.errors import EkosError, RecordingError
from ekos_occult.night.journal import to_json
from ekos_occult.night.ports import ClockSyncReader, RecorderPort
from ekos_occult.night.records import Job
from ekos_occult.settings import CameraSettings

__all__ = ["EventTiming", "stamp_kind", "interval_stats"]


class EventTiming:
    """The clock, the frame stamps and the verification of each event, for its event line.

    Args:
        recorder: the recorder port (what stamps its frames).
        clock_sync: reads the clock's synchronisation; None: not read.
        max_clock_error_s: the clock error bound above which a recording is flagged.
        now: the night's clock.
        emit: journals one entry (``emit(kind, **fields)``).
        camera: the ``[camera]`` settings, for the correction model of host stamps (None: not
            said).
    """

    def __init__(
        self,
        recorder: RecorderPort,
        clock_sync: ClockSyncReader | None,
        max_clock_error_s: float,
        now: Callable[[], datetime],
        emit: Callable[..., None],
        camera: CameraSettings | None = None,
    ) -> None:
        self.recorder, self.clock_sync, self.max_clock_error_s = (
            recorder,
            clock_sync,
            max_clock_error_s,
        )
        self._now, self._emit, self._camera = now, emit, camera
        self._clock_at: dict[str, dict[str, Any]] = {}  # event key -> clock before recording
        self._stamps_at: dict[str, dict[str, Any]] = {}  # event key -> what stamps the frames
        self._verified_at: dict[str, dict[str, Any]] = {}  # event key -> how the file was judged

    async def before_recording(self, job: Job) -> None:
        """Read what will stamp the frames and the clock's synchronisation; journal the clock."""
        stamps: dict[str, Any] = {"source": stamp_kind(self.recorder.timestamp_source)}
        describe = getattr(self.recorder, "stamp_provenance", None)
        if describe is not None:
            try:
                stamps = dict(await describe())
            except (EkosError, RecordingError) as exc:
                stamps["detail"] = f"the camera's GPS state could not be read: {exc}"
        if self._camera is not None and stamps.get("source") == "host write time":
            cam = stamps.get("camera")
            model = self._camera.delay_for(cam if isinstance(cam, str) and cam else None)
            stamps["correction_model"] = {
                "sampling": model.sampling,
                "acquisition_delay_s": model.delay_s,
                "acquisition_delay_uncertainty_s": model.uncertainty_s,
                "from": model.origin,
            }
        self._stamps_at[job.key] = stamps
        if self.clock_sync is None:
            return
        state = await asyncio.to_thread(self.clock_sync.read)
        problems = state.problems(self.max_clock_error_s)
        entry = {**state.to_dict(), "problems": problems, "at": self._now()}
        self._clock_at[job.key] = json.loads(to_json(entry))
        self._emit("clock", name=job.name, key=job.key, **state.to_dict(), problems=problems)

    def verified(self, key: str, how: dict[str, Any]) -> None:
        """Keep how event ``key``'s file was judged (its ``verified`` value)."""
        self._verified_at[key] = how

    def fields(self, job: Job, line: dict[str, Any]) -> dict[str, Any]:
        """The event line ``line`` with ``clock``, ``timestamps`` and ``verified`` added."""
        clock = self._clock_at.get(job.key)
        out = dict(line)
        out["clock"] = clock
        if clock is not None and clock.get("problems"):
            out["flags"] = [*out.get("flags", []), *clock["problems"]]
        stamps = dict(self._stamps_at.get(job.key) or {})
        if job.check is not None:
            stamps.setdefault("source", stamp_kind(self.recorder.timestamp_source))
            stamps["exposure_s"] = job.exposure_s
            stamps["frame_interval"] = interval_stats(job)
        out["timestamps"] = stamps or None
        out["verified"] = self._verified_at.get(job.key)
        return out


def stamp_kind(recorder_source: str) -> str:
    """The recorder's word for its stamps in reduce's terms (see reduce/timestamps.py)."""
    return "GPS exposure start" if "gps" in recorder_source.lower() else "host write time"


def interval_stats(job: Job) -> dict[str, Any] | None:
    """Mean frame interval of a recording from its first and last stamps and its frame count."""
    c = job.check
    if c is None or c.first_frame_utc is None or c.last_frame_utc is None or c.frames < 2:
        return None
    span = (c.last_frame_utc - c.first_frame_utc).total_seconds()
    intervals = c.frames - 1 + c.dropped_frames
    return {
        "mean_s": round(span / intervals, 7),
        "frames": c.frames,
        "dropped_frames": c.dropped_frames,
        "gaps": c.gaps,
    }
