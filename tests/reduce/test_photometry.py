"""Photometry on synthetic recordings: star finding, target choice, tracking, fluxes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from synthetic import Scene, make_recording

from ekos_occult.errors import ReductionError
from ekos_occult.reduce.photometry import (
    Star,
    choose_geometry,
    find_stars,
    mean_image,
    measure,
    pick_target,
)
from ekos_occult.video.ser import open_ser


def _image(stars: list[tuple[float, float, float]], seed: int = 0) -> np.ndarray:
    sc = Scene(
        n_frames=1,
        d=None,
        r=None,
        refs=(),
        target=(0, 0),
        target_flux=0.0,
        extra_stars=tuple(stars),
        seed=seed,
        width=80,
        height=60,
    )
    from synthetic import _frames

    return _frames(sc, np.random.default_rng(seed))[0]


def test_find_stars_positions_and_order() -> None:
    img = _image([(20.3, 15.7, 8000.0), (60.6, 40.2, 3000.0)])
    img[5, 70] += 5000  # a hot pixel is not a star
    stars = find_stars(img)
    assert len(stars) == 2
    assert stars[0].x == pytest.approx(20.3, abs=0.1) and stars[0].y == pytest.approx(15.7, abs=0.1)
    assert stars[1].x == pytest.approx(60.6, abs=0.1) and stars[1].y == pytest.approx(40.2, abs=0.1)
    assert stars[0].flux > stars[1].flux
    assert stars[0].fwhm == pytest.approx(3.0, abs=0.8)


def test_pick_target_is_nearest_the_centre() -> None:
    stars = [Star(5, 5, 9e4, 500, 3), Star(30, 22, 100, 8, 3), Star(70, 50, 5e3, 80, 3)]
    assert pick_target(stars, 64, 48) is stars[1]
    with pytest.raises(ReductionError, match="--target"):
        pick_target([], 64, 48)


def test_geometry() -> None:
    g = choose_geometry(3.0)
    assert g.radius == pytest.approx(3.6) and g.inner > g.radius + 2 and g.outer > g.inner + 4
    assert choose_geometry(3.0, radius=5.0).radius == 5.0


def _run(tmp_path: Path, scene: Scene, positions: list[tuple[float, float]] | None = None):
    rec = make_recording(tmp_path / "p.ser", scene)
    ser = open_ser(rec.path)
    stars = find_stars(mean_image(ser))
    pos = positions or [rec.target_xy, *rec.refs_xy]
    pos = [
        min(((s.x, s.y) for s in stars), key=lambda q: (q[0] - x) ** 2 + (q[1] - y) ** 2)
        for x, y in pos
    ]
    return rec, measure(
        ser.iter_chunks(max_bytes=40 * 64 * 48 * 2),
        ser.n_frames,
        pos,
        choose_geometry(3.0),
        ser.header.color_id,
    )


def test_tracking_follows_a_drift_through_the_event(tmp_path: Path) -> None:
    sc = Scene(drift=(0.03, -0.02), n_frames=300, d=120.0, r=200.0)
    rec, ph = _run(tmp_path, sc)
    k = np.arange(300)
    true_x = sc.target[0] + sc.drift[0] * k
    true_y = sc.target[1] + sc.drift[1] * k
    assert np.max(np.abs(ph.x[0] - true_x)) < 0.35 and np.max(np.abs(ph.y[0] - true_y)) < 0.35
    # in the event the target is gone: its aperture follows the reference star
    assert ph.untracked == 0
    base = np.concatenate([ph.signal[0, :110], ph.signal[0, 210:]])
    assert np.mean(base) == pytest.approx(sc.target_flux, rel=0.03)
    assert abs(np.mean(ph.signal[0, 125:195])) < 0.05 * sc.target_flux
    assert np.mean(ph.signal[1]) == pytest.approx(sc.refs[0][2], rel=0.03)


def test_lone_target_keeps_its_drift_when_it_vanishes(tmp_path: Path) -> None:
    sc = Scene(drift=(0.02, 0.01), refs=(), n_frames=300, d=100.0, r=160.0)
    rec, ph = _run(tmp_path, sc)
    assert ph.untracked >= 55  # nothing to steer on during the event
    end = 299
    assert ph.x[0, end] == pytest.approx(sc.target[0] + 0.02 * end, abs=0.5)
    assert np.mean(ph.signal[0, 200:]) == pytest.approx(sc.target_flux, rel=0.05)


def test_background_and_sums(tmp_path: Path) -> None:
    rec, ph = _run(tmp_path, Scene(n_frames=60, d=None, r=None))
    assert np.mean(ph.avgbkg[0]) == pytest.approx(200.0, abs=1.0)
    assert np.mean(ph.stdbkg[0]) == pytest.approx(np.sqrt(200 + 36), rel=0.1)  # photon + read
    np.testing.assert_allclose(ph.appsum[0], ph.signal[0] + ph.avgbkg[0] * ph.npix, rtol=2e-3)
    assert np.all(ph.maxpx[0] > ph.avgbkg[0])


def test_star_at_the_edge_is_measured(tmp_path: Path) -> None:
    sc = Scene(n_frames=40, d=None, r=None, refs=((2.5, 3.0, 9000.0),))
    rec, ph = _run(tmp_path, sc)
    assert ph.clipped > 0
    assert np.all(np.isfinite(ph.signal[1])) and np.mean(ph.signal[1]) > 0.5 * 9000


def test_colour_recording(tmp_path: Path) -> None:
    sc = Scene(n_frames=40, d=None, r=None, color=True)
    rec, ph = _run(tmp_path, sc)
    assert np.mean(ph.signal[0]) == pytest.approx(sc.target_flux, rel=0.03)
