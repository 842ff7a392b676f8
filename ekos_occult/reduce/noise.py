"""Noise of a light curve: measure it (spread, frame-to-frame correlation), simulate more of it.

The baseline's autocorrelation is measured lag by lag while it is significant, turned into an
autoregressive model (Yule-Walker), and that model's impulse response is the kernel that makes
simulated noise with the same correlation (scintillation, camera integration, transparency).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["NoiseModel", "measure_noise", "correlated_noise"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class NoiseModel:
    """Measured noise.

    Attributes:
        sigma_b: standard deviation of the baseline.
        sigma_a: standard deviation during the event (sigma_b when too few event frames).
        acf: autocorrelation of the baseline residuals at lags 0..p (significant lags only).
        rho: lag-1 autocorrelation used by the edge fit (0 when not significant).
        kernel: unit-variance moving-average kernel that reproduces ``acf`` (for simulation).
        event_frames: how many frames ``sigma_a`` was measured on.
    """

    sigma_b: float
    sigma_a: float
    acf: tuple[float, ...]
    rho: float
    kernel: FloatArray
    event_frames: int = 0


def _ar_kernel(acf: FloatArray) -> FloatArray:
    """Unit-variance impulse response of the AR(p) process with this autocorrelation."""
    p = acf.size - 1
    if p == 0:
        return np.ones(1)
    toeplitz = acf[np.abs(np.subtract.outer(np.arange(p), np.arange(p)))]
    phi = np.linalg.solve(toeplitz, acf[1:])
    if np.any(np.abs(np.roots(np.concatenate([[1.0], -phi]))) >= 0.999):
        raise np.linalg.LinAlgError("non-stationary AR fit")
    h = np.zeros(1024)
    h[0] = 1.0
    for t in range(1, h.size):
        h[t] = float(np.dot(phi[: min(p, t)], h[t - 1 :: -1][: min(p, t)]))
        if t > 8 * p and abs(h[t]) < 1e-5:
            h = h[: t + 1]
            break
    return h / math.sqrt(float(np.sum(h * h)))


def measure_noise(
    y: FloatArray, d: int, r: int, b: float, a: float, max_lag: int = 10
) -> NoiseModel:
    """Noise of the baseline (both sides of frames d..r-1, transitions excluded) and the event."""
    pieces = [y[: max(0, d - 1)] - b, y[r + 1 :] - b]
    pieces = [p for p in pieces if p.size > 1]
    base = np.concatenate(pieces) if pieces else np.asarray(y - b)
    sigma_b = float(np.std(base)) if base.size > 1 else float(np.std(y))
    inner = y[d + 1 : r - 1] - a
    sigma_a = float(np.std(inner)) if inner.size >= 3 else sigma_b
    var = float(np.sum(base * base))
    acf = [1.0]
    limit = 2.0 / math.sqrt(max(base.size, 1))
    for lag in range(1, max_lag + 1):
        num = sum(float(np.dot(p[lag:], p[:-lag])) for p in pieces if p.size > lag)
        rho = num / var if var > 0 else 0.0
        if abs(rho) <= limit:
            break
        acf.append(rho)
    acf_arr = np.asarray(acf)
    try:
        kernel = _ar_kernel(acf_arr)
    except np.linalg.LinAlgError:
        acf_arr, kernel = acf_arr[:1], np.ones(1)
    rho1 = float(acf_arr[1]) if acf_arr.size > 1 else 0.0
    return NoiseModel(
        sigma_b,
        max(sigma_a, 1e-12),
        tuple(float(v) for v in acf_arr),
        rho1,
        kernel,
        int(inner.size) if inner.size >= 3 else 0,
    )


def correlated_noise(
    rng: np.random.Generator,
    m: int,
    n: int,
    kernel: FloatArray,
    dtype: type[np.floating[Any]] = np.float64,
) -> npt.NDArray[np.floating[Any]]:
    """``(m, n)`` unit-variance Gaussian noise with the kernel's autocorrelation."""
    k = kernel.size
    white = rng.standard_normal((m, n + k - 1), dtype=dtype)
    if k == 1:
        scaled: npt.NDArray[np.floating[Any]] = white * kernel.astype(dtype)[0]
        return scaled
    if k <= 24:  # short kernel: a few shifted adds beat an FFT
        out = np.zeros((m, n), dtype)
        for j, h in enumerate(kernel.astype(dtype)):
            out += h * white[:, k - 1 - j : k - 1 - j + n]
        return out
    size = 1 << (n + 2 * k - 2).bit_length()
    spec = np.fft.rfft(white, size, axis=1) * np.fft.rfft(kernel.astype(dtype), size)[None, :]
    return np.fft.irfft(spec, size, axis=1)[:, k - 1 : k - 1 + n]
