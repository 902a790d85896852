"""Convolutions given by an explicit list of taps, and the flat grid that gathers them.

A tap is an offset ((dt,) in 1-D, (dy, dx) in 2-D) from the output position to an input
position. Listing taps instead of masking a kernel makes causality visible in the code, and
lets the same weights run two ways: as a float convolution for training (`TapConv`), and as
an exact integer gather + matrix product at any chosen set of positions (`Grid`), which is
how the decoder evaluates only the positions whose context is complete.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

Tap = tuple[int, ...]


class TapConv(nn.Module):
    """Float convolution over (B, C, *spatial) whose kernel has weights only at `taps`."""

    def __init__(self, c_in: int, c_out: int, taps: list[Tap]):
        super().__init__()
        self.taps = [tuple(t) for t in taps]
        ndim = len(self.taps[0])
        self.lo = [min(t[d] for t in self.taps) for d in range(ndim)]
        self.hi = [max(t[d] for t in self.taps) for d in range(ndim)]
        size = [h - l + 1 for l, h in zip(self.lo, self.hi)]
        mask = torch.zeros(size)
        for t in self.taps:
            mask[tuple(o - l for o, l in zip(t, self.lo))] = 1.0
        self.register_buffer("mask", mask, persistent=False)
        fan_in = c_in * len(self.taps)
        self.weight = nn.Parameter(torch.randn(c_out, c_in, *size) / math.sqrt(fan_in))
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.conv = F.conv1d if ndim == 1 else F.conv2d

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad: list[int] = []
        for l, h in reversed(list(zip(self.lo, self.hi))):
            pad += [-l, h]  # negative padding crops: taps that only look back
        return self.conv(F.pad(x, pad), self.weight * self.mask, self.bias)

    def tap_matrix(self) -> torch.Tensor:
        """Weights as (taps * C_in, C_out), rows tap-major, matching `Grid.gather`."""
        cols = [self.weight[(slice(None), slice(None)) + tuple(o - l for o, l in zip(t, self.lo))]
                for t in self.taps]  # each (C_out, C_in)
        return torch.cat([c.t() for c in cols], dim=0)


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
        """(N,) rows and (taps,) flat offsets -> (N, taps * C) features."""
        return cache[rows[:, None] + offsets[None, :]].reshape(len(rows), -1)
