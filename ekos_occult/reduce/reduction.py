"""The reduce use case: a SER recording or a light-curve file in, D and R times out.

SER: pick the target (``--target`` or the star nearest the frame centre), measure it and any
reference stars frame by frame (:mod:`ekos_occult.reduce.photometry`), take each frame's start-of-
exposure time from the trailer (or header start + cadence, or none), correct the latency. CSV:
read it (:mod:`ekos_occult.reduce.lightcurve_read`). Then check the stamps
(:mod:`ekos_occult.reduce.cadence`), divide out the references, fit and test the event
(:mod:`ekos_occult.reduce.timing`) and express D and R as UTC times with their error bars.

Convention: a frame's time is the **start of its exposure** (like PyOTE); the exposure is taken
to last one frame interval. The stamps are corrected to it by
:func:`ekos_occult.reduce.timestamps.budget` (host stamps: one exposure plus the camera's
acquisition delay; per frame for an instant-sampling camera such as the CCD Simulator;
``--latency`` overrides), which also gives the timing error budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ekos_occult.errors import ReductionError
from ekos_occult.reduce.cadence import CadenceReport, check_cadence, repair_times
from ekos_occult.reduce.lightcurve import Aperture, LightCurve, TimestampSource
from ekos_occult.reduce.lightcurve_read import read_lightcurve
from ekos_occult.reduce.photometry import (
    Photometry,
    Star,
    choose_geometry,
    find_stars,
    mean_image,
    measure,
    pick_target,
    search_window,
)
from ekos_occult.reduce.timestamps import (
    CONVENTION,
    Provenance,
    StampKind,
    TimestampBudget,
    budget,
)
from ekos_occult.reduce.timing import EventTiming, position_to_time, time_event
from ekos_occult.settings import CameraSettings
from ekos_occult.video.ser import SerFile, open_ser, ticks_to_datetime

__all__ = ["ReduceOptions", "Reduction", "reduce_file", "is_ser", "normalised", "to_dict"]

FloatArray = npt.NDArray[np.float64]
_REF_SMOOTH = 25  # frames in the running mean of the reference stars


@dataclass(frozen=True)
class ReduceOptions:
    """How to reduce (all optional; the defaults suit a typical INDI recording)."""

    target: tuple[float, float] | None = None
    refs: tuple[tuple[float, float], ...] = ()
    latency_s: float | None = None
    cadence_s: float | None = None
    aperture_px: float | None = None
    date: date | None = None
    column: str | None = None
    ref_columns: tuple[str, ...] = ()
    trials: int = 5_000
    fe_trials: int = 10_000
    threshold: float = 1e-3
    seed: int = 0
    provenance: Provenance | None = None
    camera: CameraSettings = field(default_factory=CameraSettings)


@dataclass(frozen=True)
class Reduction:
    """The result: the light curve, the series that was timed, the fit and D/R in time."""

    lightcurve: LightCurve
    flux: FloatArray
    timing: EventTiming
    cadence: CadenceReport | None
    exposure_s: float | None
    times_s: FloatArray | None  # latency-corrected start of exposure per frame
    latency_s: float
    references: tuple[str, ...]
    notes: tuple[str, ...]
    stamps: TimestampBudget | None = None

    def edge_time(self, x: float) -> float | None:
        """Seconds on the light curve's axis of a frame position (None without times)."""
        if self.times_s is None or self.exposure_s is None or not math.isfinite(x):
            return None
        contiguous = self.stamps is not None and self.stamps.sampling == "instant"
        return position_to_time(x, self.times_s, self.exposure_s, contiguous=contiguous)

    def edge_iso(self, x: float) -> str | None:
        """ISO 8601 UTC of a frame position, time of day only when the date is unknown."""
        t = self.edge_time(x)
        if t is None:
            return None
        u = self.lightcurve.utc(t)
        if u is not None:
            return u.isoformat(timespec="microseconds")
        tod = timedelta(seconds=t % 86_400.0)
        return (datetime(2000, 1, 1) + tod).time().isoformat(timespec="microseconds")

    def frame_number(self, x: float) -> float:
        """A frame position in the source's own frame numbering."""
        f = self.lightcurve.frames
        k = int(min(max(math.floor(x), 0), f.size - 1))
        return float(f[k]) + (x - k)


def is_ser(path: Path) -> bool:
    """True for a SER file (by extension, or a FileID ending in RECORDER)."""
    if path.suffix.lower() == ".ser":
        return True
    try:
        with open(path, "rb") as fh:
            return fh.read(14).rstrip(b"\0").endswith(b"RECORDER")
    except OSError:
        return False


def _columns(lc: LightCurve, opts: ReduceOptions) -> LightCurve:
    """Put the chosen target column first and keep only it and the chosen reference columns."""
    by_name = {a.name: a for a in lc.apertures}
    wanted = [opts.column or lc.target.name, *opts.ref_columns]
    missing = [n for n in wanted if n not in by_name]
    if missing:
        raise ReductionError(
            f"{lc.source}: no signal column named {', '.join(map(repr, missing))}; the file has "
            f"{', '.join(repr(a.name) for a in lc.apertures)}."
        )
    keep = [by_name[n] for n in wanted]
    return replace(lc, apertures=tuple(keep) + tuple(a for a in lc.apertures if a not in keep))


def _smooth(x: FloatArray, width: int) -> FloatArray:
    width = max(1, min(width, x.size))
    c = np.concatenate([[0.0], np.cumsum(x)])
    i = np.arange(x.size)
    lo = np.clip(i - width // 2, 0, x.size)
    hi = np.clip(lo + width, 0, x.size)
    lo = np.maximum(hi - width, 0)
    out: FloatArray = (c[hi] - c[lo]) / (hi - lo)
    return out


def normalised(target: FloatArray, refs: list[FloatArray]) -> FloatArray:
    """Target divided by the (smoothed, mean-normalised) sum of the references."""
    if not refs:
        return np.asarray(target, np.float64)
    total = _smooth(np.sum(refs, axis=0), _REF_SMOOTH)
    if np.any(total <= 0):
        raise ReductionError(
            "a reference star's flux drops to zero or below; choose brighter references."
        )
    out: FloatArray = target / (total / total.mean())
    return out


def _ser_times(
    ser: SerFile, opts: ReduceOptions
) -> tuple[FloatArray | None, datetime | None, TimestampSource, list[str]]:
    n = ser.n_frames
    good = ser.timestamps > 0 if ser.timestamps is not None else None
    if ser.timestamps is not None and good is not None and int(good.sum()) >= 2:
        ticks = ser.timestamps.astype(np.float64)
        t0 = int(ser.timestamps[good][0])
        times = (ticks - t0) / 1e7
        notes = []
        if not good.all():  # fill missing stamps from their neighbours, straight lines
            idx = np.arange(n)
            gi, gt = idx[good], times[good]
            times = np.interp(idx, gi, gt)
            step = float(np.median(np.diff(gt) / np.diff(gi)))
            times[: gi[0]] = gt[0] - (gi[0] - idx[: gi[0]]) * step
            times[gi[-1] + 1 :] = gt[-1] + (idx[gi[-1] + 1 :] - gi[-1]) * step
            notes.append(
                f"{int((~good).sum())} missing or implausible frame stamps interpolated "
                "(outside the stamped frames: extended at the median frame interval)."
            )
        return times, ticks_to_datetime(t0), TimestampSource.TRAILER, notes
    start = ser.start_utc
    if opts.cadence_s is not None and start is not None:
        return (
            np.arange(n, dtype=np.float64) * opts.cadence_s,
            start,
            TimestampSource.HEADER_CADENCE,
            [
                "frame times = header DateTime_UTC (INDI: when the file was opened, not the "
                f"first exposure) + frame number x {opts.cadence_s} s (--cadence)."
            ],
        )
    hint = " and no --cadence" if start is not None else " and no start time in the header"
    return (
        None,
        None,
        TimestampSource.FRAME_INDEX,
        [f"timestamps are missing (no trailer{hint}): D and R are given in frames only."],
    )


def _snap(
    stars: list[Star], xy: tuple[float, float], what: str, notes: list[str]
) -> tuple[float, float]:
    near = [s for s in stars if (s.x - xy[0]) ** 2 + (s.y - xy[1]) ** 2 <= 36.0]
    if not near:
        notes.append(
            f"{what}: no star found within 6 px of {xy[0]:g},{xy[1]:g}; measuring there anyway."
        )
        return xy
    s = min(near, key=lambda s: (s.x - xy[0]) ** 2 + (s.y - xy[1]) ** 2)
    return (s.x, s.y)


def _choose_stars(
    ser: SerFile, opts: ReduceOptions
) -> tuple[list[tuple[float, float]], list[str], float, list[str]]:
    """Positions (target, refs, tracking helper) and their names, the FWHM, notes."""
    w, h = ser.header.width, ser.header.height
    window = search_window(w, h, opts.target)
    x0, y0, x1, y1 = window
    stars = [replace(s, x=s.x + x0, y=s.y + y0) for s in find_stars(mean_image(ser, window=window))]
    notes: list[str] = []
    if (x1 - x0, y1 - y0) != (w, h):
        notes.append(
            f"frames of {w}x{h}: stars were searched in the {x1 - x0}x{y1 - y0} px around "
            f"{'--target' if opts.target else 'the frame centre'} (x {x0}-{x1 - 1}, "
            f"y {y0}-{y1 - 1}); give --target X,Y for a target elsewhere."
        )
    if opts.target is not None:
        pos = [_snap(stars, opts.target, "--target", notes)]
    else:
        t = pick_target(stars, w, h)
        pos = [(t.x, t.y)]
        notes.append(
            f"target: the star at ({t.x:.1f}, {t.y:.1f}), nearest the frame centre "
            f"({(w - 1) / 2:.1f}, {(h - 1) / 2:.1f}) of {len(stars)} stars found "
            f"(SNR {t.snr:.0f}); use --target X,Y to choose another."
        )
    pos += [_snap(stars, r, "--ref", notes) for r in opts.refs]
    names = ["target"] + [f"ref{i + 1}" for i in range(len(opts.refs))]
    helpers = [
        s
        for s in stars
        if s.snr >= 20 and all((s.x - x) ** 2 + (s.y - y) ** 2 > 36.0 for x, y in pos)
    ]
    if not opts.refs and helpers:  # a bright neighbour steers the apertures during the event
        pos.append((helpers[0].x, helpers[0].y))
        names.append("track1")
    fwhm = next((s.fwhm for s in stars if (s.x, s.y) == pos[0]), 3.0)
    return pos, names, fwhm, notes


def _apertures(ph: Photometry, names: list[str]) -> tuple[Aperture, ...]:
    return tuple(
        Aperture(
            name,
            ph.signal[i],
            {
                "appsum": ph.appsum[i],
                "avgbkg": ph.avgbkg[i],
                "stdbkg": ph.stdbkg[i],
                "nmaskpx": np.full(ph.signal.shape[1], round(ph.npix)),
                "maxpx": ph.maxpx[i],
                "xcentroid": ph.x[i],
                "ycentroid": ph.y[i],
            },
        )
        for i, name in enumerate(names)
    )


def _from_ser(path: Path, opts: ReduceOptions) -> tuple[LightCurve, int, str, str]:
    ser = open_ser(path)
    times, epoch, source, notes = _ser_times(ser, opts)
    pos, names, fwhm, star_notes = _choose_stars(ser, opts)
    geo = choose_geometry(fwhm, opts.aperture_px)
    ph = measure(ser.iter_chunks(), ser.n_frames, pos, geo, ser.header.color_id)
    if ph.untracked:
        star_notes.append(
            f"{ph.untracked} frames with no star bright enough to track on "
            "(apertures kept moving with the drift)."
        )
    if ph.clipped:
        star_notes.append(f"{ph.clipped} frames with an aperture at the image edge.")
    lc = LightCurve(
        str(path),
        np.arange(ser.n_frames, dtype=np.float64),
        times,
        epoch,
        _apertures(ph, names),
        source,
        ser.notes + tuple(notes + star_notes),
    )
    return lc, 1 + len(opts.refs), ser.header.file_id, ser.header.instrument.strip()


def _from_csv(path: Path, opts: ReduceOptions) -> tuple[LightCurve, int]:
    lc = _columns(read_lightcurve(path), opts)
    if opts.date is not None and lc.times_s is not None and lc.epoch is None:
        lc = replace(
            lc, epoch=datetime(opts.date.year, opts.date.month, opts.date.day, tzinfo=timezone.utc)
        )
    return lc, 1 + len(opts.ref_columns)


def _provenance(lc: LightCurve, opts: ReduceOptions, writer: str | None) -> Provenance:
    """What stamped the frames: the journal's word when it has one, else the file's kind."""
    given = opts.provenance
    if lc.timestamp_source is TimestampSource.FRAME_INDEX or lc.times_s is None:
        return Provenance(StampKind.NONE)
    if lc.timestamp_source is TimestampSource.HEADER_CADENCE:
        kind = StampKind.HEADER_CADENCE
    elif lc.timestamp_source is TimestampSource.CSV:
        kind = StampKind.FILE
    elif given is not None and given.kind is not StampKind.NONE:
        return given
    else:
        kind = StampKind.HOST if writer == "INDI-RECORDER" else StampKind.RECORDER
    if given is not None:
        return replace(given, kind=kind)
    return Provenance(kind, detail=f"SER written by {writer!r}" if writer else "")


def reduce_file(path: Path, opts: ReduceOptions) -> Reduction:
    """Reduce a SER recording or a light-curve file.

    Raises:
        ReductionError: unreadable input, no star, too few frames, bad column names.
    """
    if not path.exists():
        raise ReductionError(f"{path}: no such file.")
    try:
        return _reduce(path, opts)
    except ReductionError as exc:
        if str(path) in str(exc):
            raise
        raise ReductionError(f"{path}: {exc}") from exc


def _reduce(path: Path, opts: ReduceOptions) -> Reduction:
    writer, instrument = None, ""
    if is_ser(path):
        lc, used, writer, instrument = _from_ser(path, opts)
    else:
        lc, used = _from_csv(path, opts)
    apertures: list[Aperture] = list(lc.apertures[:used])
    for a in apertures[1:]:
        empty = np.flatnonzero(~np.isfinite(a.signal))
        if empty.size:
            raise ReductionError(
                f"reference column {a.name!r} has {empty.size} empty values (first at frame "
                f"{lc.frames[empty[0]]:g}); choose another reference."
            )
    flux = normalised(apertures[0].signal, [a.signal for a in apertures[1:]])
    times = lc.times_s
    cadence = check_cadence(times, lc.frames) if times is not None and times.size > 1 else None
    if times is not None and cadence is not None and cadence.bad_stamps:
        times = repair_times(times, lc.frames, cadence)
    exposure = cadence.cadence_s if cadence is not None else None
    prov = _provenance(lc, opts, writer)
    camera = prov.camera or (instrument or None)
    stamps = budget(
        prov,
        cadence_s=exposure,
        jitter_s=cadence.jitter_s if cadence is not None else None,
        delay=opts.camera.delay_for(camera),
        latency_s=opts.latency_s,
    )
    notes: list[str] = []
    if times is not None:
        times = stamps.corrected(times)
        notes.append(f"timestamps: {stamps.why}")
    timing = time_event(
        flux, trials=opts.trials, fe_trials=opts.fe_trials, threshold=opts.threshold, seed=opts.seed
    )
    notes += list(lc.notes) + (cadence.describe() if cadence else []) + list(timing.notes)
    red = Reduction(
        lc,
        flux,
        timing,
        cadence,
        exposure,
        times,
        stamps.correction_s,
        tuple(a.name for a in apertures[1:]),
        tuple(notes),
        stamps,
    )
    return replace(red, notes=red.notes + tuple(_gap_warnings(red)))


def _gap_warnings(red: Reduction) -> list[str]:
    if red.cadence is None or not red.timing.event:
        return []
    out = []
    for name, x in (("D", red.timing.d), ("R", red.timing.r)):
        k = math.floor(x)
        if any(i - 1 <= k <= i for i, _ in red.cadence.gaps):
            out.append(f"frames were dropped next to {name}: its time may be off by a frame.")
    return out


def _round(v: float | None, nd: int = 6) -> float | None:
    return None if v is None or not math.isfinite(v) else round(v, nd)


def _seconds(red: Reduction, frames: float | None) -> float | None:
    if frames is None or red.exposure_s is None:
        return None
    return _round(frames * red.exposure_s)


def _duration(red: Reduction) -> float | None:
    """R - D in seconds: frames x the cadence, or, for an instant-sampling camera (frames of
    uneven length), the difference of the two edge times."""
    t = red.timing
    if not t.event:
        return None
    if red.stamps is not None and red.stamps.sampling == "instant":
        d, r = red.edge_time(t.d), red.edge_time(t.r)
        return None if d is None or r is None else _round(r - d)
    return _seconds(red, t.r - t.d)


def _timestamps(red: Reduction) -> dict[str, Any] | None:
    """The correction and the error budget, with each edge's fit bar and whole bar."""
    if red.stamps is None:
        return None
    out = red.stamps.to_dict()
    e = red.timing.errors
    for edge, bar in (("D", e.d68 if e else None), ("R", e.r68 if e else None)):
        fit = _seconds(red, bar) if red.timing.event else None
        out["budget"][f"fit_{edge}_s"] = fit
        out[f"{edge}_err_total_s"] = _round(red.stamps.total_s(fit))
    return out


def to_dict(red: Reduction) -> dict[str, Any]:
    """The result as JSON-ready data (times ISO 8601 UTC, durations and bars in seconds)."""
    t, e, lc = red.timing, red.timing.errors, red.lightcurve
    ev = t.event
    return {
        "file": lc.source,
        "event": ev,
        "D": red.edge_iso(t.d) if ev else None,
        "R": red.edge_iso(t.r) if ev else None,
        "D_err_s": _seconds(red, e.d68) if e else None,
        "R_err_s": _seconds(red, e.r68) if e else None,
        "D_err95_s": _seconds(red, e.d95) if e else None,
        "R_err95_s": _seconds(red, e.r95) if e else None,
        "duration_s": _duration(red),
        "duration_err_s": _seconds(red, e.dur68) if e else None,
        "duration_err95_s": _seconds(red, e.dur95) if e else None,
        "D_frame": _round(red.frame_number(t.d), 4) if ev else None,
        "R_frame": _round(red.frame_number(t.r), 4) if ev else None,
        "D_frame_err": _round(e.d68, 4) if e else None,
        "R_frame_err": _round(e.r68, 4) if e else None,
        "baseline": _round(t.b, 3),
        "event_level": _round(t.a, 3),
        "drop": _round(t.drop, 3),
        "drop_fraction": _round(t.drop / t.b, 4) if t.b else None,
        "snr": _round(t.snr, 3),
        "sigma_baseline": _round(t.noise.sigma_b, 3),
        "sigma_event": _round(t.noise.sigma_a, 3),
        "noise_acf": [round(v, 4) for v in t.noise.acf],
        "false_event_probability": float(f"{t.false_event_probability:.4g}"),
        "false_event_sigma": _round(t.false_event_sigma, 2),
        "frames": len(lc),
        "start_utc": red.edge_iso(0.0),
        "end_utc": red.edge_iso(float(len(lc))),
        "dropped_frames": red.cadence.dropped_frames if red.cadence else 0,
        "dropped_before_frames": [
            [_round(f, 4), n]
            for f, (_, n) in zip(red.cadence.gap_frames, red.cadence.gaps, strict=False)
        ]
        if red.cadence
        else [],
        "bad_stamp_frames": [_round(f, 4) for f in red.cadence.bad_stamp_frames]
        if red.cadence
        else [],
        "cadence_s": _round(red.cadence.cadence_s, 7) if red.cadence else None,
        "cadence_irregular": red.cadence.irregular if red.cadence else False,
        "timestamp_source": lc.timestamp_source.value,
        "timestamp_convention": CONVENTION,
        "latency_s": _round(red.latency_s, 7),
        "target": lc.target.name,
        "references": list(red.references),
        "date_known": lc.epoch is not None,
        "monte_carlo_trials": e.trials if e else 0,
        "timestamps": _timestamps(red),
        "notes": list(red.notes),
    }
