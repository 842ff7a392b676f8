"""Where a light curve's times came from, the correction to the start of exposure, and how wrong
the times may be (the timing error budget).

Pure: no I/O. The convention is PyOTE's: a frame's time is the **start of its exposure**.

Stamp kinds and the correction applied (subtracted from every stamp):

- ``GPS exposure start`` (a QHY GPS camera with ``GPS_CONTROL`` on, INDI >= 2.0.1): none.
- ``host write time`` (every other INDI camera: the host clock when INDI's recorder thread
  writes the frame, after exposure, readout, transfer and queueing): one exposure plus the
  camera's acquisition delay (``[camera]`` in the config), for a camera that integrates over
  its exposure (``sampling = "exposure"``, every real camera).
  For a camera that samples the sky at one instant per frame (``sampling = "instant"``: the
  INDI CCD Simulator, measured in the sandbox), frame k's sky is that of the instant
  ``g_k = stamp_{k-1} - delay`` (its draw loop restarts when it hands over frame k-1), and an
  edge seen between frames k-1 and k lies anywhere in ``(g_{k-1}, g_k]``: frame k is given
  the *equivalent start* ``(g_{k-1} + g_k) / 2``, so that the fit's frame boundary is the
  middle of that interval; each frame is corrected with its own neighbours' stamps (the
  simulator's frame interval varies with its draw time). The truth's place inside the
  interval is unknown: its 1-sigma, interval / sqrt(12), is the ``sampling`` term.
  ``docs/timing.md`` has the driver's timeline.
- ``recorder-supplied`` (a SER from another program) and ``light-curve file`` (PyMovie,
  Tangra, ...): none; the file is taken to give the start of exposure, as PyOTE takes it.
- ``--latency S`` given: exactly S, whatever the source.

Error budget (1 sigma, seconds), combined in quadrature for each of D and R:
timestamp (the delay's uncertainty, the stamps' jitter about their line, the sampling term of
an instant-sampling camera) and the clock's
error when the recording was made (the kernel's maximum error, from the night journal; unknown
otherwise), then the fit's own 68% bar.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np
import numpy.typing as npt

from ekos_occult.settings import CameraDelay

__all__ = [
    "CONVENTION",
    "StampKind",
    "Provenance",
    "TimestampBudget",
    "GPS_UNCERTAINTY_S",
    "budget",
    "instant_starts",
]

FloatArray = npt.NDArray[np.float64]

CONVENTION = "start of exposure"
GPS_UNCERTAINTY_S = 1e-4
"""1-sigma of a QHY GPS exposure-start stamp (the camera's own figure is microseconds; this
allows for its LED calibration not having been done)."""


class StampKind(str, Enum):
    """What stamped the frames."""

    GPS = "GPS exposure start"
    HOST = "host write time"
    RECORDER = "recorder-supplied"
    FILE = "light-curve file"
    HEADER_CADENCE = "header start + cadence"
    NONE = "none"


@dataclass(frozen=True)
class Provenance:
    """What is known about a recording's times before reducing it.

    Attributes:
        kind: what stamped the frames.
        exposure_s: the exposure when known (the night journal), else None.
        camera: the INDI camera name when known.
        clock: the journal's clock reading before the recording (``synchronised``,
            ``max_error_s``, ``est_error_s``, ...), or None when not known.
        detail: where this came from, in words.
    """

    kind: StampKind
    exposure_s: float | None = None
    camera: str | None = None
    clock: Mapping[str, Any] | None = None
    detail: str = ""


@dataclass(frozen=True)
class TimestampBudget:
    """The correction applied to the stamps and the error budget of a timing.

    Attributes:
        source: what stamped the frames.
        correction_s: subtracted from every stamp to reach the start of exposure.
        why: the correction in words (what it is made of, where each part came from).
        exposure_s: the exposure used (None when not needed or unknown).
        exposure_from: where the exposure came from.
        delay_s, delay_uncertainty_s, delay_from: the acquisition delay part (host stamps).
        jitter_s: robust scatter of the stamps about their line (None: unknown).
        clock_error_s: the clock's maximum error at recording time (None: unknown).
        clock_synchronised: the kernel's verdict then (None: unknown).
        clock_from: where the clock figures came from.
        sampling: ``exposure`` or ``instant`` (see the module docstring).
        sampling_s: 1-sigma of the truth's place between two instant samples (interval /
            sqrt(12)); 0 for an integrating camera (the fit places an edge inside a frame).
        cadence_s: the median frame interval the correction used (instant sampling).
    """

    source: StampKind
    correction_s: float
    why: str
    exposure_s: float | None = None
    exposure_from: str = ""
    delay_s: float = 0.0
    delay_uncertainty_s: float | None = 0.0
    delay_from: str = ""
    jitter_s: float | None = None
    clock_error_s: float | None = None
    clock_synchronised: bool | None = None
    clock_from: str = "unknown (no night journal for this recording)"
    sampling: str = "exposure"
    sampling_s: float = 0.0
    cadence_s: float | None = None

    def corrected(self, times_s: FloatArray) -> FloatArray:
        """Each frame's start of exposure (seconds) from its stamp (seconds, same axis).

        Integrating cameras and ``--latency``: ``times - correction_s``. Instant sampling:
        :func:`instant_starts` (per frame, from the neighbouring stamps).
        """
        t = np.asarray(times_s, np.float64)
        if self.sampling == "instant" and self.cadence_s is not None:
            return instant_starts(t, self.delay_s, self.cadence_s)
        out: FloatArray = t - self.correction_s
        return out

    @property
    def timestamp_uncertainty_s(self) -> float | None:
        """1-sigma of the corrected stamps: the correction's uncertainty and the jitter."""
        if self.source is StampKind.GPS:
            base: float | None = GPS_UNCERTAINTY_S
        else:
            base = self.delay_uncertainty_s
        if base is None:
            return None
        return math.hypot(base, self.jitter_s or 0.0, self.sampling_s)

    @property
    def uncertainty_s(self) -> float | None:
        """Timestamp and clock uncertainty together (None when either is unknown)."""
        ts = self.timestamp_uncertainty_s
        if ts is None or self.clock_error_s is None:
            return None
        return math.hypot(ts, self.clock_error_s)

    def total_s(self, fit_s: float | None) -> float | None:
        """An edge's whole 1-sigma: the fit's bar with the timestamp and clock terms."""
        if fit_s is None:
            return None
        terms = [fit_s, self.timestamp_uncertainty_s, self.clock_error_s]
        if any(t is None for t in terms):
            return None
        return math.sqrt(sum(float(t) ** 2 for t in terms if t is not None))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (seconds; None where unknown)."""
        return {
            "source": self.source.value,
            "convention": CONVENTION,
            "correction_s": _r(self.correction_s),
            "why": self.why,
            "uncertainty_s": _r(self.uncertainty_s),
            "exposure_s": _r(self.exposure_s),
            "exposure_from": self.exposure_from,
            "budget": {
                "timestamp_s": _r(self.timestamp_uncertainty_s),
                "acquisition_delay_s": _r(self.delay_s),
                "acquisition_delay_uncertainty_s": _r(self.delay_uncertainty_s),
                "acquisition_delay_from": self.delay_from,
                "jitter_s": _r(self.jitter_s),
                "sampling": self.sampling,
                # only an instant-sampling camera has this term (None: not applicable)
                "sampling_s": _r(self.sampling_s) if self.sampling == "instant" else None,
                "clock_error_s": _r(self.clock_error_s),
                "clock_synchronised": self.clock_synchronised,
                "clock_from": self.clock_from,
            },
        }


def instant_starts(stamps_s: FloatArray, delay_s: float, cadence_s: float) -> FloatArray:
    """Equivalent starts of exposure of an instant-sampling camera's frames.

    Frame k shows the sky at ``g_k = stamps[k-1] - delay_s``; it is given the start
    ``(g_{k-1} + g_k) / 2``, so an edge placed at the boundary of frames k-1 and k (the last
    sample before it and the first after it) lands in the middle of the two instants. Before
    the first stamp the stamps are extended back at ``cadence_s`` (frames 0 and 1).

    Args:
        stamps_s: the frames' stamps (seconds; any origin), in frame order.
        delay_s: the camera's acquisition delay (negative: the sample follows the previous
            frame's stamp by ``-delay_s``).
        cadence_s: the median frame interval (seconds).
    """
    w = np.asarray(stamps_s, np.float64)
    if w.size == 0:
        return np.zeros(0, np.float64)
    prev = np.concatenate([[w[0] - 2.0 * cadence_s, w[0] - cadence_s], w[:-1]])
    out: FloatArray = 0.5 * (prev[:-1] + prev[1:]) - delay_s
    return out


def _r(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else round(v, 7)


def budget(
    prov: Provenance,
    *,
    cadence_s: float | None,
    jitter_s: float | None,
    delay: CameraDelay,
    latency_s: float | None = None,
) -> TimestampBudget:
    """The correction and error budget for a recording.

    Args:
        prov: what stamped the frames (and the journal's exposure and clock, when known).
        cadence_s: the median frame interval (the exposure when the journal has none).
        jitter_s: robust scatter of the frame intervals; a stamp's own scatter is that over
            sqrt(2).
        delay: the camera's acquisition delay model (delay, uncertainty, origin, sampling).
        latency_s: ``--latency``: the whole correction, given by the user.
    """
    jit = None if jitter_s is None or not math.isfinite(jitter_s) else jitter_s / math.sqrt(2)
    clock = _clock_terms(prov.clock)
    if prov.kind in (StampKind.NONE,):
        return TimestampBudget(prov.kind, 0.0, "no timestamps: D and R in frames only.", **clock)
    exposure, exp_from = prov.exposure_s, "the night journal"
    if exposure is None and cadence_s is not None and math.isfinite(cadence_s):
        exposure, exp_from = cadence_s, "the median frame interval (no journal)"
    if latency_s is not None:
        return TimestampBudget(
            prov.kind,
            latency_s,
            f"--latency {latency_s:g} s subtracted as given (its uncertainty is unknown).",
            exposure,
            exp_from,
            latency_s,
            None,
            "--latency",
            jit,
            **clock,
        )
    if prov.kind is StampKind.HOST:
        d, sigma, d_from = delay.delay_s, delay.uncertainty_s, delay.origin
        if delay.sampling == "instant" and cadence_s is not None and math.isfinite(cadence_s):
            return _instant(prov, delay, cadence_s, exposure, exp_from, jit, clock)
        if exposure is None:
            return TimestampBudget(
                prov.kind,
                0.0,
                "host write times, but the exposure is unknown: no correction (give --latency).",
                None,
                "unknown",
                d,
                None,
                d_from,
                jit,
                **clock,
            )
        return TimestampBudget(
            prov.kind,
            exposure + d,
            f"host write times are late by one exposure ({exposure:.4g} s, from {exp_from}) plus "
            f"the acquisition delay ({d:+.4f} s +/- {sigma:.4f} s, {d_from}); subtracted.",
            exposure,
            exp_from,
            d,
            sigma,
            d_from,
            jit,
            **clock,
        )
    why = {
        StampKind.GPS: "GPS exposure-start stamps: no correction.",
        StampKind.RECORDER: "stamps as the recording program wrote them, taken as the start of "
        "exposure: no correction (give --latency if they are not).",
        StampKind.FILE: "times as the light-curve file gives them, in the start-of-exposure "
        "convention (PyOTE's; a format with mid-exposure times, SORA .dat, was shifted by half "
        "a frame when read): no further correction.",
        StampKind.HEADER_CADENCE: "header start time + frame number x --cadence: no correction.",
    }[prov.kind]
    sigma_known: float | None = 0.0 if prov.kind is StampKind.GPS else None
    return TimestampBudget(
        prov.kind, 0.0, why, exposure, exp_from, 0.0, sigma_known, "", jit, **clock
    )


def _instant(
    prov: Provenance,
    delay: CameraDelay,
    cadence_s: float,
    exposure: float | None,
    exp_from: str,
    jitter: float | None,
    clock: dict[str, Any],
) -> TimestampBudget:
    """Host stamps of an instant-sampling camera: per-frame equivalent starts."""
    d = delay.delay_s
    nominal = 1.5 * cadence_s + d
    return TimestampBudget(
        prov.kind,
        nominal,
        f"host write times of a camera that samples the sky at one instant per frame "
        f"({delay.origin}): frame k shows the sky {-d:.4f} s +/- {delay.uncertainty_s:.4f} s "
        f"after frame k-1's stamp, and is dated midway between its instant and the previous "
        f"one (where an edge between them lies, +/- half an interval); about 1.5 frame "
        f"intervals ({cadence_s:.4g} s median) {d:+.4f} s = {nominal:.4f} s subtracted, per "
        f"frame from its neighbours' stamps.",
        exposure,
        exp_from,
        d,
        delay.uncertainty_s,
        delay.origin,
        jitter,
        **clock,
        sampling="instant",
        sampling_s=cadence_s / math.sqrt(12.0),
        cadence_s=cadence_s,
    )


def _clock_terms(clock: Mapping[str, Any] | None) -> dict[str, Any]:
    if not clock:
        return {}
    err = clock.get("max_error_s")
    sync = clock.get("synchronised")
    ok_err = isinstance(err, (int, float)) and not isinstance(err, bool) and math.isfinite(err)
    return {
        "clock_error_s": float(err) if ok_err and err is not None else None,
        "clock_synchronised": sync if isinstance(sync, bool) else None,
        "clock_from": f"the kernel's clock state journaled before the recording "
        f"({clock.get('at', 'time unknown')})",
    }
