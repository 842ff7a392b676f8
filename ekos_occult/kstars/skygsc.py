"""The sandbox's ``gsc``: the INDI CCD Simulator's star catalogue, with simulated occultations.

The CCD Simulator draws each frame (video stream included) from the output of
``gsc -c RA DEC -r RADIUS_ARCMIN -m 0 MAG_LIMIT -n MAX`` run through ``popen``; it reads 12
whitespace-separated fields a line (``%10s %f %f %f %f %f %d %d %4s %2s %f %d``: id, RA deg,
Dec deg (J2000), position error, magnitude, magnitude error, band, class, plate, ob, distance,
direction). With no ``gsc`` on its PATH it draws noise.

This file is copied by :mod:`ekos_occult.kstars.sky` into the sandbox's ``bin/gsc`` with a
``#!python -IS`` line and two constants (the star table and the occultation file), so it must
stay standalone and fast to start: standard library only, no numpy (its import alone takes
longer than a frame). The star table is the one :func:`ekos_occult.kstars.sky.build_star_table`
writes from astrometry.net's Tycho-2 index files: Dec zones, each sorted by RA, read through
``mmap`` with a binary search per zone.

Occultations (``OCCULT_FILE``, one a line: ``ra_deg dec_deg D_unix R_unix drop_mag mag``): a
catalogue star within :data:`MATCH_ARCSEC` of (ra, dec) is made ``drop_mag`` fainter while
``D <= now < R`` (``now`` = this process's wall clock, i.e. when the simulator draws the
frame); when the catalogue has no star there, one of magnitude ``mag`` is added.

Sampling instants (``SAMPLE_LOG``): each call that draws a field holding a simulated
occultation appends ``now`` (Unix seconds, 6 decimals) and ``1``/``0`` (an occultation active
then or not) as one line. The simulator samples the sky at that instant (no integration over the
exposure), so these lines are the frames' true times; ``benchmarks/timing_bias.py`` pairs them
with the SER's stamps to measure the stamp delay (see ``docs/timing.md``).

Stalls (``STALL_FILE``, one a line: ``from_unix to_unix delay_s``): while ``from <= now < to``
each call first sleeps ``delay_s``, so the simulator draws late and its video stream misses
frames there (a test's way to provoke dropped frames on the real INDI). While the file is not
empty the ``sh`` front end skips its cache, so every call comes here.

Cache: the simulator asks for the same field frame after frame while the mount tracks, and
starting Python costs more than the query. So the installed ``gsc`` is a small ``sh`` script
that prints a field's answer from ``CACHE_DIR`` when it has one (``cat``), and runs this file
otherwise; this file stores the answer of a field that holds no simulated occultation (an
occulted field changes with time, so it is always computed). Writing the occultations clears
the cache.
"""

from __future__ import annotations

import math
import mmap
import os
import struct
import sys
import time

STAR_TABLE = ""  # set in the installed copy
OCCULT_FILE = ""  # set in the installed copy
CACHE_DIR = ""  # set in the installed copy
SAMPLE_LOG = ""  # set in the installed copy
STALL_FILE = ""  # set in the installed copy

MAGIC = b"EOSKY001"
HEADER = struct.Struct("<8sid")  # magic, zones, zone height (deg)
RECORD = struct.Struct("<ddfI")  # ra, dec (deg J2000), magnitude VT, sequence number
MATCH_ARCSEC = 3.0


class Table:
    """The star table on disk: zone offsets, then records sorted by (zone, RA)."""

    def __init__(self, path: str) -> None:
        with open(path, "rb") as fh:
            self.buf = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        magic, self.zones, self.zone_deg = HEADER.unpack_from(self.buf, 0)
        if magic != MAGIC:
            raise ValueError(f"{path}: not a star table")
        self.offsets = struct.unpack_from(f"<{self.zones + 1}q", self.buf, HEADER.size)
        self.base = HEADER.size + 8 * (self.zones + 1)

    def ra_at(self, i: int) -> float:
        return float(struct.unpack_from("<d", self.buf, self.base + i * RECORD.size)[0])

    def first_at_or_after(self, lo: int, hi: int, ra: float) -> int:
        while lo < hi:
            mid = (lo + hi) // 2
            if self.ra_at(mid) < ra:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def records(self, lo: int, hi: int) -> list[tuple[float, float, float, int]]:
        if hi <= lo:
            return []
        start = self.base + lo * RECORD.size
        return list(RECORD.iter_unpack(self.buf[start : self.base + hi * RECORD.size]))


def separation_deg(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    """Great-circle distance (haversine), degrees."""
    r1, d1, r2, d2 = map(math.radians, (ra1, dec1, ra2, dec2))
    h = math.sin((d2 - d1) / 2) ** 2 + math.cos(d1) * math.cos(d2) * math.sin((r2 - r1) / 2) ** 2
    return math.degrees(2 * math.asin(min(1.0, math.sqrt(h))))


def ra_ranges(ra0: float, dec_lo: float, dec_hi: float, r: float) -> list[tuple[float, float]]:
    """RA intervals (deg, within [0, 360)) that can hold stars within ``r`` deg of the centre."""
    worst = max(abs(dec_lo), abs(dec_hi))
    if worst >= 89.9 or r >= 90:
        return [(0.0, 360.0)]
    half = r / math.cos(math.radians(worst)) + 1e-6
    if half >= 180:
        return [(0.0, 360.0)]
    lo, hi = (ra0 - half) % 360.0, (ra0 + half) % 360.0
    return [(lo, hi)] if lo <= hi else [(lo, 360.0), (0.0, hi)]


def query(
    table: Table, ra0: float, dec0: float, r: float, mag_lo: float, mag_hi: float
) -> list[tuple[float, float, float, int]]:
    """Stars (ra, dec, mag, number) within ``r`` deg of (ra0, dec0) and between the magnitudes."""
    dec_lo, dec_hi = max(-90.0, dec0 - r), min(90.0, dec0 + r)
    z_lo = max(0, int((dec_lo + 90.0) / table.zone_deg))
    z_hi = min(table.zones - 1, int((dec_hi + 90.0) / table.zone_deg))
    found = []
    ranges = ra_ranges(ra0, dec_lo, dec_hi, r)
    for z in range(z_lo, z_hi + 1):
        start, end = table.offsets[z], table.offsets[z + 1]
        for a, b in ranges:
            i = table.first_at_or_after(start, end, a)
            j = table.first_at_or_after(i, end, b) if b < 360.0 else end
            for rec in table.records(i, j):
                if mag_lo <= rec[2] <= mag_hi and separation_deg(ra0, dec0, rec[0], rec[1]) <= r:
                    found.append(rec)
    return found


def read_occultations(path: str) -> list[tuple[float, ...]]:
    """The occultation lines (see the module docstring); none when the file is missing."""
    if not path:
        return []
    try:
        with open(path, encoding="ascii") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        parts = line.split()
        if len(parts) == 6 and not line.startswith("#"):
            out.append(tuple(float(p) for p in parts))
    return out


def apply_occultations(
    stars: list[tuple[float, float, float, int]],
    occs: list[tuple[float, ...]],
    ra0: float,
    dec0: float,
    r: float,
    now: float,
) -> list[tuple[float, float, float, int]]:
    """Dim (or add, then dim) each occulted star that lies in the field."""
    match = MATCH_ARCSEC / 3600.0
    for ra, dec, t_d, t_r, drop, mag in occs:
        if separation_deg(ra0, dec0, ra, dec) > r:
            continue
        dimmed = drop if t_d <= now < t_r else 0.0
        hit = [k for k, s in enumerate(stars) if separation_deg(ra, dec, s[0], s[1]) <= match]
        if hit:
            for k in hit:
                s = stars[k]
                stars[k] = (s[0], s[1], s[2] + dimmed, s[3])
        else:
            stars.append((ra, dec, mag + dimmed, 9_000_000 + len(stars)))
    return stars


def parse_args(argv: list[str]) -> tuple[float, float, float, float, float, int]:
    """``-c RA DEC -r RADIUS_ARCMIN -m MAG_LO MAG_HI -n MAX`` (gsc's options the simulator uses)."""
    ra = dec = 0.0
    radius, mag_lo, mag_hi, nmax = 10.0, -30.0, 30.0, 3000
    i = 0
    while i < len(argv):
        opt = argv[i]
        if opt == "-c":
            ra, dec = float(argv[i + 1]), float(argv[i + 2])
            i += 3
        elif opt == "-r":
            radius = float(argv[i + 1])
            i += 2
        elif opt == "-m":
            mag_lo, mag_hi = float(argv[i + 1]), float(argv[i + 2])
            i += 3
        elif opt == "-n":
            nmax = int(argv[i + 1])
            i += 2
        else:
            raise ValueError(f"unknown option {opt}")
    return ra % 360.0, dec, radius / 60.0, mag_lo, mag_hi, nmax


def stall_delay(path: str, now: float) -> float:
    """Seconds to sleep before answering at ``now`` (unix seconds): the delay of the first
    stall whose [from, to) holds ``now``; 0 when none does or the file is missing or bad."""
    if not path:
        return 0.0
    try:
        with open(path, encoding="ascii") as fh:
            for line in fh:
                fields = line.split()
                if len(fields) == 3 and not line.startswith("#"):
                    t_from, t_to, delay = (float(f) for f in fields)
                    if t_from <= now < t_to:
                        return max(0.0, delay)
    except (OSError, ValueError):
        pass
    return 0.0


def main(argv: list[str]) -> int:
    """Print the stars of the field, gsc-style; exit 2 on bad options or a missing table."""
    now = time.time()  # the moment the simulator asks for this frame's stars
    delay = stall_delay(STALL_FILE or os.environ.get("EKOS_OCCULT_STALL_FILE", ""), now)
    if delay:
        time.sleep(delay)
        now = time.time()  # the frame shows the sky as gsc answers, after the stall
    try:
        ra0, dec0, r, mag_lo, mag_hi, nmax = parse_args(argv)
        table = Table(STAR_TABLE or os.environ.get("EKOS_OCCULT_STAR_TABLE", ""))
    except (ValueError, IndexError, OSError) as exc:
        print(f"gsc: {exc}", file=sys.stderr)
        return 2
    stars = query(table, ra0, dec0, r, mag_lo, mag_hi)
    occs = read_occultations(OCCULT_FILE or os.environ.get("EKOS_OCCULT_OCCULT_FILE", ""))
    stars = apply_occultations(stars, occs, ra0, dec0, r, now)
    stars.sort(key=lambda s: s[2])
    occulted = any(separation_deg(ra0, dec0, o[0], o[1]) <= r for o in occs)
    if occulted:
        log_sample(SAMPLE_LOG or os.environ.get("EKOS_OCCULT_SAMPLE_LOG", ""), now, occs)
    out = []
    for ra, dec, mag, num in stars[:nmax]:
        dist = separation_deg(ra0, dec0, ra, dec) * 60.0
        out.append(f"T{num:09d} {ra:.7f} {dec:+.7f} 0.2 {mag:.2f} 0.1 0 0 tyc2 00 {dist:.2f} 0\n")
    text = "".join(out)
    sys.stdout.write(text)
    key = cache_key(argv)
    if CACHE_DIR and key and not occulted:
        store(os.path.join(CACHE_DIR, key), text)
    return 0


def log_sample(path: str, now: float, occs: list[tuple[float, ...]]) -> None:
    """Append this call's sampling instant (one ``write`` in append mode: lines from
    overlapping calls do not interleave); errors are ignored (the frame matters more)."""
    if not path:
        return
    active = any(o[2] <= now < o[3] for o in occs)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{now:.6f} {int(active)}\n".encode("ascii"))
        finally:
            os.close(fd)
    except OSError:
        pass


def cache_key(argv: list[str]) -> str:
    """The cache file name for the simulator's exact argument list (as the sh script forms it:
    ``RA_DEC_RADIUS_MAGLO_MAGHI_MAX``); empty for any other argument list."""
    if len(argv) == 10 and [argv[0], argv[3], argv[5], argv[8]] == ["-c", "-r", "-m", "-n"]:
        return "_".join(argv[i] for i in (1, 2, 4, 6, 7, 9))
    return ""


def store(path: str, text: str) -> None:
    """Write a cache file atomically (a reader never sees half of it); errors are ignored."""
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w", encoding="ascii") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
