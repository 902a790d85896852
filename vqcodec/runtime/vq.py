"""Residual vector quantisation at inference: nearest codes and codebook lookup."""

from __future__ import annotations

import numpy as np


def nearest(z: np.ndarray, codebook: np.ndarray) -> np.ndarray:
    """(N, D) -> (N,) index of the nearest code, by the same expansion the torch quantizer uses."""
    d = (z * z).sum(1, keepdims=True) - 2 * (z @ codebook.T) + (codebook * codebook).sum(1)
    return d.argmin(axis=1)


def encode(z: np.ndarray, codebooks: list[np.ndarray], stages: int) -> np.ndarray:
    """(D, *spatial) latents -> (stages, *spatial) indices; stage s codes what s - 1 left."""
    flat = np.ascontiguousarray(z.reshape(z.shape[0], -1).T)  # (N, D)
    out = []
    for cb in codebooks[:stages]:
        idx = nearest(flat, cb)
        flat = flat - cb[idx]
        out.append(idx)
    return np.stack(out).reshape(stages, *z.shape[1:])


def decode(indices: np.ndarray, codebooks: list[np.ndarray]) -> np.ndarray:
    """(S, *spatial) indices -> (D, *spatial) sum of the chosen codes."""
    total = sum(cb[indices[s]] for s, cb in enumerate(codebooks[: len(indices)]))
    return np.moveaxis(total, -1, 0)
