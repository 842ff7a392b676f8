"""End to end: ``ekos-occult rehearse`` on the real sandbox, Track + Align, a site in UTC+1.

Two events re-timed to start now, one simulated occultation each: both plate-solved by Ekos,
both recorded, the injected dip seen in the SER frames themselves, D and R measured within one
frame of the truth, KStars alive at the end. The control frame Ekos took for each job shows the
catalogue's stars (counted). The session sandbox is restarted at Vienna for this test and at
its own site afterwards.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from e2e_helpers import Sandbox, restart_sandbox
from night_helpers import utc

from ekos_occult import cli
from ekos_occult.kstars.sandbox import read_state
from ekos_occult.model import Site
from ekos_occult.reduce.photometry import find_stars
from ekos_occult.video.ser import open_ser

VIENNA = Site(48.2082, 16.3738, 190.0)  # KStars 3.6.2: UTC+1
DURATION_S = 8.0
EXPOSURE_S = 0.2
ROI = "480,392,320,240"  # the middle of the 1280x1024 frame: the target and its neighbours


@pytest.fixture
def vienna(sandbox: Sandbox) -> Iterator[Sandbox]:
    state = restart_sandbox(sandbox.state_dir, VIENNA)
    assert state.sky and state.tz_hours == 1.0
    try:
        yield Sandbox(sandbox.state_dir, state.bus_address, state.display, VIENNA, state)
    finally:
        restart_sandbox(sandbox.state_dir, sandbox.site)


def _lone_stars(ra0: float, dec0: float, count: int) -> list[tuple[float, float, float]]:
    """Tycho-2 stars of magnitude 5.5-7.5 near (ra0, dec0), each the brightest within 20'
    (so it dominates the recording's centred ROI), at least 3 degrees apart."""
    from ekos_occult.kstars import skygsc
    from ekos_occult.kstars.sky import ensure_star_table

    table = skygsc.Table(str(ensure_star_table()))
    chosen: list[tuple[float, float, float]] = []
    for ra, dec, mag, _ in sorted(
        skygsc.query(table, ra0, dec0, 8.0, 5.5, 7.5), key=lambda s: abs(s[1] - dec0)
    ):
        near = skygsc.query(table, ra, dec, 20.0 / 60.0, -2.0, mag + 1.0)
        if len(near) != 1:
            continue
        if all(skygsc.separation_deg(ra, dec, c[0], c[1]) > 3.0 for c in chosen):
            chosen.append((ra, dec, mag))
        if len(chosen) == count:
            return chosen
    raise AssertionError(f"no {count} lone stars near {ra0:.1f} {dec0:.1f}")


def _night_csv(folder: Path, now: datetime, offsets_s: tuple[float, ...]) -> tuple[Path, list[str]]:
    """Events on catalogue stars near Vienna's zenith, ``offsets_s`` from now."""
    import astropy.units as u
    from astropy.time import Time

    lst = Time(now).sidereal_time("mean", longitude=VIENNA.lon_deg * u.deg).deg
    stars = _lone_stars(lst, VIENNA.lat_deg, len(offsets_s))
    lines = ["name,ra,dec,start,duration,mag,exposure"]
    names = []
    for i, ((ra, dec, mag), off) in enumerate(zip(stars, offsets_s, strict=True)):
        start = (now + timedelta(seconds=off)).replace(microsecond=0)
        names.append(f"TYC star {i + 1}")
        lines.append(
            f"{names[-1]},{ra:.6f},{dec:.6f},{start:%Y-%m-%dT%H:%M:%S},{DURATION_S:g},"
            f"{mag:.2f},{EXPOSURE_S:g}"
        )
    path = folder / "events.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, names


def _dip_in_frames(path: Path, d: datetime, r: datetime) -> tuple[float, float]:
    """Mean flux of the frames inside [D, R] and outside (one frame of margin), ROI total."""
    ser = open_ser(path)
    frames = ser.read_frames(0, ser.n_frames).reshape(ser.n_frames, -1)
    flux = frames.sum(axis=1) - np.median(frames, axis=1) * frames.shape[1]
    times = [ser.frame_time(i) for i in range(ser.n_frames)]
    margin = timedelta(seconds=EXPOSURE_S)
    inside = [f for f, t in zip(flux, times, strict=True) if t and d + margin <= t <= r - margin]
    outside = [
        f for f, t in zip(flux, times, strict=True) if t and (t < d - margin or t > r + 2 * margin)
    ]
    assert len(inside) >= 5 and len(outside) >= 20, (len(inside), len(outside))
    return float(np.mean(inside)), float(np.mean(outside))


@pytest.mark.timeout(540)
def test_rehearsal_of_two_events_solves_records_and_times_them(
    vienna: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text("# default steps: Track + Align\n", encoding="utf-8")
    csv, names = _night_csv(tmp_path, datetime.now(timezone.utc), (1800, 2400))
    out = tmp_path / "night"
    site = f"{VIENNA.lat_deg},{VIENNA.lon_deg},{VIENNA.elevation_m}"
    rc = cli.main(
        [
            "--config", str(config), "rehearse", str(csv), "--state-dir", str(vienna.state_dir),
            "--site", site, "--out", str(out), "--lead", "60", "--min-altitude", "20",
            "--max-sun-altitude", "90", "--roi", ROI, "--start-in", "15", "--json",
        ]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert rc == 0, captured.out + captured.err[-3000:]
    doc = json.loads(captured.out)
    reps = doc["events"]
    assert [e["name"] for e in reps] == names
    for rep in reps:
        assert rep["aligned"] is True and rep["outcome"] == "recorded", rep
        for edge in ("D", "R"):
            diff = (utc(rep["measured"][edge]) - utc(rep["truth"][edge])).total_seconds()
            assert abs(diff) <= EXPOSURE_S, (rep["name"], edge, diff)
        inside, outside = _dip_in_frames(
            Path(rep["file"]), utc(rep["truth"]["D"]), utc(rep["truth"]["R"])
        )
        assert inside < 0.8 * outside, (rep["name"], inside, outside)
    # The truth is what the sandbox reports.
    assert cli.main(["sandbox", "status", "--json", "--state-dir", str(vienna.state_dir)]) == 0
    status = json.loads(capsys.readouterr().out)
    truth = {o["name"]: (o["D"], o["R"]) for o in status["sky"]["occultations"]}
    assert truth == {r["name"]: (r["truth"]["D"], r["truth"]["R"]) for r in reps}
    # Each job's control frame (Ekos' FITS) shows the catalogue's stars.
    for name in names:
        fits_files = list((out / "captures").glob(f"{name.replace(' ', '_')}_*/**/*.fits"))
        assert len(fits_files) == 1, sorted((out / "captures").rglob("*"))
        assert _stars_in_fits(fits_files[0]) >= 10, fits_files[0]
    state = read_state(vienna.state_dir)
    assert state is not None and state.is_running()  # KStars alive at the end


def _stars_in_fits(path: Path) -> int:
    from astropy.io import fits

    with fits.open(path) as hdus:
        image = np.asarray(hdus[0].data, dtype=np.float32)
    return len(find_stars(image))
