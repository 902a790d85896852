"""Convolutions given by an explicit list of taps, and the flat grid that gathers them.

A tap is an offset ((dt,) in 1-D, (dy, dx) in 2-D) from the output position to an input
position. Listing taps instead of masking a kernel makes causality visible in the code, and
lets the same weights run two ways: as a float convolution for training (`TapConv`), and as
an exact integer gather + matrix product at any chosen set of positions (`Grid`), which is
how the decoder evaluates only the positions whose context is complete.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .grid import Grid, Tap

__all__ = ["Grid", "Tap", "TapConv"]


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
