"""A sky for the sandbox: real stars in the CCD Simulator's frames, and simulated occultations.

The INDI CCD Simulator draws every frame from what ``gsc`` prints (see
:mod:`ekos_occult.kstars.skygsc`). The sandbox puts its own ``gsc`` on the drivers' PATH,
backed by a star table built once from astrometry.net's Tycho-2 index files (Debian packages
``astrometry-data-tycho2-08-littleendian`` and ``-09-littleendian``, in ``/usr/share/astrometry``):
the same stars the plate solver (Ekos' StellarSolver, reading those index files) matches, so
Ekos' Align solves the simulator's frames. Series 08 (quads 30'-44') and 09 (44'-60') fit the
simulator's default 76'x61' field; together they hold about 2 million Tycho-2 stars (V_T).

Occultations: :func:`write_occultations` writes the truth (``sky/occultations.json``, what
``sandbox status --json`` reports) and the line file ``gsc`` reads at every frame. A star is
dimmed by ``drop_mag`` from D to R (UTC), as seen by the simulator's clock when it draws.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from ekos_occult.errors import SandboxError
from ekos_occult.files import write_atomic as write_text_atomic
from ekos_occult.utc import format_utc, parse_utc

__all__ = [
    "INDEX_DIR",
    "INDEX_FILES",
    "INDEX_PACKAGES",
    "Occultation",
    "SkyFiles",
    "build_star_table",
    "default_table_path",
    "find_index_files",
    "install_gsc",
    "read_index_stars",
    "read_occultations",
    "Stall",
    "write_occultations",
    "write_stalls",
]

INDEX_DIR = Path("/usr/share/astrometry")
INDEX_FILES = ("index-tycho2-08.littleendian.fits", "index-tycho2-09.littleendian.fits")
INDEX_PACKAGES = (
    "astrometry-data-tycho2-08-littleendian",
    "astrometry-data-tycho2-09-littleendian",
)
ZONE_DEG = 0.5
TRUTH_FILE = "occultations.json"
LINES_FILE = "occultations.txt"
STALL_FILE = "stalls.txt"
FULL_DROP_MAG = 99.0
"""A "full" drop: the star's flux in the simulator becomes nil."""


@dataclass(frozen=True)
class Occultation:
    """One simulated occultation: the star at (ra, dec) J2000 loses ``drop_mag`` from D to R.

    Attributes:
        name: the event's name (for the report).
        ra_deg, dec_deg: the star (J2000, degrees).
        d_utc, r_utc: disappearance and reappearance (timezone-aware UTC).
        drop_mag: magnitudes lost (``FULL_DROP_MAG``: gone).
        mag: the star's magnitude, used only when the catalogue has no star there (it is added).
    """

    name: str
    ra_deg: float
    dec_deg: float
    d_utc: datetime
    r_utc: datetime
    drop_mag: float = FULL_DROP_MAG
    mag: float = 9.0

    def to_json(self) -> dict[str, object]:
        """The truth as ``sandbox status --json`` reports it: {name, ra, dec, D, R, drop_mag}."""
        return {
            "name": self.name,
            "ra": self.ra_deg,
            "dec": self.dec_deg,
            "D": format_utc(self.d_utc),
            "R": format_utc(self.r_utc),
            "drop_mag": self.drop_mag,
            "mag": self.mag,
        }

    @classmethod
    def from_json(cls, d: dict[str, object]) -> Occultation:
        """Inverse of :meth:`to_json`."""
        return cls(
            str(d["name"]),
            float(str(d["ra"])),
            float(str(d["dec"])),
            parse_utc(str(d["D"])),
            parse_utc(str(d["R"])),
            float(str(d.get("drop_mag", FULL_DROP_MAG))),
            float(str(d.get("mag", 9.0))),
        )


@dataclass(frozen=True)
class SkyFiles:
    """Where a sandbox's sky lives (``<state dir>/sky``)."""

    directory: Path

    @property
    def truth(self) -> Path:
        return self.directory / TRUTH_FILE

    @property
    def lines(self) -> Path:
        return self.directory / LINES_FILE

    @property
    def stalls(self) -> Path:
        """When gsc answers late (see :func:`write_stalls`)."""
        return self.directory / STALL_FILE

    @property
    def cache(self) -> Path:
        """gsc's answers for fields without an occultation, one file per field."""
        return self.directory / "gsc-cache"

    @property
    def samples(self) -> Path:
        """gsc's sampling instants for fields with an occultation (see skygsc.log_sample)."""
        return self.directory / "samples.log"


def default_table_path() -> Path:
    """The per-user star table (``$XDG_CACHE_HOME/ekos-occult/tycho2-stars.bin``)."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("ekos-occult")) / "tycho2-stars.bin"


def find_index_files(directory: Path = INDEX_DIR) -> list[Path]:
    """The Tycho-2 index files present.

    Raises:
        SandboxError: none of them is installed (names the packages to install).
    """
    found = [directory / n for n in INDEX_FILES if (directory / n).is_file()]
    if not found:
        raise SandboxError(
            f"No Tycho-2 index files in {directory}: the sandbox's stars and Ekos' plate solver "
            f"need them. Install: sudo apt-get install {' '.join(INDEX_PACKAGES)} "
            "(or start the sandbox with --no-sky for noise frames)."
        )
    return found


def read_index_stars(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The stars of one astrometry.net index file: RA, Dec (deg) and magnitude (V_T).

    The star kd-tree keeps unit vectors as u32 triples scaled by ``kdtree_range_stars``
    (minimum, maximum, scale); the magnitudes are the ``MAG_VT`` tag-along column.

    Raises:
        SandboxError: the file lacks those tables.
    """
    from astropy.io import fits

    with fits.open(path, memmap=True) as hdus:
        by_name: dict[str, np.ndarray] = {}
        for hdu in hdus[1:]:
            ttype = str(hdu.header.get("TTYPE1", "")).strip()
            by_name[ttype] = np.frombuffer(hdu.data.tobytes(), dtype=np.uint8).copy()
    try:
        raw, rng, mags = (
            by_name["kdtree_data_stars"],
            by_name["kdtree_range_stars"],
            by_name["MAG_VT"],
        )
    except KeyError as exc:
        raise SandboxError(f"{path}: not an astrometry.net star index ({exc} missing)") from exc
    u = raw.view("<u4").reshape(-1, 3).astype(np.float64)
    r = rng.view("<f8")
    xyz = r[0:3] + u / r[6]
    ra = np.degrees(np.arctan2(xyz[:, 1], xyz[:, 0])) % 360.0
    dec = np.degrees(np.arcsin(np.clip(xyz[:, 2] / np.linalg.norm(xyz, axis=1), -1.0, 1.0)))
    mag = mags.view(">f4").astype(np.float32)  # FITS tables are big-endian
    return ra, dec, mag


def build_star_table(index_files: Sequence[Path], out: Path) -> int:
    """Merge the index files' stars (duplicates dropped) into ``out``, the table gsc reads.

    Layout (little-endian): ``EOSKY001``, zone count (i32), zone height deg (f64), zone start
    offsets (i64, zones + 1), then records (ra f64, dec f64, mag f32, number u32) sorted by
    Dec zone, then RA. Written atomically. Returns the number of stars.
    """
    from ekos_occult.kstars import skygsc

    parts = [read_index_stars(p) for p in index_files]
    ra = np.concatenate([p[0] for p in parts])
    dec = np.concatenate([p[1] for p in parts])
    mag = np.concatenate([p[2] for p in parts])
    # The same Tycho-2 star in two series has the same coordinates: keep one (0.01" grid).
    key = np.round(ra * 360000.0).astype(np.int64) * 100_000_000 + np.round(
        (dec + 90.0) * 360000.0
    ).astype(np.int64)
    _, keep = np.unique(key, return_index=True)
    ra, dec, mag = ra[keep], dec[keep], mag[keep]
    zones = int(round(180.0 / ZONE_DEG))
    zone = np.minimum(((dec + 90.0) / ZONE_DEG).astype(np.int64), zones - 1)
    order = np.lexsort((ra, zone))
    rec = np.zeros(len(order), dtype=[("ra", "<f8"), ("dec", "<f8"), ("mag", "<f4"), ("n", "<u4")])
    rec["ra"], rec["dec"], rec["mag"] = ra[order], dec[order], mag[order]
    rec["n"] = np.arange(len(order), dtype=np.uint32)
    offsets = np.searchsorted(zone[order], np.arange(zones + 1)).astype("<i8")
    header = skygsc.HEADER.pack(skygsc.MAGIC, zones, ZONE_DEG)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(header)
            fh.write(offsets.tobytes())
            fh.write(rec.tobytes())
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return len(rec)


def ensure_star_table(table: Path | None = None, index_dir: Path = INDEX_DIR) -> Path:
    """The star table, built first when missing or older than the index files.

    Raises:
        SandboxError: no index file is installed.
    """
    table = table or default_table_path()
    files = find_index_files(index_dir)
    newest = max(f.stat().st_mtime for f in files)
    if not table.is_file() or table.stat().st_mtime < newest:
        build_star_table(files, table)
    return table


_GSC_SH = """#!/bin/sh
# The ekos-occult sandbox's gsc: a field already answered (with no simulated occultation in it)
# is printed from the cache; anything else is computed by gsc.py (see its docstring).
# While a stall is set (a non-empty stalls file), every call goes to gsc.py.
if [ ! -s {stalls} ] && [ "$1" = -c ] && [ "$4" = -r ] && [ "$6" = -m ] && [ "$9" = -n ] \
   && [ $# -eq 10 ]; then
  f={cache}/"$2_$3_$5_$7_$8_${{10}}"
  [ -f "$f" ] && exec cat "$f"
fi
exec {python} -IS {script} "$@"
"""


def install_gsc(bindir: Path, table: Path, sky: SkyFiles) -> Path:
    """Write ``bindir/gsc`` (the cache-first sh script) and ``bindir/gsc.py`` (:mod:`skygsc`
    with the table, occultation file and cache folder filled in)."""
    import shlex

    from ekos_occult.kstars import skygsc

    sky.cache.mkdir(parents=True, exist_ok=True)
    source = Path(skygsc.__file__).read_text(encoding="utf-8")
    source = source.replace('STAR_TABLE = ""', f"STAR_TABLE = {str(table)!r}", 1)
    source = source.replace('OCCULT_FILE = ""', f"OCCULT_FILE = {str(sky.lines)!r}", 1)
    source = source.replace('CACHE_DIR = ""', f"CACHE_DIR = {str(sky.cache)!r}", 1)
    source = source.replace('SAMPLE_LOG = ""', f"SAMPLE_LOG = {str(sky.samples)!r}", 1)
    source = source.replace('STALL_FILE = ""', f"STALL_FILE = {str(sky.stalls)!r}", 1)
    py = bindir / "gsc.py"
    write_text_atomic(py, source)
    script = bindir / "gsc"
    sh = _GSC_SH.format(
        cache=shlex.quote(str(sky.cache)),
        stalls=shlex.quote(str(sky.stalls)),
        python=shlex.quote(sys.executable),
        script=shlex.quote(str(py)),
    )
    write_text_atomic(script, sh)
    script.chmod(0o755)
    clear_cache(sky)
    return script


def clear_cache(sky: SkyFiles) -> None:
    """Forget every cached field (after the occultations or the table changed)."""
    if sky.cache.is_dir():
        for f in sky.cache.iterdir():
            f.unlink(missing_ok=True)


def write_occultations(sky: SkyFiles, occultations: Sequence[Occultation]) -> None:
    """Replace the sandbox's occultations: the truth (JSON) and the lines gsc reads."""
    sky.directory.mkdir(parents=True, exist_ok=True)
    truth = {"occultations": [o.to_json() for o in occultations]}
    write_text_atomic(sky.truth, json.dumps(truth, indent=2) + "\n")
    lines = ["# ra_deg dec_deg D_unix R_unix drop_mag mag"]
    for o in occultations:
        lines.append(
            f"{o.ra_deg:.8f} {o.dec_deg:.8f} {o.d_utc.timestamp():.6f} "
            f"{o.r_utc.timestamp():.6f} {o.drop_mag:g} {o.mag:g}"
        )
    write_text_atomic(sky.lines, "\n".join(lines) + "\n")
    clear_cache(sky)  # a cached field may hold a star that is now occulted


@dataclass(frozen=True)
class Stall:
    """gsc answers ``delay_s`` late to every call from ``t_from`` to ``t_to`` (UTC): the CCD
    Simulator then draws late and its video stream misses frames there (dropped frames on the
    real INDI, on purpose)."""

    t_from: datetime
    t_to: datetime
    delay_s: float


def write_stalls(sky: SkyFiles, stalls: Sequence[Stall]) -> None:
    """Replace the sandbox's gsc stalls (none: gsc answers at once, from its cache again)."""
    sky.directory.mkdir(parents=True, exist_ok=True)
    lines = [f"{s.t_from.timestamp():.6f} {s.t_to.timestamp():.6f} {s.delay_s:g}" for s in stalls]
    write_text_atomic(sky.stalls, "".join(f"{line}\n" for line in lines))


def read_occultations(sky: SkyFiles) -> list[Occultation]:
    """The occultations the sandbox simulates (none when the file is missing).

    Raises:
        SandboxError: the file is unreadable.
    """
    try:
        data = json.loads(sky.truth.read_text(encoding="utf-8"))
        return [Occultation.from_json(d) for d in data["occultations"]]
    except FileNotFoundError:
        return []
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SandboxError(f"{sky.truth}: unreadable occultations ({exc}).") from exc


def unpack_table_header(path: Path) -> tuple[int, float]:
    """(zones, zone height) of a star table (for tests and checks)."""
    from ekos_occult.kstars import skygsc

    with open(path, "rb") as fh:
        magic, zones, zone_deg = skygsc.HEADER.unpack(fh.read(skygsc.HEADER.size))
    if magic != skygsc.MAGIC:
        raise SandboxError(f"{path}: not a star table")
    return int(zones), float(zone_deg)
