"""Residual vector quantisation at inference: nearest codes (greedy, or a beam search over the
stages) and codebook lookup."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def nearest_distances(z: np.ndarray, codebook: np.ndarray) -> np.ndarray:
    """(N, D) -> (N, K) squared distances to every code: |z|^2 - 2 z.c + |c|^2, rounded as the
    torch quantizer rounds it (so greedy coding picks the codes torch picks)."""
    d = z @ codebook.T
    d *= -2
    d += (z * z).sum(1, keepdims=True)
    d += (codebook * codebook).sum(1)
    return d


BEAM = 4  # speech: paths kept between stages by default (docs/RESULTS.md)
BLOCK = 4096  # positions searched at once: bounds the (positions, paths * K) distances


# cost(stage, positions (n,), codes of each kept path so far (n, P, stage)) -> (n, P, K): a
# penalty per candidate code, added to its squared distance (a rate term: `codec.speech`)
Cost = Callable[[int, np.ndarray, np.ndarray], np.ndarray]


def encode(z: np.ndarray, codebooks: list[np.ndarray], stages: int,
           beam: int | None = None, cost: Cost | None = None) -> np.ndarray:
    """(D, *spatial) latents -> (stages, *spatial) indices; stage s codes what s - 1 left.

    A beam search over the stages (`beam` paths, default `BEAM`; 1 is greedy coding): each
    stage extends the kept paths by every code, the last keeps the path nearest to the latent
    (with `cost`, the one whose squared distance plus summed costs is least).
    Codes for n stages need not be a prefix of the codes for n + 1 unless `beam` is 1.
    """
    return encode_both(z, codebooks, stages, beam, cost)[0]


def encode_both(z: np.ndarray, codebooks: list[np.ndarray], stages: int,
                beam: int | None = None, cost: Cost | None = None) -> tuple[np.ndarray, np.ndarray]:
    """encode(z, codebooks, stages) and encode(z, codebooks, stages - 1) from one search: the
    kept paths agree up to stage stages - 2, where the shorter search keeps the best of them."""
    beam = BEAM if beam is None else beam
    if beam < 1:
        raise ValueError(f"beam width {beam}: at least 1")
    flat = np.ascontiguousarray(z.reshape(z.shape[0], -1).T)  # (N, D)
    out = np.zeros((len(flat), stages), dtype=np.int64)
    fewer = np.zeros((len(flat), max(stages - 1, 0)), dtype=np.int64)
    for b0 in range(0, len(flat), BLOCK):  # positions are independent
        pos = np.arange(b0, min(b0 + BLOCK, len(flat)))
        out[pos], fewer[pos] = _search(flat[pos], codebooks[:stages], beam, cost, pos)
    shape = z.shape[1:]
    return (np.moveaxis(out, 1, 0).reshape(stages, *shape),
            np.moveaxis(fewer, 1, 0).reshape(max(stages - 1, 0), *shape))


def _search(res: np.ndarray, codebooks: list[np.ndarray], beam: int, cost: Cost | None,
            pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, D) latents -> (N, S) codes of the best path found, and (N, S - 1) those of the best
    path one stage shorter."""
    n, dim = res.shape
    rows = np.arange(n)[:, None]
    paths = np.zeros((n, 1, 0), dtype=np.int64)
    spent = np.zeros((n, 1), dtype=np.float32)  # each path's summed cost
    fewer = paths[:, 0]
    for s, cb in enumerate(codebooks):
        d = nearest_distances(res, cb).reshape(n, -1)  # (N, paths * K), path by path
        if cost is not None:
            total = (spent[:, :, None] + cost(s, pos, paths)).reshape(n, -1)
            d += total
        keep = 1 if s == len(codebooks) - 1 else min(beam, d.shape[1])
        if keep == 1:
            top = d.argmin(axis=1)[:, None]  # the first of equals
        else:  # the `keep` smallest, nearest first; equal distances in index order
            top = np.sort(np.argpartition(d, keep - 1, axis=1)[:, :keep], axis=1)
            top = np.take_along_axis(top, np.argsort(np.take_along_axis(d, top, 1), 1,
                                                     kind="stable"), 1)
        if s == len(codebooks) - 2:  # the shorter search's last stage keeps its first best
            p, c = np.divmod(d.argmin(axis=1), len(cb))
            fewer = np.concatenate([paths[rows[:, 0], p], c[:, None]], axis=1)
        path, code = np.divmod(top, len(cb))  # (N, keep) each
        paths = np.concatenate([paths[rows, path], code[..., None]], axis=2)
        if cost is not None:
            spent = np.take_along_axis(total, top, 1)
        res = (res.reshape(n, -1, dim)[rows, path] - cb[code]).reshape(-1, dim)  # (N * keep, D)
    return paths[:, 0], fewer


def decode(indices: np.ndarray, codebooks: list[np.ndarray]) -> np.ndarray:
    """(S, *spatial) indices -> (D, *spatial) sum of the chosen codes; an index of -1 is a
    stage not coded there (a partial last stage), which adds nothing."""
    stages = range(min(len(indices), len(codebooks)))
    if not (indices < 0).any():
        total = sum(codebooks[s][indices[s]] for s in stages)
    else:  # the same additions in the same order, zeros where a stage is not coded
        total = sum(np.where((indices[s] < 0)[..., None], np.float32(0),
                             codebooks[s][np.maximum(indices[s], 0)]) for s in stages)
    return np.moveaxis(total, -1, 0)
