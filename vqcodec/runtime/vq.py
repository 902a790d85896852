"""Residual vector quantisation at inference: nearest codes (greedy, or a beam search over the
stages) and codebook lookup."""

from __future__ import annotations

import numpy as np


def nearest_distances(z: np.ndarray, codebook: np.ndarray) -> np.ndarray:
    """(N, D) -> (N, K) squared distances to every code: |z|^2 - 2 z.c + |c|^2, rounded as the
    torch quantizer rounds it (so greedy coding picks the codes torch picks)."""
    d = z @ codebook.T
    d *= -2
    d += (z * z).sum(1, keepdims=True)
    d += (codebook * codebook).sum(1)
    return d


BEAM = 4  # paths kept between stages by default: see `encode` and docs/RESULTS.md


def encode(z: np.ndarray, codebooks: list[np.ndarray], stages: int,
           beam: int | None = None) -> np.ndarray:
    """(D, *spatial) latents -> (stages, *spatial) indices; stage s codes what s - 1 left.

    With several stages, a beam search: each stage extends the `beam` paths whose residuals
    are smallest so far by every code, and the last stage keeps the path nearest to the latent.
    Greedy nearest codes (beam 1) can leave a larger error, because a first-stage code that is
    nearest on its own may leave a residual the next codebook covers badly; with two stages the
    beam's result is never farther from the latent than greedy coding's. Only the encoder
    searches: any choice of codes decodes the same way. `beam` defaults to `BEAM`.
    """
    beam = BEAM if beam is None else beam
    res = np.ascontiguousarray(z.reshape(z.shape[0], -1).T)  # (N * paths, D), path-minor
    n, dim = res.shape
    if n == 0:
        return np.zeros((stages, *z.shape[1:]), dtype=np.int64)
    rows = np.arange(n)[:, None]
    paths = np.zeros((n, 1, 0), dtype=np.int64)
    for s, cb in enumerate(codebooks[:stages]):
        d = nearest_distances(res, cb).reshape(n, -1)  # (N, paths * K): ties go to earlier paths
        keep = 1 if s == stages - 1 else min(beam, d.shape[1])
        if keep == 1:
            top = d.argmin(axis=1)[:, None]
        else:  # the `keep` smallest, in order (stable: ties keep the lower index)
            top = np.argpartition(d, keep - 1, axis=1)[:, :keep]
            top = np.take_along_axis(top, np.argsort(np.take_along_axis(d, top, 1), 1,
                                                     kind="stable"), 1)
        path, code = np.divmod(top, len(cb))
        paths = np.concatenate([paths[rows, path], code[..., None]], axis=2)
        res = (res.reshape(n, -1, dim)[rows, path] - cb[code]).reshape(-1, dim)
    return np.moveaxis(paths[:, 0], 1, 0).reshape(stages, *z.shape[1:])


def decode(indices: np.ndarray, codebooks: list[np.ndarray]) -> np.ndarray:
    """(S, *spatial) indices -> (D, *spatial) sum of the chosen codes."""
    total = sum(cb[indices[s]] for s, cb in enumerate(codebooks[: len(indices)]))
    return np.moveaxis(total, -1, 0)
