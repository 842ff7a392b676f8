"""Event timing: fit an occultation square wave with sub-frame edges, error bars, false-event test.

The model is PyOTE's: baseline level B outside the event, level A inside it, disappearance D and
reappearance R. Positions are in frame units on the curve's index axis: frame ``k`` is exposed
over ``[k, k+1)``, so an edge at ``x`` leaves a fraction ``k+1-x`` (D) or ``x-k`` (R) of the
transition frame ``k`` in the event, and that frame's intensity tells where inside it the edge is.

1. :func:`find_dip` finds the best whole-frame event by least squares over every (D, R) pair.
2. :func:`refine_edges` moves each edge to the sub-frame position that best explains the
   transition frame, allowing for frame-to-frame correlated noise (AR(1) generalised least
   squares), and re-fits B and A. It works on a stack of curves at once, so Monte-Carlo trials
   run through exactly the same code as the observation.
3. :func:`time_event` measures the noise (sigma of baseline and event, autocorrelation of the
   baseline), gets 68%/95% error bars by simulating the fitted event with that noise, and a
   false-event probability by simulating noise alone (how often it makes a dip as deep, for an
   event as long). No event is claimed when that probability is above the threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ekos_occult.errors import ReductionError
from ekos_occult.reduce.noise import NoiseModel, correlated_noise, measure_noise

__all__ = [
    "EdgeErrors",
    "EventTiming",
    "find_dip",
    "refine_edges",
    "false_event_probability",
    "edge_errors",
    "time_event",
    "position_to_time",
]

FloatArray = npt.NDArray[np.float64]
_MIN_FRAMES = 8
_MAX_EXACT = 20_000  # exhaustive (D, R) search up to this many frames
_FE_LENGTH = 2_000  # false-event simulations use at most this many frames, then scale
_SIM_CELLS = 2_000_000  # floats per simulation batch (memory bound)


@dataclass(frozen=True)
class EdgeErrors:
    """Monte-Carlo error bars in frames: half-widths of the 68% and 95% intervals."""

    d68: float
    d95: float
    r68: float
    r95: float
    dur68: float
    dur95: float
    trials: int


@dataclass(frozen=True)
class EventTiming:
    """The answer for one light curve (positions in frames on the index axis).

    ``d``/``r``/``b``/``a`` describe the best candidate even when ``event`` is False (no event
    supported by the data); ``errors`` is None then.
    """

    event: bool
    d: float
    r: float
    b: float
    a: float
    snr: float
    noise: NoiseModel
    false_event_probability: float
    false_event_sigma: float
    errors: EdgeErrors | None
    notes: tuple[str, ...]

    @property
    def drop(self) -> float:
        """B - A, in the curve's units."""
        return self.b - self.a


def find_dip(y: FloatArray) -> tuple[int, int, float]:
    """Best whole-frame event ``(d, r, score)``: frames d..r-1 low, at least one frame each side.

    ``score`` is the least-squares improvement over a flat line. Returns (0, 0, 0.0) when no
    interval is below the rest.
    """
    y = np.asarray(y, np.float64)
    n = y.size
    if n <= _MAX_EXACT:
        return _search(y, range(1, n - 1))
    b = math.ceil(n / (_MAX_EXACT // 2))
    nb = n // b
    d, r, _ = _search(y[: nb * b].reshape(nb, b).mean(axis=1), range(1, nb - 1))
    near = range(max(1, (r - d - 2) * b), min(n - 1, (r - d + 2) * b))
    lengths = set(range(1, 4 * b)) | set(near)
    return _search(y, sorted(lengths))


def _search(y: FloatArray, lengths: range | list[int]) -> tuple[int, int, float]:
    n = y.size
    c = np.concatenate([[0.0], np.cumsum(y - y.mean())])
    total = c[-1]
    best = (0, 0, 0.0)
    for length in lengths:
        s = c[1 + length : n] - c[1 : n - length]  # windows starting at d = 1 .. n-length-1
        if s.size == 0:
            continue
        j = int(np.argmin(s))
        s_in = float(s[j])
        n_out = n - length
        if s_in / length >= (total - s_in) / n_out:
            continue
        q = s_in * s_in / length + (total - s_in) ** 2 / n_out - total * total / n
        if q > best[2]:
            best = (j + 1, j + 1 + length, q)
    return best


def _weights(n: int, d: FloatArray, r: FloatArray) -> FloatArray:
    """Fraction of each frame inside the event [d, r) for each curve: shape (M, n)."""
    i = np.arange(n, dtype=np.float64)[None, :]
    w: FloatArray = np.clip(np.minimum(i + 1, r[:, None]) - np.maximum(i, d[:, None]), 0.0, 1.0)
    return w


def _levels(y: FloatArray, w: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Least-squares B and A of y = B + (A - B) w, per row."""
    n = y.shape[1]
    sw, sww = w.sum(axis=1), (w * w).sum(axis=1)
    sy, swy = y.sum(axis=1), (w * y).sum(axis=1)
    return _solve_levels(n, sy, sw, sww, swy)


def _solve_levels(
    n: int, sy: FloatArray, sw: FloatArray, sww: FloatArray, swy: FloatArray
) -> tuple[FloatArray, FloatArray]:
    den = n * sww - sw * sw
    slope = np.where(den > 0, (n * swy - sw * sy) / np.where(den > 0, den, 1.0), 0.0)
    b = (sy - slope * sw) / n
    return b, b + slope


def _levels_at(
    y: FloatArray, c: FloatArray, d: FloatArray, r: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """:func:`_levels` for the event [d, r) from prefix sums ``c`` of y: O(rows), not O(y)."""
    m, n = y.shape
    rows = np.arange(m)
    kd = np.clip(np.floor(d).astype(np.int64), 0, n - 1)
    kr = np.clip(np.floor(r).astype(np.int64), kd, n)
    same = kd == kr
    w_d = np.where(same, r - d, kd + 1 - d)
    w_r = np.where(same | (kr >= n), 0.0, r - kr)
    lo = kd + 1
    hi = np.maximum(kr, lo)
    full = (hi - lo).astype(np.float64)
    y_r = y[rows, np.minimum(kr, n - 1)]
    swy = c[rows, hi] - c[rows, lo] + w_d * y[rows, kd] + w_r * y_r
    sw = full + w_d + w_r
    sww = full + w_d * w_d + w_r * w_r
    return _solve_levels(n, c[:, n], sw, sww, swy)


def _edge(
    y: FloatArray,
    l1: FloatArray,
    l2: FloatArray,
    k_lo: int,
    k_hi: int,
    end: npt.NDArray[np.int64],
    rho: float,
    sigmas: tuple[float, float] = (1.0, 1.0),
) -> FloatArray:
    """Sub-frame position of a step from level l1 to l2 with the transition frame in
    [k_lo, k_hi]; frames from ``end`` on (per row) are ignored.

    Maximum likelihood with AR(1) noise of coefficient rho and sigma ``sigmas`` on either side
    of the step (the transition frame gets their mean variance).
    """
    m, n = y.shape
    w1, w2 = 1.0 / sigmas[0] ** 2, 1.0 / sigmas[1] ** 2
    wt = 2.0 / (sigmas[0] ** 2 + sigmas[1] ** 2)
    e1, e2 = y - l1[:, None], y - l2[:, None]
    p1 = np.zeros_like(y)
    p2 = np.zeros_like(y)
    p1[:, 1:] = (e1[:, 1:] - rho * e1[:, :-1]) ** 2
    p2[:, 1:] = (e2[:, 1:] - rho * e2[:, :-1]) ** 2
    c1, c2 = np.cumsum(p1, axis=1), np.cumsum(p2, axis=1)
    k = np.arange(max(1, k_lo), min(k_hi, n - 2) + 1)
    if k.size == 0:
        return np.full(m, float(k_lo))
    delta = (l2 - l1)[:, None]
    a = e1[:, k] - rho * e1[:, k - 1]
    b = e2[:, k + 1] - rho * e1[:, k]
    safe = np.where(delta == 0, 1.0, delta)
    g = np.clip((wt * a - w2 * rho * b) / (safe * (wt + w2 * rho * rho)), 0.0, 1.0)
    cost = (
        w1 * c1[:, k - 1]
        + wt * (a - g * delta) ** 2
        + w2 * (b + rho * g * delta) ** 2
        - w2 * c2[:, k + 1]
        + 2.0 * k * math.log(sigmas[0] / sigmas[1])
    )
    cost = np.where(k[None, :] <= end[:, None] - 2, cost, np.inf)
    j = np.argmin(cost, axis=1)
    x = k[j] + 1.0 - g[np.arange(m), j]
    return np.where(np.isfinite(cost[np.arange(m), j]), x, float(k_lo))


def _local_edge(
    y: FloatArray,
    l1: FloatArray,
    l2: FloatArray,
    k_lo: int,
    k_hi: int,
    end: npt.NDArray[np.int64],
    rho: float,
    sigmas: tuple[float, float],
) -> FloatArray:
    """:func:`_edge` on just the columns the candidates need (costs outside are constant)."""
    s = max(0, k_lo - 1)
    e = min(y.shape[1], k_hi + 2)
    return s + _edge(y[:, s:e], l1, l2, k_lo - s, k_hi - s, end - s, rho, sigmas)


def refine_edges(
    y: FloatArray,
    d0: int,
    r0: int,
    window: int,
    rho: float = 0.0,
    iterations: int = 6,
    sigmas: tuple[float, float] = (1.0, 1.0),
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Sub-frame D and R (and B, A) for each row of ``y`` (shape (M, n) or (n,)).

    Each edge's transition frame is searched within ``window`` frames of the whole-frame start
    (d0 = first event frame, r0 = first frame after it); B and A are re-fitted in between.
    ``rho`` is the noise's lag-1 correlation, ``sigmas`` its (baseline, event) spread.
    Apart from one cumulative sum, the work per iteration is proportional to the window.
    """
    y = np.atleast_2d(np.asarray(y, np.float64))
    m, n = y.shape
    c = np.zeros((m, n + 1))
    np.cumsum(y, axis=1, out=c[:, 1:])
    d = np.full(m, float(d0))
    r = np.full(m, float(r0))
    yr = y[:, ::-1]
    for _ in range(iterations):
        b, a = _levels_at(y, c, d, r)
        d = _local_edge(
            y, b, a, d0 - window - 1, d0 + window, np.floor(r).astype(np.int64), rho, sigmas
        )
        end = n - 1 - np.floor(d).astype(np.int64)
        r = n - _local_edge(yr, b, a, n - r0 - window - 1, n - r0 + window, end, rho, sigmas)
    b, a = _levels_at(y, c, d, r)
    return d, r, b, a


def _batches(total: int, n: int) -> list[int]:
    per = max(1, _SIM_CELLS // max(n, 1))
    return [min(per, total - i) for i in range(0, total, per)]


def _max_drops(
    m: int, n: int, length: int, noise: NoiseModel, rng: np.random.Generator
) -> FloatArray:
    """Deepest dip of ``length`` frames in each of ``m`` simulated noise-only curves."""
    z = correlated_noise(rng, m, n, noise.kernel, np.float32)  # unit sigma: scaled below
    c = np.zeros((m, n + 1), np.float32)
    np.cumsum(z, axis=1, out=c[:, 1:])
    s_in = (c[:, 1 + length : n] - c[:, 1 : n - length]).min(axis=1)
    drops = noise.sigma_b * ((c[:, -1] - s_in) / (n - length) - s_in / length)
    return np.asarray(drops, np.float64)


def false_event_probability(
    n: int, length: int, drop: float, noise: NoiseModel, trials: int, rng: np.random.Generator
) -> tuple[float, float]:
    """How often noise alone gives a dip of ``length`` frames at least ``drop`` deep.

    Simulates up to ``trials`` noise-only curves of ``n`` frames (at most 2000, then scaled to
    n) and finds each one's deepest dip of that length; stops after 1000 when the answer is
    already clear (a tenth of them as deep, or none within 10 sigma). Returns (probability,
    sigma distance of the observed drop from the simulated ones).
    """
    sim_n = min(n, max(_FE_LENGTH, 4 * length))
    parts: list[FloatArray] = []
    done = 0
    for m in _batches(trials, sim_n + 2 * noise.kernel.size):
        parts.append(_max_drops(m, sim_n, length, noise, rng))
        done += m
        if done >= 1000:
            sims = np.concatenate(parts)
            hits = int(np.count_nonzero(sims >= drop))
            far = (drop - float(np.mean(sims))) > 10 * float(np.std(sims))
            if hits >= done // 10 or (hits == 0 and far):
                break
    sims = np.concatenate(parts)
    p = _tail_probability(sims, drop)
    if sim_n < n:  # more places for a fake dip in a longer curve
        p = 1.0 - (1.0 - p) ** (n / sim_n)
    spread = float(np.std(sims))
    sigma = (drop - float(np.mean(sims))) / spread if spread > 0 else math.inf
    return float(min(p, 1.0)), sigma


def _tail_probability(sims: FloatArray, x: float) -> float:
    """P(sim >= x): counted when at least 10 simulations reach x, else from a Gumbel fit of the
    simulated maxima (the law of a maximum), so a strong event gets a small, finite number."""
    hits = int(np.count_nonzero(sims >= x))
    if hits >= 10:
        return hits / sims.size
    beta = float(np.std(sims)) * math.sqrt(6) / math.pi
    if beta <= 0:
        return 0.0 if hits == 0 else hits / sims.size
    mu = float(np.mean(sims)) - 0.5772156649 * beta
    z = (x - mu) / beta
    return -math.expm1(-math.exp(-z)) if z < 700 else 0.0


def _half_width(x: FloatArray, ci: float) -> float:
    """The +/- bar that contains the true error in ``ci`` percent of the trials."""
    return float(np.percentile(np.abs(x), ci))


def edge_errors(
    d: float,
    r: float,
    b: float,
    a: float,
    n_before: int,
    n_after: int,
    noise: NoiseModel,
    window: int,
    trials: int,
    rng: np.random.Generator,
) -> EdgeErrors:
    """Monte-Carlo error bars: simulate the fitted event with the measured noise, re-fit."""
    pad_l, pad_r = min(n_before, 200), min(n_after, 200)
    dl, rl = pad_l + d - math.floor(d), pad_l + r - math.floor(d)
    n = int(math.ceil(rl)) + pad_r
    dt, rt = np.array([dl]), np.array([rl])
    w = _weights(n, dt, rt)[0]
    model, sigma = b + (a - b) * w, noise.sigma_b + (noise.sigma_a - noise.sigma_b) * w
    ed, er = [], []
    for m in _batches(trials, n + 2 * noise.kernel.size):
        y = model + correlated_noise(rng, m, n, noise.kernel) * sigma
        ds, rs, _, _ = refine_edges(
            y, int(round(dl)), int(round(rl)), window, noise.rho, sigmas=_sigmas(noise)
        )
        ed.append(ds - dl)
        er.append(rs - rl)
    e_d, e_r = np.concatenate(ed), np.concatenate(er)
    return EdgeErrors(
        _half_width(e_d, 68.27),
        _half_width(e_d, 95.45),
        _half_width(e_r, 68.27),
        _half_width(e_r, 95.45),
        _half_width(e_r - e_d, 68.27),
        _half_width(e_r - e_d, 95.45),
        int(e_d.size),
    )


def _sigmas(noise: NoiseModel) -> tuple[float, float]:
    """(baseline, event) noise for the edge fit: equal unless the event's is well measured
    (20+ frames) and clearly different (shot noise of a bright star that vanishes)."""
    ratio = noise.sigma_a / noise.sigma_b if noise.sigma_b > 0 else 1.0
    if noise.event_frames < 20 or 0.8 < ratio < 1.25:
        return (1.0, 1.0)
    return (noise.sigma_b, noise.sigma_a)


def _window(dnr: float) -> int:
    """Edge search half-width in frames: wider when the drop is small against the noise."""
    return int(min(100, max(3, math.ceil(20.0 / max(dnr, 0.2) ** 2))))


def _warnings(n: int, d0: int, r0: int, noise: NoiseModel) -> list[str]:
    """Signs that the square-wave model may not fit the light curve."""
    out = []
    if r0 - d0 < 3:
        out.append(
            f"the event spans only {r0 - d0} frame(s): the drop and the edges are "
            "hard to tell apart; treat the times with care."
        )
    if d0 <= 2 or r0 >= n - 2:
        out.append(
            "the dip touches the start or end of the recording: it may be a trend "
            "or clouds rather than an event (divide by a reference star: --ref or --ref-column)."
        )
    if len(noise.acf) > 10:
        out.append(
            "the baseline wanders slowly (correlated beyond 10 frames: clouds, a "
            "trend?); the square-wave fit and its error bars may not apply."
        )
    return out


def _no_dip(y: FloatArray) -> EventTiming:
    level = float(y.mean())
    flat = measure_noise(y, 0, 0, level, level)
    return EventTiming(
        False,
        math.nan,
        math.nan,
        level,
        level,
        0.0,
        flat,
        1.0,
        0.0,
        None,
        ("no dip at all in the light curve.",),
    )


def time_event(
    y: FloatArray,
    *,
    trials: int = 5_000,
    fe_trials: int = 10_000,
    threshold: float = 1e-3,
    seed: int | None = 0,
) -> EventTiming:
    """Fit, test and error-bar the occultation in light curve ``y`` (one value per frame).

    Args:
        y: intensities, frame order, no gaps (NaNs are not allowed).
        trials: Monte-Carlo trials for the error bars.
        fe_trials: noise-only simulations for the false-event probability.
        threshold: largest false-event probability for which an event is claimed.
        seed: random seed (results are reproducible for a given seed).

    Raises:
        ReductionError: too few frames or non-finite values.
    """
    y = np.asarray(y, np.float64)
    if y.size < _MIN_FRAMES:
        raise ReductionError(f"only {y.size} frames; at least {_MIN_FRAMES} are needed.")
    if not np.all(np.isfinite(y)):
        raise ReductionError("the light curve has missing (NaN) values.")
    rng = np.random.default_rng(seed)
    d0, r0, _ = find_dip(y)
    if r0 <= d0:
        return _no_dip(y)
    b0, a0 = _levels(y[None, :], _weights(y.size, np.array([d0 * 1.0]), np.array([r0 * 1.0])))
    noise = measure_noise(y, d0, r0, float(b0[0]), float(a0[0]))
    drop0 = float(b0[0] - a0[0])
    win = _window(drop0 / noise.sigma_b if noise.sigma_b > 0 else math.inf)
    fit = refine_edges(y, d0, r0, win, noise.rho, sigmas=_sigmas(noise))
    d, r, b, a = (float(v[0]) for v in fit)
    p, sig = false_event_probability(y.size, r0 - d0, drop0, noise, fe_trials, rng)
    notes = _warnings(y.size, d0, r0, noise)
    errors = None
    if p <= threshold:
        errors = edge_errors(d, r, b, a, d0, y.size - r0, noise, win, trials, rng)
    else:
        notes.append(
            f"no event: noise alone makes a dip this deep and long with probability "
            f"{p:.3g} (threshold {threshold:g})."
        )
    snr = (b - a) / noise.sigma_b if noise.sigma_b else math.inf
    return EventTiming(p <= threshold, d, r, b, a, snr, noise, p, sig, errors, tuple(notes))


def position_to_time(
    x: float, times_s: FloatArray, exposure_s: float, *, contiguous: bool = False
) -> float:
    """Time of a frame position: start of frame floor(x) plus the fraction times the exposure.

    ``contiguous``: the frames tile time with no gap (an instant-sampling camera's equivalent
    frames, each lasting until the next one starts): the fraction is of the time to the next
    frame's start instead (the exposure past the last frame).
    """
    k = int(min(max(math.floor(x), 0), times_s.size - 1))
    length = exposure_s
    if contiguous and k + 1 < times_s.size:
        length = float(times_s[k + 1] - times_s[k])
    return float(times_s[k]) + (x - k) * length
