"""Image augmentations for training crops: scale, colour jitter, and synthetic flat colours.

Photos rarely hold large areas of one saturated colour, yet a codec must return a flat blue
square as flat blue: a few crops of every batch are piecewise-flat colour fields, with
saturated channels (0 or 255) over-represented. All draws come from the caller's generator, so
a batch stays a function of (seed, k).
"""

from __future__ import annotations

import numpy as np

SCALES = (0.5, 1.0)  # a crop covers size/s pixels of the photo, s log-uniform in this range
P_SCALE, P_JITTER, P_FLAT = 0.5, 0.5, 0.05


def crop(im: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """A random size x size crop of `im` (h, w, 3) uint8, sometimes from a larger area scaled
    down (photos seen at other resolutions), flipped half the time, colour-jittered half the
    time; with probability P_FLAT a synthetic flat-colour field instead."""
    if rng.random() < P_FLAT:
        return flat_field(size, rng)
    side = size
    if rng.random() < P_SCALE:
        s = float(np.exp(rng.uniform(np.log(SCALES[0]), np.log(SCALES[1]))))
        side = min(int(round(size / s)), *im.shape[:2])
    y = int(rng.integers(im.shape[0] - side + 1))
    x = int(rng.integers(im.shape[1] - side + 1))
    out = im[y: y + side, x: x + side]
    if side != size:
        from PIL import Image

        out = np.asarray(Image.fromarray(np.ascontiguousarray(out)).resize(
            (size, size), Image.Resampling.LANCZOS))
    if rng.random() < 0.5:
        out = out[:, ::-1]
    if rng.random() < P_JITTER:
        out = jitter(out, rng)
    return np.ascontiguousarray(out)


def jitter(im: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Brightness, contrast and saturation each scaled by up to +-15 %."""
    x = im.astype(np.float32)
    b, c, s = rng.uniform(0.85, 1.15, size=3)
    luma = x @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
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
