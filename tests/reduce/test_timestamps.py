"""The timestamp correction model (reduce/timestamps.py) on stamps with a known timeline."""

from __future__ import annotations

import math

import numpy as np
import pytest
from synthetic import Scene, instant_timeline

from ekos_occult.reduce.timestamps import (
    Provenance,
    StampKind,
    budget,
    instant_starts,
)
from ekos_occult.settings import MEASURED_DELAYS, CameraDelay, CameraSettings

# The CCD Simulator under load at 0.05 s exposure: its draw loop takes 0.05-0.17 s a frame.
IRREGULAR = (0.05, 0.052, 0.11, 0.171, 0.06, 0.13, 0.054, 0.093, 0.155, 0.07, 0.05)
HOST = Provenance(StampKind.HOST, exposure_s=0.05, camera="CCD Simulator")


def _instant(a: float = 0.035) -> CameraDelay:
    return CameraDelay(-a, 0.01, "test", "instant")


def test_instant_starts_are_midway_between_the_sample_instants() -> None:
    sc = Scene(n_frames=60, sampling="instant", sample_offset_s=0.035, intervals_s=IRREGULAR)
    g, w = instant_timeline(sc)
    p = float(np.median(np.diff(w)))
    starts = instant_starts(w, -0.035, p)
    assert starts[2:] == pytest.approx(0.5 * (g[1:-1] + g[2:]), abs=1e-12)
    # frames 0 and 1 need stamps before the first: extended back at the median interval
    assert starts[1] == pytest.approx(0.5 * (w[0] - p + 0.035 + g[1]), abs=1e-12)
    assert starts[0] == pytest.approx(w[0] - 1.5 * p + 0.035, abs=1e-12)


@pytest.mark.parametrize("a", [0.02, 0.035, 0.06])
def test_an_edge_between_two_samples_is_dated_within_half_their_interval(a: float) -> None:
    """Any truth between the last sample before it and the first after it: the corrected
    boundary is within half that interval, and unbiased over truths spread evenly."""
    sc = Scene(n_frames=80, sampling="instant", sample_offset_s=a, intervals_s=IRREGULAR)
    g, w = instant_timeline(sc)
    b = budget(HOST, cadence_s=float(np.median(np.diff(w))), jitter_s=None, delay=_instant(a))
    starts = b.corrected(w)
    rng = np.random.default_rng(3)
    errors, old = [], []
    for truth in rng.uniform(g[5], g[-5], 2000):
        k = int(np.searchsorted(g, truth))  # first frame sampled at or after the truth
        half = 0.5 * (g[k] - g[k - 1])
        err = starts[k] - truth  # reduce puts a clean step at the start of frame k
        assert abs(err) <= half + 1e-9
        errors.append(err)
        old.append(w[k] - (0.05 + 0.09) - truth)  # the former model: one exposure + 0.09 s
    assert abs(float(np.mean(errors))) < 0.005
    assert max(abs(e) for e in old) > 0.075  # the constant model is off by more (why it went)


def test_instant_budget_says_what_it_did() -> None:
    b = budget(HOST, cadence_s=0.1, jitter_s=0.0, delay=_instant(0.035))
    assert b.sampling == "instant"
    assert b.correction_s == pytest.approx(1.5 * 0.1 - 0.035)
    assert b.sampling_s == pytest.approx(0.1 / math.sqrt(12))
    assert b.timestamp_uncertainty_s == pytest.approx(math.hypot(0.01, 0.1 / math.sqrt(12)))
    d = b.to_dict()
    assert d["budget"]["sampling"] == "instant"
    assert d["budget"]["acquisition_delay_s"] == pytest.approx(-0.035)
    assert "one instant per frame" in d["why"] and "0.0350 s" in d["why"]
    # a regular stream: every frame corrected by the same 1.5 intervals + delay
    w = np.arange(20) * 0.1 + 7.0
    assert b.corrected(w) == pytest.approx(w - b.correction_s, abs=1e-12)


def test_integrating_camera_keeps_exposure_plus_delay() -> None:
    cam = CameraDelay(0.012, 0.004, "config for 'ASI462MM'")
    b = budget(Provenance(StampKind.HOST, exposure_s=0.2), cadence_s=0.2, jitter_s=None, delay=cam)
    assert b.sampling == "exposure" and b.sampling_s == 0.0
    assert b.to_dict()["budget"]["sampling_s"] is None  # not a term of an integrating camera
    assert b.correction_s == pytest.approx(0.212)
    w = np.array([1.0, 1.2, 1.45, 1.6])
    assert b.corrected(w) == pytest.approx(w - 0.212)


def test_latency_flag_overrides_instant_sampling() -> None:
    b = budget(HOST, cadence_s=0.1, jitter_s=None, delay=_instant(), latency_s=0.3)
    w = np.array([1.0, 1.1, 1.35])
    assert b.sampling == "exposure" and b.corrected(w) == pytest.approx(w - 0.3)


def test_instant_without_a_cadence_falls_back_to_the_exposure_model() -> None:
    b = budget(HOST, cadence_s=None, jitter_s=None, delay=_instant())
    assert b.sampling == "exposure" and b.correction_s == pytest.approx(0.05 - 0.035)


def test_the_ccd_simulator_is_measured_as_instant_sampling() -> None:
    sim = CameraSettings().delay_for("CCD Simulator")
    assert sim.sampling == "instant" and sim.delay_s < 0 and "measured" in sim.origin
    assert [m[0] for m in MEASURED_DELAYS] == ["CCD Simulator"]
    other = CameraSettings().delay_for("QHY174M")
    assert other.sampling == "exposure" and other.origin.startswith("built-in default")


def test_an_edge_just_before_a_boundary_of_uneven_frames_is_at_that_boundary() -> None:
    """The fit may put a clean step at 23.9996 instead of 24: with frames of uneven length
    (the simulator under load) that must still be frame 24's start, not frame 23's start plus
    the median interval (what the sandbox showed: -0.126 s instead of -0.051 s)."""
    from ekos_occult.reduce.timing import position_to_time

    starts = np.cumsum([0.0, *IRREGULAR * 3])
    median = float(np.median(np.diff(starts)))
    for k in range(1, starts.size - 1):
        at = position_to_time(k - 4e-4, starts, median, contiguous=True)
        assert at == pytest.approx(starts[k], abs=1e-3)
        inside = position_to_time(k + 0.5, starts, median, contiguous=True)
        assert inside == pytest.approx(0.5 * (starts[k] + starts[k + 1]))
    off = position_to_time(4 - 4e-4, starts, median)  # the integrating camera's mapping
    assert abs(off - starts[4]) > 0.09  # IRREGULAR[3] = 0.171 s is far from the median
