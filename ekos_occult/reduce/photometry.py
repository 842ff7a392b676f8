"""Aperture photometry of a video: find stars, pick the target, track and measure every frame.

Works chunk by chunk on stacks of frames (as :meth:`ekos_occult.video.ser.SerFile.iter_chunks`
yields
them) and only ever copies a small box around each star, so a multi-gigabyte recording is
measured with flat memory. Per frame and star: flux in a circular aperture (soft edge) minus the
local background (sigma-clipped mean of an annulus). Tracking: each star's centroid offset from
its predicted position is combined over the stars that are clearly visible in that frame (a
vanished target follows its references, or keeps its drift when alone).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ekos_occult.errors import ReductionError
from ekos_occult.video.ser import COLOR_MONO, SerFile, luminance

__all__ = [
    "Star",
    "Geometry",
    "Photometry",
    "mean_image",
    "find_stars",
    "pick_target",
    "choose_geometry",
    "measure",
]

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
_MARGIN = 4  # pixels of drift allowed inside one chunk beyond the prediction
_BLOCK = 128  # frames measured together; the prediction is renewed after each block
_VALID_SNR = 5.0  # a star steers the tracking in frames where its flux has this SNR


@dataclass(frozen=True)
class Star:
    """A detected star: centroid (pixels, x right, y down), flux above background, SNR, FWHM."""

    x: float
    y: float
    flux: float
    snr: float
    fwhm: float


@dataclass(frozen=True)
class Geometry:
    """Aperture radius and background annulus radii, in pixels."""

    radius: float
    inner: float
    outer: float

    @property
    def half_box(self) -> int:
        """Half-size of the box copied around each star."""
        return int(math.ceil(self.outer)) + _MARGIN


@dataclass(frozen=True)
class Photometry:
    """Per-star, per-frame measurements; arrays are (stars, frames), star 0 the target.

    ``untracked`` counts frames where no star was bright enough to steer the apertures, and
    ``clipped`` frames where an aperture (star) touched the image edge.
    """

    signal: F64
    appsum: F64
    avgbkg: F64
    stdbkg: F64
    maxpx: F64
    x: F64
    y: F64
    npix: float
    geometry: Geometry
    untracked: int
    clipped: int


SEARCH_SIDE = 2048
"""Stars are searched in at most this many pixels square (bounded memory for any frame size)."""


def search_window(
    width: int, height: int, around: tuple[float, float] | None = None, side: int = SEARCH_SIDE
) -> tuple[int, int, int, int]:
    """``(x0, y0, x1, y1)``: the whole frame when it fits in ``side`` x ``side``, else that
    square centred on ``around`` (default the frame centre), kept inside the frame."""
    cx, cy = around if around is not None else ((width - 1) / 2.0, (height - 1) / 2.0)

    def span(c: float, size: int) -> tuple[int, int]:
        if size <= side:
            return 0, size
        lo = int(min(max(round(c) - side // 2, 0), size - side))
        return lo, lo + side

    x0, x1 = span(cx, width)
    y0, y1 = span(cy, height)
    return x0, y0, x1, y1


def mean_image(
    ser: SerFile, count: int = 16, window: tuple[int, int, int, int] | None = None
) -> F64:
    """Mean of the first ``count`` frames (luminance) inside ``window`` (``x0, y0, x1, y1``;
    default the whole frame), accumulated a chunk at a time."""
    x0, y0, x1, y1 = window or (0, 0, ser.header.width, ser.header.height)
    total = np.zeros((y1 - y0, x1 - x0), np.float64)
    n = 0
    per = max(1, (32 << 20) // max(1, (y1 - y0) * (x1 - x0) * 4 * ser.header.planes))
    for _, chunk in ser.iter_chunks(0, count, prefetch=window is None):
        for k in range(0, chunk.shape[0], per):  # bounded float32 temporaries
            part = chunk[k : k + per, y0:y1, x0:x1]
            total += luminance(part, ser.header.color_id).sum(axis=0)
        n += chunk.shape[0]
    return total / max(n, 1)


def _robust_bg(image: F64) -> tuple[float, float]:
    sample = image.ravel()[:: max(1, image.size // 200_000)]
    med = float(np.median(sample))
    mad = float(np.median(np.abs(sample - med))) * 1.4826
    return med, max(mad, 1e-6)


def _box3(image: F64) -> F64:
    p = np.pad(image, 1, mode="edge")
    h, w = image.shape
    out = sum(p[i : i + h, j : j + w] for i in range(3) for j in range(3))
    return np.asarray(out, np.float64) / 9.0


def _peaks(smooth: F64, level: float, limit: int) -> list[tuple[int, int]]:
    p = np.pad(smooth, 1, mode="constant", constant_values=-np.inf)
    h, w = smooth.shape
    is_max = smooth > level
    for i in range(3):
        for j in range(3):
            if (i, j) != (1, 1):
                is_max &= smooth >= p[i : i + h, j : j + w]
    ys, xs = np.nonzero(is_max)
    order = np.argsort(smooth[ys, xs])[::-1][:limit]
    return [(int(ys[k]), int(xs[k])) for k in order]


def _describe(image: F64, y0: int, x0: int, bg: float, sigma: float) -> Star | None:
    r = 7
    h, w = image.shape
    near = image[max(0, y0 - 1) : y0 + 2, max(0, x0 - 1) : x0 + 2]  # brightest raw pixel
    dy, dx = np.unravel_index(int(np.argmax(near)), near.shape)
    y0, x0 = max(0, y0 - 1) + int(dy), max(0, x0 - 1) + int(dx)
    ya, yb, xa, xb = max(0, y0 - r), min(h, y0 + r + 1), max(0, x0 - r), min(w, x0 + r + 1)
    sub = image[ya:yb, xa:xb] - bg
    yy, xx = np.mgrid[ya:yb, xa:xb].astype(np.float64)
    peak = float(image[y0, x0] - bg)
    area = int(np.count_nonzero((sub >= peak / 2) & ((yy - y0) ** 2 + (xx - x0) ** 2 <= 16)))
    fwhm = 2.0 * math.sqrt(area / math.pi)
    cx, cy, rad = float(x0), float(y0), max(2.0, 1.5 * fwhm)
    for _ in range(3):  # re-centre the window on the centroid: less pull from the noise
        wgt = np.clip(sub, 0, None) * ((yy - cy) ** 2 + (xx - cx) ** 2 <= rad * rad)
        total = float(wgt.sum())
        if total <= 0:
            return None
        cx, cy = float((wgt * xx).sum() / total), float((wgt * yy).sum() / total)
    inside = (yy - cy) ** 2 + (xx - cx) ** 2 <= rad * rad
    flux = float(sub[inside].sum())
    snr = flux / (sigma * math.sqrt(max(int(inside.sum()), 1)))
    return Star(cx, cy, flux, snr, fwhm)


def find_stars(image: F64, *, nsigma: float = 5.0, limit: int = 200) -> list[Star]:
    """Stars in an image, brightest first: peaks of the 3x3-smoothed image above background +
    ``nsigma`` sigma, described by centroid, flux, SNR and FWHM; hot pixels (FWHM < 1.5) dropped.
    """
    image = np.asarray(image, np.float64)
    bg, sigma = _robust_bg(image)
    smooth = _box3(image)
    stars: list[Star] = []
    for y0, x0 in _peaks(smooth, bg + nsigma * sigma / 3.0, limit):
        s = _describe(image, y0, x0, bg, sigma)
        if s is None or s.fwhm < 1.5 or s.snr < nsigma:  # 1-2 hot pixels are not a star
            continue
        if all((s.x - o.x) ** 2 + (s.y - o.y) ** 2 > 9.0 for o in stars):
            stars.append(s)
    return sorted(stars, key=lambda s: -s.flux)


def pick_target(stars: Sequence[Star], width: int, height: int) -> Star:
    """The star nearest the frame centre.

    Raises:
        ReductionError: no star at all.
    """
    if not stars:
        raise ReductionError(
            "no star found in the first frames; give the target with --target X,Y."
        )
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    return min(stars, key=lambda s: (s.x - cx) ** 2 + (s.y - cy) ** 2)


def choose_geometry(fwhm: float, radius: float | None = None) -> Geometry:
    """Aperture radius 1.2 FWHM (at least 2 px) unless given; annulus clear of the star."""
    r = radius if radius is not None else max(2.0, 1.2 * fwhm)
    inner = r + max(3.0, fwhm)
    return Geometry(r, inner, inner + max(5.0, r))


@dataclass
class _Tracker:
    pos: F64  # (stars, 2) x, y at the last frame measured
    vel: F64  # (2,) common drift, pixels per frame
    untracked: int = 0
    clipped: int = 0


@dataclass(frozen=True)
class _Layout:
    """Pixel offsets of the copied box and of its core (where star and centroid are)."""

    half: int
    core: int
    ring: npt.NDArray[np.bool_]
    ox: F32  # core x offsets from the box centre
    oy: F32

    @classmethod
    def make(cls, geo: Geometry) -> _Layout:
        half = geo.half_box
        core = int(math.ceil(geo.radius + 1.0)) + _MARGIN
        oy, ox = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float32)
        ring = (ox**2 + oy**2 >= geo.inner**2) & (ox**2 + oy**2 <= geo.outer**2)
        c = slice(half - core, half + core + 1)
        return cls(half, core, ring, ox[c, c].copy(), oy[c, c].copy())


def _box(
    chunk: npt.NDArray[np.generic], x0: int, y0: int, half: int
) -> tuple[npt.NDArray[np.generic], npt.NDArray[np.bool_] | None]:
    """Raw samples of the box of side 2*half+1 centred on (x0, y0) (a view when it lies inside
    the image); outside the image reads 0 and is flagged by the mask (None: all inside)."""
    k, h, w = chunk.shape[:3]
    ya, xa = y0 - half, x0 - half
    n = 2 * half + 1
    if ya >= 0 and xa >= 0 and ya + n <= h and xa + n <= w:
        return chunk[:, ya : ya + n, xa : xa + n], None
    box = np.zeros((k, n, n, *chunk.shape[3:]), chunk.dtype)
    inside = np.zeros((n, n), bool)
    sy, sx = slice(max(ya, 0), min(ya + n, h)), slice(max(xa, 0), min(xa + n, w))
    dy = slice(sy.start - ya, sy.stop - ya)
    dx = slice(sx.start - xa, sx.stop - xa)
    if sy.stop > sy.start and sx.stop > sx.start:
        box[:, dy, dx] = chunk[:, sy, sx]
        inside[dy, dx] = True
    return box, inside


def _background(vals: F32) -> tuple[F32, F32]:
    """Sigma-clipped mean and spread of each row (the annulus pixels of each frame)."""
    sample = vals[:, :: max(1, vals.shape[1] // 64)]  # the clipping centre needs no precision
    m = sample.shape[1]
    ks = [m // 4, m // 2, (3 * m) // 4]
    part = np.partition(sample, ks, axis=1)
    med = part[:, ks[1] : ks[1] + 1]
    spread = (part[:, ks[2] : ks[2] + 1] - part[:, ks[0] : ks[0] + 1]) / 1.349
    keep = np.abs(vals - med) <= 3.0 * np.maximum(spread, 1e-3)
    n = np.maximum(keep.sum(axis=1), 1)
    mean = (vals * keep).sum(axis=1) / n
    var = ((vals - mean[:, None]) ** 2 * keep).sum(axis=1) / n
    return mean.astype(np.float32), np.sqrt(var).astype(np.float32)


@dataclass
class _Block:
    """One star over one block of frames, in box coordinates."""

    sub: F32  # core pixels minus background, (k, c, c)
    bg: F32
    sd: F32
    x0: int
    y0: int
    rx: F32  # predicted position relative to the box centre
    ry: F32
    dx: F32  # centroid offset from the prediction
    dy: F32
    snr: F32  # SNR of the flux around the prediction


def _star_block(
    chunk: npt.NDArray[np.generic],
    pred: F64,
    geo: Geometry,
    lay: _Layout,
    color_id: int,
    tr: _Tracker,
) -> _Block:
    h, w = chunk.shape[1], chunk.shape[2]
    x0 = int(np.clip(np.rint(pred[:, 0].mean()), 0, w - 1))
    y0 = int(np.clip(np.rint(pred[:, 1].mean()), 0, h - 1))
    raw, inside = _box(chunk, x0, y0, lay.half)
    ring = lay.ring if inside is None else lay.ring & inside
    bg, sd = _background(luminance(raw[:, ring], color_id))  # convert only what is used
    c = slice(lay.half - lay.core, lay.half + lay.core + 1)
    sub = luminance(raw[:, c, c], color_id) - bg[:, None, None]
    if inside is not None:
        sub *= inside[c, c]
        near = (lay.ox**2 + lay.oy**2 <= (geo.radius + 1) ** 2) & ~inside[c, c]
        tr.clipped += chunk.shape[0] if near.any() else 0
    rx = (pred[:, 0] - x0).astype(np.float32)
    ry = (pred[:, 1] - y0).astype(np.float32)
    region = (lay.ox[None] - rx[:, None, None]) ** 2 + (lay.oy[None] - ry[:, None, None]) ** 2 <= (
        geo.radius + 1.0
    ) ** 2
    flux = (sub * region).sum(axis=(1, 2))
    wgt = np.clip(sub, 0, None) * region
    tot = np.maximum(wgt.sum(axis=(1, 2)), 1e-6)
    dx = (wgt * lay.ox).sum(axis=(1, 2)) / tot - rx
    dy = (wgt * lay.oy).sum(axis=(1, 2)) / tot - ry
    snr = flux / (np.maximum(sd, 1e-3) * np.sqrt(region.sum(axis=(1, 2))))
    return _Block(sub, bg, sd, x0, y0, rx, ry, dx, dy, snr)


def _aperture(b: _Block, fx: F32, fy: F32, lay: _Layout, radius: float) -> dict[str, F64]:
    """Soft-edged aperture sums at box positions (fx, fy)."""
    dist = np.sqrt(
        (lay.ox[None] - fx[:, None, None]) ** 2 + (lay.oy[None] - fy[:, None, None]) ** 2
    )
    wgt = np.clip(radius + 0.5 - dist, 0.0, 1.0)
    npix = wgt.sum(axis=(1, 2))
    signal = (wgt * b.sub).sum(axis=(1, 2))
    peak = np.where(wgt > 0, b.sub, -np.inf).max(axis=(1, 2))
    return {
        "signal": signal,
        "appsum": signal + b.bg * npix,
        "npix": npix,
        "bg": b.bg,
        "sd": b.sd,
        "maxpx": peak + b.bg,
        "x": fx + b.x0,
        "y": fy + b.y0,
    }


def _common_shift(blocks: list[_Block], tr: _Tracker) -> tuple[F32, F32, npt.NDArray[np.bool_]]:
    """Offsets from the prediction, weighted over the stars clearly seen in each frame."""
    snr = np.stack([b.snr for b in blocks])
    wgt = np.where(snr > _VALID_SNR, np.minimum(snr, 100.0) ** 2, 0.0)
    tot = wgt.sum(axis=0)
    tr.untracked += int(np.count_nonzero(tot == 0))
    safe = np.where(tot > 0, tot, 1.0)
    dx = (wgt * np.stack([b.dx for b in blocks])).sum(axis=0) / safe
    dy = (wgt * np.stack([b.dy for b in blocks])).sum(axis=0) / safe
    lim = float(_MARGIN)
    return (
        np.clip(dx, -lim, lim).astype(np.float32),
        np.clip(dy, -lim, lim).astype(np.float32),
        tot > 0,
    )


def _block(
    chunk: npt.NDArray[np.generic], geo: Geometry, lay: _Layout, color_id: int, tr: _Tracker
) -> list[dict[str, F64]]:
    steps = np.arange(1, chunk.shape[0] + 1, dtype=np.float64)[:, None]
    preds = [tr.pos[s][None, :] + steps * tr.vel[None, :] for s in range(tr.pos.shape[0])]
    blocks = [_star_block(chunk, p, geo, lay, color_id, tr) for p in preds]
    dx, dy, valid = _common_shift(blocks, tr)
    out = [_aperture(b, b.rx + dx, b.ry + dy, lay, geo.radius) for b in blocks]
    _update_track(tr, out, valid)
    return out


def _slope(t: F64, v: F64) -> float:
    tc = t - t.mean()
    return float(np.dot(tc, v - v.mean()) / max(float(np.dot(tc, tc)), 1e-12))


def _update_track(tr: _Tracker, out: list[dict[str, F64]], valid: npt.NDArray[np.bool_]) -> None:
    tr.pos = np.array([[float(o["x"][-1]), float(o["y"][-1])] for o in out])
    idx = np.flatnonzero(valid).astype(np.float64)
    if idx.size >= 10:
        px = np.mean([o["x"][valid] for o in out], axis=0)
        py = np.mean([o["y"][valid] for o in out], axis=0)
        tr.vel = 0.5 * tr.vel + 0.5 * np.array([_slope(idx, px), _slope(idx, py)])


_WHOLE_FRAME_BLOCK = 1024  # frames per block when the box holds the whole frame (tiny ROIs)


def _block_size(tr: _Tracker, cap: int = _BLOCK) -> int:
    """Frames per block: fewer when drifting fast, so the prediction stays within the margin."""
    speed = float(np.abs(tr.vel).max())
    return int(min(cap, max(4, (_MARGIN - 1) / max(speed, 1e-6))))


def measure(
    chunks: Iterable[tuple[int, npt.NDArray[np.generic]]],
    n_frames: int,
    positions: Sequence[tuple[float, float]],
    geometry: Geometry,
    color_id: int = COLOR_MONO,
) -> Photometry:
    """Track and measure stars through all frames.

    Args:
        chunks: ``(first_frame, frames)`` stacks in order, e.g. ``SerFile.iter_chunks()``.
        n_frames: total frames the chunks cover.
        positions: (x, y) of each star in the first frame, target first.
        geometry: aperture and annulus.
        color_id: SER ColorID of the frames (RGB/BGR become luminance).
    """
    tr = _Tracker(np.asarray(positions, np.float64).copy(), np.zeros(2))
    lay = _Layout.make(geometry)
    keys = ("signal", "appsum", "bg", "sd", "maxpx", "x", "y")
    store = {k: np.zeros((len(positions), n_frames)) for k in keys}
    npix = 0.0
    for first, chunk in chunks:
        arr = chunk.view(np.ndarray)  # plain views: slicing a memmap object is slow
        box = 2 * lay.half + 1  # a frame inside one box cannot drift out: long blocks are safe
        cap = _WHOLE_FRAME_BLOCK if max(arr.shape[1], arr.shape[2]) <= box else _BLOCK
        j = 0
        while j < arr.shape[0]:
            k = _block_size(tr, cap)
            res = _block(arr[j : j + k], geometry, lay, color_id, tr)
            a, b = first + j, first + j + min(k, arr.shape[0] - j)
            for s, r in enumerate(res):
                for key in keys:
                    store[key][s, a:b] = r[key]
            npix = float(res[0]["npix"].mean())
            j += k
    return Photometry(
        store["signal"],
        store["appsum"],
        store["bg"],
        store["sd"],
        store["maxpx"],
        store["x"],
        store["y"],
        npix,
        geometry,
        tr.untracked,
        tr.clipped,
    )
