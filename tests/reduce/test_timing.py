"""Event timing: exact on clean data, honest error bars and false-event test on noisy data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from synthetic import event_fraction

from ekos_occult.errors import ReductionError
from ekos_occult.reduce.noise import NoiseModel, correlated_noise, measure_noise
from ekos_occult.reduce.timing import (
    edge_errors,
    false_event_probability,
    find_dip,
    position_to_time,
    refine_edges,
    time_event,
)


def square_wave(n: int, d: float, r: float, b: float = 1000.0, a: float = 200.0) -> np.ndarray:
    return b + (a - b) * event_fraction(n, d, r)


def ar1(rng: np.random.Generator, n: int, rho: float) -> np.ndarray:
    e = rng.standard_normal(n)
    for i in range(1, n):
        e[i] = rho * e[i - 1] + math.sqrt(1 - rho * rho) * e[i]
    return e


def test_find_dip_whole_frames() -> None:
    y = square_wave(200, 60.0, 75.0)
    d, r, score = find_dip(y)
    assert (d, r) == (60, 75) and score > 0
    assert find_dip(np.linspace(0, 1, 50))[0] == 1  # a ramp: the lowest stretch is the start
    assert find_dip(np.ones(30)) == (0, 0, 0.0)


@pytest.mark.parametrize(("d", "r"), [(60.0, 75.0), (60.25, 75.5), (59.9, 61.3), (60.999, 90.001)])
def test_sub_frame_edges_are_exact_without_noise(d: float, r: float) -> None:
    y = square_wave(200, d, r)
    d0, r0, _ = find_dip(y)
    ds, rs, bs, as_ = refine_edges(y, d0, r0, window=3)
    assert ds[0] == pytest.approx(d, abs=1e-6) and rs[0] == pytest.approx(r, abs=1e-6)
    assert bs[0] == pytest.approx(1000.0) and as_[0] == pytest.approx(200.0)


def test_refine_edges_with_correlated_noise_model() -> None:
    y = square_wave(150, 40.3, 80.6)
    ds, rs, _, _ = refine_edges(y, 40, 81, window=3, rho=0.6)
    assert ds[0] == pytest.approx(40.3, abs=1e-6) and rs[0] == pytest.approx(80.6, abs=1e-6)


def test_noisy_event_is_found_within_its_error_bars() -> None:
    rng = np.random.default_rng(11)
    y = square_wave(300, 120.37, 161.82, b=1000, a=900) + rng.normal(0, 20, 300)  # DNR 5
    res = time_event(y, trials=2000, fe_trials=2000)
    assert res.event and res.errors is not None
    assert abs(res.d - 120.37) < 3 * res.errors.d68
    assert abs(res.r - 161.82) < 3 * res.errors.r68
    assert res.b == pytest.approx(1000, abs=5) and res.a == pytest.approx(900, abs=8)
    assert res.snr == pytest.approx(5, rel=0.2)
    assert res.false_event_probability < 1e-3 and res.false_event_sigma > 5
    assert 0 < res.errors.d68 < res.errors.d95 < 1.5


def test_error_bars_match_the_real_scatter() -> None:
    """The Monte-Carlo 68%/95% bars predict the scatter of many independent fits."""
    rng = np.random.default_rng(5)
    n, d, r, sigma = 200, 80.4, 120.7, 25.0
    y = square_wave(n, d, r, 1000, 900)[None, :] + rng.normal(0, sigma, (1500, n))
    ds, rs, _, _ = refine_edges(y, 80, 121, window=5)
    noise = measure_noise(y[0], 80, 121, 1000.0, 900.0)
    bars = edge_errors(d, r, 1000.0, 900.0, 80, n - 121, noise, 5, 3000, rng)
    for est, truth, b68, b95 in ((ds, d, bars.d68, bars.d95), (rs, r, bars.r68, bars.r95)):
        err = np.abs(est - truth)
        assert np.mean(err <= b68) == pytest.approx(0.683, abs=0.06)
        assert np.mean(err <= b95) == pytest.approx(0.954, abs=0.03)


def test_short_event_of_three_frames() -> None:
    rng = np.random.default_rng(2)
    y = square_wave(250, 100.6, 103.4, 1000, 500) + rng.normal(0, 25, 250)
    res = time_event(y, trials=1000, fe_trials=2000)
    assert res.event and res.errors is not None
    assert abs(res.d - 100.6) < 3 * res.errors.d68 + 0.05
    assert abs(res.r - 103.4) < 3 * res.errors.r68 + 0.05


def test_pure_noise_is_no_event() -> None:
    rng = np.random.default_rng(8)
    claimed = 0
    for _ in range(20):
        res = time_event(rng.normal(1000, 20, 300), trials=200, fe_trials=2000)
        claimed += res.event
        if not res.event:
            assert res.errors is None and res.false_event_probability > 1e-3
            assert "no event" in " ".join(res.notes)
    assert claimed == 0


def _deepest_dip(y: np.ndarray, length: int) -> float:
    """Independent check: the largest mean(outside) - mean(inside) over windows of one length."""
    sums = np.convolve(y, np.ones(length), mode="valid")[1 : y.size - length]
    inside = sums / length
    outside = (y.sum() - sums) / (y.size - length)
    return float(np.max(outside - inside))


def test_false_event_probability_matches_brute_force() -> None:
    rng = np.random.default_rng(4)
    n, length = 120, 6
    white = NoiseModel(1.0, 1.0, (1.0,), 0.0, np.ones(1))
    brute = np.array([_deepest_dip(rng.normal(0, 1, n), length) for _ in range(3000)])
    for drop in np.percentile(brute, [20, 50, 80, 95]):
        p, _ = false_event_probability(n, length, float(drop), white, 20_000, rng)
        assert p == pytest.approx(np.mean(brute >= drop), abs=0.025)
    tiny, sigma = false_event_probability(n, length, 4.0, white, 2000, rng)
    assert 0 < tiny < 1e-6 and sigma > 8  # beyond every simulation: from the fitted tail


def test_measure_noise_sees_correlation_and_simulates_it() -> None:
    rng = np.random.default_rng(9)
    y = 50 * ar1(rng, 4000, 0.6) + 1000
    noise = measure_noise(y, 1990, 2010, 1000.0, 1000.0)
    assert noise.rho == pytest.approx(0.6, abs=0.05)
    assert noise.sigma_b == pytest.approx(50, rel=0.1)
    z = correlated_noise(rng, 200, 500, noise.kernel)
    lag1 = np.mean(z[:, 1:] * z[:, :-1])
    assert np.std(z) == pytest.approx(1.0, abs=0.05) and lag1 == pytest.approx(0.6, abs=0.05)
    white = measure_noise(rng.normal(0, 1, 4000), 10, 20, 0.0, 0.0)
    assert white.acf == (1.0,) and white.kernel.size == 1


@pytest.mark.parametrize("rho", [0.0, 0.6])
def test_error_bars_hold_with_correlated_noise(rho: float) -> None:
    """Bars from time_event (noise measured from the curve itself) cover the truth as stated."""
    rng = np.random.default_rng(21)
    base = square_wave(300, 100.5, 150.5, 1000, 900)
    inside = {68: 0, 95: 0}
    runs = 40
    for i in range(runs):
        res = time_event(base + 20 * ar1(rng, 300, rho), trials=400, fe_trials=200, seed=i)
        assert res.event and res.errors is not None
        inside[68] += abs(res.d - 100.5) <= res.errors.d68
        inside[95] += abs(res.d - 100.5) <= res.errors.d95
    assert 0.5 <= inside[68] / runs <= 0.85 and inside[95] / runs >= 0.85


def test_too_short_or_bad_values() -> None:
    with pytest.raises(ReductionError, match="only 5 frames"):
        time_event(np.ones(5))
    with pytest.raises(ReductionError, match="NaN"):
        time_event(np.array([1.0] * 10 + [math.nan]))


def test_flat_curve_has_no_event() -> None:
    res = time_event(np.full(50, 7.0))
    assert not res.event and res.false_event_probability == 1.0


def test_position_to_time_uses_frame_starts() -> None:
    t = np.array([0.0, 0.04, 0.12, 0.16])  # one dropped frame between 1 and 2
    assert position_to_time(1.5, t, 0.04) == pytest.approx(0.06)
    assert position_to_time(2.25, t, 0.04) == pytest.approx(0.13)
    assert position_to_time(4.0, t, 0.04) == pytest.approx(0.20)


def test_a_trend_is_flagged() -> None:
    rng = np.random.default_rng(6)
    y = np.linspace(800, 1200, 400) + rng.normal(0, 10, 400)  # clouds clearing, no event
    res = time_event(y, trials=200, fe_trials=500)
    text = " ".join(res.notes)
    assert "touches the start or end of the recording" in text
    assert "baseline wanders slowly" in text
