"""Flat colours at every level: a codec must return a flat blue square as flat blue.

Each colour fills a 64x64 image; it is compressed and decompressed at every level, and the
error is the mean absolute difference per channel (0-255 levels), over pixels and channels.
The colours are the 27 corners, edge and face centres of the RGB cube ({0, 128, 255}^3:
saturated primaries, black, white, grey) and 37 random ones (fixed seed): 64 in all.
"""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import numpy as np

SIZE = 64


def colours(n_random: int = 37, seed: int = 0) -> np.ndarray:
    """(n, 3) uint8: the 27 colours of {0, 128, 255}^3, then `n_random` random ones."""
    cube = np.array(list(itertools.product((0, 128, 255), repeat=3)), dtype=np.uint8)
    rand = np.random.default_rng(seed).integers(0, 256, (n_random, 3)).astype(np.uint8)
    return np.concatenate([cube, rand])


def flat_errors(model: str | Path | None, levels: list[int], palette: np.ndarray | None = None) -> list[dict]:
    """Per level: mean and worst (over colours) of the mean absolute error per channel, and
    the colour that came back worst and what it came back as (its decoded mean)."""
    from .. import api
    from ..codec import container

    palette = colours() if palette is None else palette
    out = []
    for level in levels:
        errs, means = [], []
        for c in palette:
            img = np.broadcast_to(c, (SIZE, SIZE, 3)).copy()
            stream = io.BytesIO(api.compress(img, model, quality=level))
            rgb, _ = api.decompress_image_from(stream, container.read_header(stream), model)
            d = rgb.astype(np.float64)
            errs.append(float(np.abs(d - c).mean()))
            means.append(d.reshape(-1, 3).mean(axis=0))
        worst = int(np.argmax(errs))
        out.append({"level": level, "colours": len(palette), "mean_error": float(np.mean(errs)),
                    "worst_error": errs[worst], "worst_colour": palette[worst].tolist(),
                    "worst_decoded_as": [round(float(v), 1) for v in means[worst]],
                    "within_3": int(sum(e <= 3 for e in errs))})
    return out
