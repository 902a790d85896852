"""Augmentations for training: image crops (scale, colour jitter, synthetic flat colours) and
speech heard through a telephone band (`band_limit`).

Photos rarely hold large areas of one saturated colour, yet a codec must return a flat blue
square as flat blue: one crop in twenty (P_FLAT) is a piecewise-flat colour field, with
saturated channels (0 or 255) over-represented. All draws come from the caller's generator and
no step goes through BLAS, so a batch is a function of (seed, k) on any machine.
"""

from __future__ import annotations

import numpy as np

SCALES = (0.5, 1.0)  # a crop covers size/s pixels of the photo, s log-uniform in this range
P_SCALE, P_JITTER, P_FLAT = 0.5, 0.5, 0.05


def crop(im: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """A random size x size crop of `im` (h, w, 3) uint8, sometimes from a larger area scaled
    down (photos seen at other resolutions), flipped half the time, colour-jittered half the
    time. (The caller draws the flat fields, P_FLAT of all crops, before reading a photo.)"""
    side = size
    if rng.random() < P_SCALE:
        s = float(np.exp(rng.uniform(np.log(SCALES[0]), np.log(SCALES[1]))))
        side = min(int(round(size / s)), *im.shape[:2])
    out = plain_crop(im, side, rng)
    if side != size:
        from PIL import Image

        out = np.asarray(Image.fromarray(out).resize((size, size), Image.Resampling.LANCZOS))
    if rng.random() < P_JITTER:
        out = jitter(out, rng)
    return np.ascontiguousarray(out)


def plain_crop(im: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """A random size x size crop, flipped left-right half the time (validation's crops)."""
    y = int(rng.integers(im.shape[0] - size + 1))
    x = int(rng.integers(im.shape[1] - size + 1))
    out = im[y: y + size, x: x + size]
    return np.ascontiguousarray(out[:, ::-1] if rng.random() < 0.5 else out)


def jitter(im: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Brightness, contrast and saturation each scaled by up to +-15 %."""
    x = im.astype(np.float32)
    b, c, s = rng.uniform(0.85, 1.15, size=3)
    luma = x[..., 0] * 0.299 + x[..., 1] * 0.587 + x[..., 2] * 0.114  # no BLAS: same on any CPU
    x = luma[..., None] + s * (x - luma[..., None])
    x = (x - x.mean()) * c + x.mean() * b
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def flat_field(size: int, rng: np.random.Generator) -> np.ndarray:
    """One flat colour, or 2-4 flat colours split by axis-aligned edges."""
    out = np.empty((size, size, 3), dtype=np.uint8)
    out[:] = _colour(rng)
    for _ in range(int(rng.integers(0, 4))):
        y0, x0 = rng.integers(0, size, size=2)
        y1, x1 = rng.integers(1, size + 1, size=2)
        out[min(y0, y1): max(y0, y1) + 1, min(x0, x1): max(x0, x1) + 1] = _colour(rng)
    return out


def _colour(rng: np.random.Generator) -> np.ndarray:
    """Uniform RGB, each channel saturated (0 or 255) a third of the time."""
    c = rng.integers(0, 256, size=3)
    sat = rng.random(3) < 1 / 3
    c[sat] = 255 * rng.integers(0, 2, size=int(sat.sum()))
    return c.astype(np.uint8)


NARROW_PASS, NARROW_STOP = 3600.0, 4000.0  # Hz: what a recording sampled at 8 kHz keeps


def band_limit(x: "torch.Tensor", share: float, rng: np.random.Generator, rate: int) -> "torch.Tensor":
    """(B, T) speech with about `share` of its examples low-passed as a recording made at 8 kHz
    sounds after resampling to `rate`: flat to NARROW_PASS, a cosine taper to NARROW_STOP,
    nothing above. The others are returned untouched (the same tensor when none is chosen)."""
    import torch

    chosen = np.flatnonzero(rng.random(x.shape[0]) < share)
    if not len(chosen):
        return x
    freqs = torch.fft.rfftfreq(x.shape[-1], 1.0 / rate, device=x.device)
    ramp = ((freqs - NARROW_PASS) / (NARROW_STOP - NARROW_PASS)).clamp(0, 1)
    gain = 0.5 * (1 + torch.cos(torch.pi * ramp))
    sel = torch.from_numpy(chosen).to(x.device)
    out = x.clone()
    out[sel] = torch.fft.irfft(torch.fft.rfft(x[sel].float(), dim=-1) * gain, n=x.shape[-1],
                               dim=-1).to(x.dtype)
    return out
