"""Synthetic occultation recordings with a known answer, for the reduce tests and benchmarks.

A recording is a SER file of Gaussian stars on a sky background with photon and read noise, an
optional slow drift, and a target whose light is cut between the known positions ``d`` and ``r``
(in frames: frame ``k`` is exposed over ``[k, k+1)``, so a fractional edge dims its transition
frame partly, as a real exposure does). Frame times are exposure starts at a fixed cadence, plus
a constant latency: by default what INDI's recorder does (an ``INDI-RECORDER`` file is stamped
one exposure plus the default acquisition delay after the exposure started; other writers at
the start); dropped frames leave gaps in the timestamps.

``sampling="instant"`` makes a recording as the INDI CCD Simulator does (docs/timing.md): frame
k shows the sky at one instant ``g_k`` (no partial frame at an edge), taken ``sample_offset_s``
after the previous frame's stamp; frame k's stamp follows its loop start by its own interval
(``intervals_s``, cycled; default the cadence). The truth is ``d``, ``r`` frames times the
cadence after START, as for the integrating recordings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from ekos_occult.settings import DEFAULT_ACQUISITION_DELAY_S
from ekos_occult.video.ser import COLOR_MONO, COLOR_RGB, SerWriter, datetime_to_ticks

START = datetime(2024, 3, 14, 22, 15, 30, 250000, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Recording:
    """What a synthetic recording contains (the answer the reduction should find)."""

    path: Path
    d: float | None  # disappearance, frame position (None: no event)
    r: float | None
    cadence_s: float
    start: datetime
    target_xy: tuple[float, float]
    refs_xy: tuple[tuple[float, float], ...]
    n_frames: int
    dropped: tuple[int, ...] = ()

    def time_of(self, x: float) -> datetime:
        """UTC start-of-exposure time of a frame position."""
        return self.start + timedelta(seconds=x * self.cadence_s)

    @property
    def d_utc(self) -> datetime:
        assert self.d is not None
        return self.time_of(self.d)

    @property
    def r_utc(self) -> datetime:
        assert self.r is not None
        return self.time_of(self.r)


@dataclass(frozen=True)
class Scene:
    """Everything that shapes a synthetic recording (defaults: a small, easy, 16-bit INDI file)."""

    n_frames: int = 240
    width: int = 64
    height: int = 48
    fwhm: float = 3.0
    target: tuple[float, float] = (33.3, 24.6)
    target_flux: float = 6000.0
    refs: tuple[tuple[float, float, float], ...] = ((12.4, 10.7, 9000.0),)
    background: float = 200.0
    read_noise: float = 6.0
    drift: tuple[float, float] = (0.0, 0.0)  # pixels per frame
    d: float | None = 100.35
    r: float | None = 140.8
    remaining: float = 0.0  # fraction of the target's light left during the event
    cadence_s: float = 0.04
    latency_s: float | None = None  # None: as the writer stamps (INDI: one exposure + delay)
    pixel_depth: int = 16
    color: bool = False
    file_id: str = "INDI-RECORDER"
    trailer: bool = True
    crash: bool = False  # stop like a crash: FrameCount 0, no trailer
    dropped: tuple[int, ...] = ()
    transparency: tuple[float, float] = (0.0, 0.0)  # amplitude, period (frames) of cloud dimming
    seed: int = 1
    extra_stars: tuple[tuple[float, float, float], ...] = field(default_factory=tuple)
    sampling: str = "exposure"  # or "instant": the CCD Simulator's draw-time sampling
    sample_offset_s: float = 0.035  # instant: sample - previous frame's stamp
    intervals_s: tuple[float, ...] = ()  # instant: the draw loop's periods, cycled


def instant_timeline(sc: Scene) -> tuple[np.ndarray, np.ndarray]:
    """(sample instants, stamps) in seconds after START of an instant-sampling recording."""
    periods = sc.intervals_s or (sc.cadence_s,)
    start = -sc.sample_offset_s  # the first sample falls at START - a + a = START
    g = np.empty(sc.n_frames)
    w = np.empty(sc.n_frames)
    for k in range(sc.n_frames):
        g[k] = start + sc.sample_offset_s
        w[k] = start + periods[k % len(periods)]
        start = w[k]
    return g, w


def _psf(width: int, height: int, x: float, y: float, flux: float, fwhm: float) -> np.ndarray:
    sigma = fwhm / 2.3548
    yy, xx = np.mgrid[0:height, 0:width]
    g = np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma * sigma))
    return flux * g / (2 * math.pi * sigma * sigma)


def event_fraction(n: int, d: float | None, r: float | None) -> np.ndarray:
    """Fraction of each frame's exposure inside [d, r)."""
    if d is None or r is None:
        return np.zeros(n)
    i = np.arange(n, dtype=np.float64)
    return np.clip(np.minimum(i + 1, r) - np.maximum(i, d), 0.0, 1.0)


def _frames(sc: Scene, rng: np.random.Generator) -> np.ndarray:
    n = sc.n_frames
    w = event_fraction(n, sc.d, sc.r)
    if sc.sampling == "instant":
        g, _ = instant_timeline(sc)
        lo = math.inf if sc.d is None else sc.d * sc.cadence_s
        hi = -math.inf if sc.r is None else sc.r * sc.cadence_s
        w = ((g >= lo) & (g < hi)).astype(np.float64)
    amp, period = sc.transparency
    sky = 1.0 - amp * (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / max(period, 1.0)))
    out = np.empty((n, sc.height, sc.width))
    for k in range(n):
        dx, dy = sc.drift[0] * k, sc.drift[1] * k
        img = np.full((sc.height, sc.width), float(sc.background))
        f_t = sc.target_flux * (1.0 - (1.0 - sc.remaining) * w[k]) * sky[k]
        img += _psf(sc.width, sc.height, sc.target[0] + dx, sc.target[1] + dy, f_t, sc.fwhm)
        for x, y, f in sc.refs + sc.extra_stars:
            img += _psf(sc.width, sc.height, x + dx, y + dy, f * sky[k], sc.fwhm)
        out[k] = img
    noisy = rng.poisson(out).astype(np.float64) + rng.normal(0.0, sc.read_noise, out.shape)
    top = (1 << sc.pixel_depth) - 1
    return np.clip(np.rint(noisy), 0, top)


def stamp_latency_s(sc: Scene) -> float:
    """How late the frames are stamped after their exposure started."""
    if sc.latency_s is not None:
        return sc.latency_s
    if sc.file_id == "INDI-RECORDER":
        return sc.cadence_s + DEFAULT_ACQUISITION_DELAY_S
    return 0.0


def make_recording(path: Path, scene: Scene | None = None) -> Recording:
    """Write a synthetic SER recording and return what it contains."""
    sc = scene or Scene()
    rng = np.random.default_rng(sc.seed)
    frames = _frames(sc, rng)
    keep = [k for k in range(sc.n_frames) if k not in set(sc.dropped)]
    late = stamp_latency_s(sc)
    at = [k * sc.cadence_s + late for k in range(sc.n_frames)]
    if sc.sampling == "instant":
        at = list(instant_timeline(sc)[1])
    ticks = [datetime_to_ticks(START + timedelta(seconds=float(at[k]))) for k in keep]
    color = COLOR_RGB if sc.color else COLOR_MONO
    with SerWriter(
        path,
        sc.width,
        sc.height,
        pixel_depth=sc.pixel_depth,
        color_id=color,
        file_id=sc.file_id,
        start_utc=START,
        trailer=sc.trailer,
    ) as wr:
        for j, k in enumerate(keep):
            img = frames[k]
            if sc.color:
                img = np.repeat(img[:, :, None], 3, axis=2)
            wr.write(img, ticks[j])
        if sc.crash:
            wr.abandon()
    return Recording(
        path,
        sc.d,
        sc.r,
        sc.cadence_s,
        START,
        sc.target,
        tuple((x, y) for x, y, _ in sc.refs),
        len(keep),
        tuple(sc.dropped),
    )
