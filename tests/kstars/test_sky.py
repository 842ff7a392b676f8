"""The sandbox's sky: the star table from astrometry.net index files, our ``gsc``, occultations.

A small index file is written here in astrometry.net's layout (u32 kd-tree star vectors scaled
by ``kdtree_range_stars``, a ``MAG_VT`` tag-along column); the installed ``gsc`` is run as the
CCD Simulator runs it and its output parsed with the simulator's 12 fields.
"""

from __future__ import annotations

import subprocess
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from ekos_occult.errors import SandboxError
from ekos_occult.kstars import sky, skygsc

RNG = np.random.default_rng(7)


def _index_file(path: Path, ra: np.ndarray, dec: np.ndarray, mag: np.ndarray) -> Path:
    """An index file with these stars, laid out as astrometry.net writes them."""
    from astropy.io import fits

    r, d = np.radians(ra), np.radians(dec)
    xyz = np.stack([np.cos(d) * np.cos(r), np.cos(d) * np.sin(r), np.sin(d)], axis=1)
    scale = 2147483647.5
    u = np.rint((xyz + 1.0) * scale).astype("<u4")
    rng = np.array([-1.0, -1.0, -1.0, 1.0, 1.0, 1.0, scale], dtype="<f8")

    def table(name: str, raw: bytes, width: int, form: str) -> fits.BinTableHDU:
        col = fits.Column(name=name, format=form, array=np.frombuffer(raw, dtype=f"S{width}"))
        return fits.BinTableHDU.from_columns([col])

    data = table("kdtree_data_stars", u.tobytes(), 12, "12A")
    rng_hdu = table("kdtree_range_stars", rng.tobytes(), 8, "8A")
    mags = fits.BinTableHDU.from_columns(
        [fits.Column(name="MAG_VT", format="1E", array=mag.astype(np.float32))]
    )
    fits.HDUList([fits.PrimaryHDU(), rng_hdu, data, mags]).writeto(path)
    return path


def _random_sky(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ra = RNG.uniform(0, 360, n)
    dec = np.degrees(np.arcsin(RNG.uniform(-1, 1, n)))
    return ra, dec, RNG.uniform(4, 12, n)


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """A star table of 60,000 random stars (two index files sharing 1,000 stars)."""
    d = tmp_path_factory.mktemp("sky")
    ra, dec, mag = _random_sky(60_000)
    a = _index_file(d / "a.fits", ra[:40_000], dec[:40_000], mag[:40_000])
    b = _index_file(d / "b.fits", ra[39_000:], dec[39_000:], mag[39_000:])
    out = d / "stars.bin"
    n = sky.build_star_table([a, b], out)
    assert n == 60_000  # the shared stars were kept once
    return out, np.stack([ra, dec, mag], axis=1)


@pytest.fixture(scope="module")
def gsc(table: tuple[Path, np.ndarray], tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("bin")
    return sky.install_gsc(d, table[0], sky.SkyFiles(d / "sky"))


def _run(gsc: Path, ra: float, dec: float, radius_arcmin: float, limit: float = 17.0) -> list[str]:
    cmd = f"{gsc} -c {ra:8.6f} {dec:+8.6f} -r {radius_arcmin:4.1f} -m 0 {limit:4.2f} -n 3000"
    out = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=30, check=True)
    return out.stdout.splitlines()


def _parse(line: str) -> tuple[float, float, float]:
    """The fields the CCD Simulator reads (``%10s %f %f %f %f %f %d %d %4s %2s %f %d``)."""
    f = line.split()
    assert len(f) == 12 and len(f[0]) <= 10 and len(f[8]) <= 4 and len(f[9]) <= 2
    int(f[6]), int(f[7]), int(f[11])
    return float(f[1]), float(f[2]), float(f[4])


def _brute(stars: np.ndarray, ra: float, dec: float, r_deg: float) -> set[tuple[float, float]]:
    sep = np.array([skygsc.separation_deg(ra, dec, s[0], s[1]) for s in stars])
    return {(round(s[0], 4), round(s[1], 4)) for s in stars[sep <= r_deg]}


@pytest.mark.parametrize(
    ("ra", "dec", "radius"),
    [(83.6, 22.0, 300.0), (359.8, -10.0, 400.0), (0.1, 45.0, 300.0), (120.0, 88.5, 200.0)],
)
@pytest.mark.timeout(60)
def test_gsc_finds_exactly_the_stars_in_the_circle(
    gsc: Path, table: tuple[Path, np.ndarray], ra: float, dec: float, radius: float
) -> None:
    lines = _run(gsc, ra, dec, radius)
    got = {(round(r, 4), round(d, 4)) for r, d, _ in map(_parse, lines)}
    want = _brute(table[1], ra, dec, radius / 60.0)
    assert want and got == want  # RA wrap at 0/360 and a field over the pole included


@pytest.mark.timeout(30)
def test_gsc_keeps_the_magnitude_limit_and_count(gsc: Path) -> None:
    lines = _run(gsc, 10.0, 10.0, 600.0, limit=8.0)
    mags = [m for _, _, m in map(_parse, lines)]
    assert mags and max(mags) <= 8.0 and mags == sorted(mags)
    out = subprocess.run(
        [str(gsc), "-c", "10", "10", "-r", "600", "-m", "0", "17", "-n", "5"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert len(out.stdout.splitlines()) == 5


@pytest.mark.timeout(30)
def test_gsc_refuses_bad_options(gsc: Path) -> None:
    out = subprocess.run([str(gsc), "-x"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "unknown option -x" in out.stderr and not out.stdout


@pytest.mark.timeout(30)
def test_occultation_dims_the_star_only_between_d_and_r(
    gsc: Path, table: tuple[Path, np.ndarray]
) -> None:
    files = sky.SkyFiles(gsc.parent / "sky")
    star = table[1][123]
    now = datetime.now(timezone.utc)
    during = sky.Occultation(
        "now", star[0], star[1], now - timedelta(minutes=1), now + timedelta(minutes=1), 3.0
    )
    later = sky.Occultation(
        "later", 200.0, -30.0, now + timedelta(hours=1), now + timedelta(hours=2)
    )
    sky.write_occultations(files, [during, later])
    assert sky.read_occultations(files) == [during, later]

    def mag_of_star() -> float:
        rows = [_parse(x) for x in _run(gsc, star[0], star[1], 30.0)]
        near = [m for r, d, m in rows if skygsc.separation_deg(r, d, star[0], star[1]) < 1e-3]
        assert len(near) == 1
        return near[0]

    t0 = time.time()
    assert mag_of_star() == pytest.approx(star[2] + 3.0, abs=0.01)
    t1 = time.time()
    # the sampling instant of that frame, logged for the timing benchmark (docs/timing.md)
    last = files.samples.read_text(encoding="ascii").splitlines()[-1].split()
    assert t0 <= float(last[0]) <= t1 and last[1] == "1"
    before = sky.Occultation(
        "before", star[0], star[1], now + timedelta(hours=1), now + timedelta(hours=2), 3.0
    )
    sky.write_occultations(files, [before])
    assert mag_of_star() == pytest.approx(star[2], abs=0.01)
    assert files.samples.read_text(encoding="ascii").splitlines()[-1].endswith(" 0")
    sky.write_occultations(files, [])


@pytest.mark.timeout(30)
def test_an_occulted_star_missing_from_the_catalogue_is_added(gsc: Path) -> None:
    files = sky.SkyFiles(gsc.parent / "sky")
    now = datetime.now(timezone.utc)
    where = (250.0, 33.3)
    occ = sky.Occultation(
        "new", *where, now + timedelta(hours=1), now + timedelta(hours=2), mag=11.5
    )
    sky.write_occultations(files, [occ])
    rows = [_parse(x) for x in _run(gsc, where[0], where[1], 5.0)]
    assert (where[0], where[1], 11.5) in [(round(r, 4), round(d, 4), m) for r, d, m in rows]
    sky.write_occultations(files, [])


def test_truth_json_has_the_reported_fields(tmp_path: Path) -> None:
    t = datetime(2026, 1, 2, 3, 4, 5, 250000, tzinfo=timezone.utc)
    occ = sky.Occultation("(1) Ceres", 10.5, -5.25, t, t + timedelta(seconds=2))
    d = occ.to_json()
    assert {k: d[k] for k in ("name", "ra", "dec", "D", "R", "drop_mag")} == {
        "name": "(1) Ceres",
        "ra": 10.5,
        "dec": -5.25,
        "D": "2026-01-02T03:04:05.250000Z",
        "R": "2026-01-02T03:04:07.250000Z",
        "drop_mag": sky.FULL_DROP_MAG,
    }
    assert sky.Occultation.from_json(d) == occ


def test_missing_index_files_name_the_packages(tmp_path: Path) -> None:
    with pytest.raises(SandboxError, match="astrometry-data-tycho2-09-littleendian"):
        sky.find_index_files(tmp_path)


def test_the_table_header_is_checked(tmp_path: Path) -> None:
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"\0" * 64)
    with pytest.raises(SandboxError, match="not a star table"):
        sky.unpack_table_header(bad)


def test_first_driver_of_the_profile_gets_a_start_delay() -> None:
    import json
    import sqlite3

    from ekos_occult.kstars.sandbox_profile import FIRST_DRIVER_DELAY_S, delay_first_driver

    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE profile (id INTEGER PRIMARY KEY, name TEXT, scripts TEXT)")
    db.execute("CREATE TABLE driver (id INTEGER PRIMARY KEY, label TEXT, role TEXT, profile INT)")
    db.executemany("INSERT INTO profile (name) VALUES (?)", [("Other",), ("Simulators",)])
    db.executemany(
        "INSERT INTO driver (label, role, profile) VALUES (?, ?, ?)",
        [("X", "CCD", 1), ("Telescope Simulator", "Mount", 2), ("CCD Simulator", "CCD", 2)],
    )
    assert delay_first_driver(db, "Simulators")
    rules = json.loads(db.execute("SELECT scripts FROM profile WHERE id = 2").fetchone()[0])
    assert rules == [
        {
            "Driver": "Telescope Simulator",
            "PreDelay": FIRST_DRIVER_DELAY_S,
            "PreScript": "",
            "PostDelay": 0,
            "PostScript": "",
            "StoppingDelay": 0,
            "StoppingScript": "",
            "StoppedDelay": 0,
            "StoppedScript": "",
        }
    ]
    assert db.execute("SELECT scripts FROM profile WHERE id = 1").fetchone()[0] is None
    assert not delay_first_driver(db, "Missing")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--ra", "10"], "give --dec, --D, --R"),
        (["--ra", "10", "--dec", "5", "--D", "yesterday", "--R", "2026-01-01T00:00:02"], "--D"),
        (
            [
                "--ra",
                "10",
                "--dec",
                "5",
                "--D",
                "2026-01-01T00:00:03",
                "--R",
                "2026-01-01T00:00:02",
            ],
            "must come before",
        ),
    ],
)
def test_sandbox_occult_refuses_bad_input(
    extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    from ekos_occult.cli import sandbox as cli_sandbox
    from ekos_occult.errors import ConfigError

    args = argparse.Namespace(name="x", drop=None, mag=9.0, clear=False, ra=None, dec=None)
    args.d_utc = args.r_utc = None
    flags = dict(zip(extra[::2], extra[1::2], strict=True))
    args.ra = float(flags["--ra"]) if "--ra" in flags else None
    args.dec = float(flags["--dec"]) if "--dec" in flags else None
    args.d_utc, args.r_utc = flags.get("--D"), flags.get("--R")
    with pytest.raises(ConfigError, match=message):
        cli_sandbox._occultation(args)


def test_sandbox_occult_needs_a_running_sandbox(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ekos_occult import cli

    rc = cli.main(["sandbox", "occult", "--state-dir", str(tmp_path), "--clear"])
    assert rc == 2 and "No sandbox is running" in capsys.readouterr().err


@pytest.mark.timeout(30)
def test_a_field_without_occultation_is_served_from_the_cache(gsc: Path) -> None:
    files = sky.SkyFiles(gsc.parent / "sky")
    sky.write_occultations(files, [])
    first = _run(gsc, 40.0, 20.0, 50.0)
    cached = list(files.cache.iterdir())
    assert [p.name for p in cached] == ["40.000000_+20.000000_50.0_0_17.00_3000"]
    assert cached[0].read_text(encoding="ascii").splitlines() == first
    cached[0].write_text("sentinel\n", encoding="ascii")
    assert _run(gsc, 40.0, 20.0, 50.0) == ["sentinel"]  # printed by the sh script, no Python
    now = datetime.now(timezone.utc)
    occ = sky.Occultation("x", 40.1, 20.1, now + timedelta(hours=1), now + timedelta(hours=2))
    sky.write_occultations(files, [occ])  # clears the cache
    again = _run(gsc, 40.0, 20.0, 50.0)
    assert set(first) < set(again)  # computed again: the catalogue plus the occulted star
    assert not list(files.cache.iterdir())  # an occulted field is never cached
    sky.write_occultations(files, [])


def test_stall_delay_holds_only_inside_its_window(tmp_path: Path) -> None:
    f = tmp_path / "stalls.txt"
    f.write_text("# from to delay\n100.0 200.0 0.5\n300 400 2\n", encoding="ascii")
    assert [skygsc.stall_delay(str(f), t) for t in (99.9, 100.0, 199.9, 200.0, 350.0)] == [
        0.0,
        0.5,
        0.5,
        0.0,
        2.0,
    ]
    assert skygsc.stall_delay(str(tmp_path / "missing"), 150.0) == 0.0
    f.write_text("garbage here now\n", encoding="ascii")
    assert skygsc.stall_delay(str(f), 150.0) == 0.0


@pytest.mark.timeout(60)
def test_a_stall_makes_every_call_late_cached_field_included(gsc: Path) -> None:
    import time

    files = sky.SkyFiles(gsc.parent / "sky")
    sky.write_occultations(files, [])
    first = _run(gsc, 50.0, 10.0, 50.0)  # now cached
    now = datetime.now(timezone.utc)
    sky.write_stalls(
        files, [sky.Stall(now - timedelta(seconds=5), now + timedelta(minutes=5), 0.4)]
    )
    t0 = time.monotonic()
    stalled = _run(gsc, 50.0, 10.0, 50.0)
    late = time.monotonic() - t0
    sky.write_stalls(files, [sky.Stall(now + timedelta(hours=1), now + timedelta(hours=2), 0.4)])
    t0 = time.monotonic()
    _run(gsc, 50.0, 10.0, 50.0)
    outside = time.monotonic() - t0
    sky.write_stalls(files, [])
    assert stalled == first  # the same stars, only late
    assert late >= 0.4 > outside
