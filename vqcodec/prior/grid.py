"""The flat grid that gathers taps: a batch of zero-padded 1-D or 2-D maps, one row per position.

Numpy only: the integer priors decode with it without torch.
"""

from __future__ import annotations

import numpy as np

Tap = tuple[int, ...]


class Grid:
    """A batch of zero-padded 1-D or 2-D maps laid out flat, one row per position.

    Caches are (positions, channels) float64 arrays holding integers; `gather` reads the taps
    around a set of positions, `flat` turns (batch, *coords) into row numbers.
    """

    def __init__(self, batch: int, shape: tuple[int, ...], pad: int):
        self.batch, self.shape, self.pad = batch, tuple(shape), pad
        self.padded = tuple(s + 2 * pad for s in shape)
        self.strides = []
        stride = 1
        for s in reversed(self.padded):
            self.strides.insert(0, stride)
            stride *= s
        self.rows = batch * stride
        self.batch_stride = stride

    def cache(self, channels: int) -> np.ndarray:
        return np.zeros((self.rows, channels), dtype=np.float64)

    def flat(self, b: np.ndarray, *coords: np.ndarray) -> np.ndarray:
        idx = b * self.batch_stride
        for c, s in zip(coords, self.strides):
            idx = idx + (c + self.pad) * s
        return idx

    def offsets(self, taps: list[Tap]) -> np.ndarray:
        return np.array([sum(o * s for o, s in zip(t, self.strides)) for t in taps], dtype=np.int64)

    def gather(self, cache: np.ndarray, rows: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        return gather(cache, rows, offsets)


def gather(cache: np.ndarray, rows: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """(N,) rows and (taps,) flat offsets -> (N, taps * C) features."""
    return cache[rows[:, None] + offsets[None, :]].reshape(len(rows), len(offsets) * cache.shape[1])
