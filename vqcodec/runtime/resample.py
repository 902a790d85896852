"""Band-limited resampling, the same windowed-sinc filter as torchaudio.functional.resample
(sinc_interp_hann, lowpass_filter_width 6, rolloff 0.99), as a strided matrix product."""

from __future__ import annotations

import functools
import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

WIDTH, ROLLOFF = 6, 0.99


@functools.lru_cache(maxsize=8)
def kernel(orig: int, new: int) -> tuple[np.ndarray, int]:
    """(new, 2 * width + orig) float32 filter bank for rates already divided by their gcd."""
    base = min(orig, new) * ROLLOFF
    width = math.ceil(WIDTH * orig / base)
    idx = np.arange(-width, width + orig, dtype=np.float64)[None] / orig
    # torchaudio divides an integer arange in the default dtype (float32) before widening
    phase = (np.arange(0, -new, -1).astype(np.float32) / np.float32(new)).astype(np.float64)
    t = np.clip((phase[:, None] + idx) * base, -WIDTH, WIDTH)
    window = np.cos(t * math.pi / WIDTH / 2) ** 2
    t *= math.pi
    with np.errstate(invalid="ignore", divide="ignore"):
        k = np.where(t == 0, 1.0, np.sin(t) / t)
    return (k * window * (base / orig)).astype(np.float32), width


def resample(x: np.ndarray, orig: int, new: int) -> np.ndarray:
    """(..., n) float32 at `orig` Hz -> (..., ceil(n * new / orig)) at `new` Hz."""
    if orig == new:
        return x
    g = math.gcd(orig, new)
    orig, new = orig // g, new // g
    k, width = kernel(orig, new)
    lead, n = x.shape[:-1], x.shape[-1]
    flat = x.reshape(-1, n).astype(np.float32)
    padded = np.pad(flat, ((0, 0), (width, width + orig)))
    frames = sliding_window_view(padded, k.shape[1], axis=1)[:, ::orig]  # (B, F, taps)
    out = (frames @ k.T).reshape(len(flat), -1)  # (B, F * new): output phase fastest
    target = math.ceil(new * n / orig)
    return out[:, :target].reshape(*lead, -1)
