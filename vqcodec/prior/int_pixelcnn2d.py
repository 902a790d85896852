"""The integer gated PixelCNN the codec runs (numpy only): exact logits, wavefront decoding.

The float model it is frozen from, and the causality argument for the taps below, are in
`pixelcnn2d`. Every tap (dy, dx) satisfies 2*dy + dx <= 0 (the first layer's < 0), so all
positions on one wavefront t = 2y + x decode together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .grid import Grid
from .intops import RESIDUAL_CLAMP, QLayer, gate, load_network, network_state, np_tables, weights_np

if TYPE_CHECKING:
    import torch


V0_TAPS = [(-2, -1), (-2, 0), (-2, 1), (-1, -1), (-1, 0), (-1, 1)]
V_TAPS = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 0)]
H0_TAPS = [(0, -2), (0, -1)]
H_TAPS = [(0, -2), (0, -1), (0, 0)]
CENTER = [(0, 0)]
PAD = 2


@dataclass
class PixelCNNConfig:
    codebook_size: int
    channels: int = 64
    layers: int = 5


class IntGatedPixelCNN:
    """The integer PixelCNN: identical logits for identical indices on every machine."""

    def __init__(self, cfg: PixelCNNConfig, embed, layers: dict[str, QLayer], tables: dict):
        """`embed` and `tables` as torch tensors or numpy arrays of integers."""
        self.cfg, self.layers = cfg, layers
        self.embed, self.tables = np.asarray(embed).astype(np.int64), np_tables(tables)
        self.np_embed, self.np_tables = self.embed.astype(np.float64), self.tables

    # -- serialisation -------------------------------------------------------------------
    def state(self, prefix: str = "prior.") -> dict:
        return network_state(prefix, {"embed": self.embed}, self.layers, self.tables)

    @classmethod
    def from_state(cls, cfg: PixelCNNConfig, t: dict, prefix: str = "prior.") -> "IntGatedPixelCNN":
        names = ["v0", "h0", "o1", "o2"] + [f"{p}{i}" for i in range(1, cfg.layers) for p in "vhr"]
        layers, tables = load_network(prefix, t, names)
        return cls(cfg, t[prefix + "embed"], layers, tables)

    # -- evaluation ----------------------------------------------------------------------
    def plan(self, shape: tuple[int, int, int]) -> "Plan2d":
        return Plan2d(self, shape)


class Plan2d:
    """Coding state for a (B, H, W) map: caches per layer and the wavefront schedule.

    Symbol ids index the flattened (B, H, W) map. The arithmetic is numpy, exact integers
    throughout; `steps`, `logits` and `batch_of` hand torch tensors to training code, their
    `_np` twins numpy arrays to the codec.
    """

    def __init__(self, model: IntGatedPixelCNN, shape: tuple[int, int, int]):
        b, h, w = shape
        self.model, self.shape = model, shape
        self.grid = Grid(b, (h, w), PAD)
        c = model.cfg.channels
        names = ["e"] + [f"{p}{i}" for i in range(model.cfg.layers) for p in "vh"]
        self.cache = {n: self.grid.cache(c) for n in names}
        self.off = {n: self.grid.offsets(t) for n, t in
                    (("v0", V0_TAPS), ("v", V_TAPS), ("h0", H0_TAPS), ("h", H_TAPS))}

    def steps(self) -> list:
        import torch

        return [torch.from_numpy(s) for s in self.steps_np()]

    def steps_np(self) -> list[np.ndarray]:
        """Symbol ids of each wavefront, in coding order."""
        b, h, w = self.shape
        ids = np.arange(b * h * w)
        t = 2 * ((ids // w) % h) + ids % w
        order = np.argsort(t * (b * h * w) + ids, kind="stable")
        bounds = np.cumsum(np.bincount(t, minlength=2 * (h - 1) + w))[:-1]
        return np.split(ids[order], bounds)

    def rows(self, ids: np.ndarray) -> np.ndarray:
        _, h, w = self.shape
        return self.grid.flat(ids // (h * w), (ids // w) % h, ids % w)

    def commit(self, ids, symbols) -> None:
        self.cache["e"][self.rows(np.asarray(ids))] = self.model.np_embed[np.asarray(symbols)]

    def logits(self, ids) -> "torch.Tensor":
        """Integer logits (N, K) at symbols `ids`, whose contexts must be committed."""
        import torch

        return torch.from_numpy(self._logits(np.asarray(ids)))

    def weights(self, ids) -> np.ndarray:
        """Probability weights (N, K) as exact float64 integers, for the range coder."""
        return weights_np(self._logits(np.asarray(ids)), self.model.np_tables)

    def _logits(self, ids: np.ndarray) -> np.ndarray:
        m, g, c, rows = self.model, self.grid, self.cache, self.rows(ids)
        q, tab = m.layers, m.np_tables
        v = gate(q["v0"](g.gather(c["e"], rows, self.off["v0"])), tab)
        c["v0"][rows] = v
        h = gate(q["h0"](np.concatenate([g.gather(c["e"], rows, self.off["h0"]), c["v0"][rows]], 1)), tab)
        c["h0"][rows] = h
        for i in range(1, m.cfg.layers):
            v = gate(q[f"v{i}"](g.gather(c[f"v{i - 1}"], rows, self.off["v"])), tab)
            c[f"v{i}"][rows] = v
            feats = np.concatenate([g.gather(c[f"h{i - 1}"], rows, self.off["h"]), v], 1)
            g_out = gate(q[f"h{i}"](feats), tab)
            h = np.clip(h + q[f"r{i}"](g_out.astype(np.float64)), -RESIDUAL_CLAMP, RESIDUAL_CLAMP)
            c[f"h{i}"][rows] = h
        o = np.clip(q["o1"](h.astype(np.float64)), 0, RESIDUAL_CLAMP)
        return q["o2"](o.astype(np.float64))

    def batch_of(self, ids) -> "torch.Tensor":
        import torch

        return torch.as_tensor(self.batch_of_np(np.asarray(ids)))

    def batch_of_np(self, ids: np.ndarray) -> np.ndarray:
        _, h, w = self.shape
        return ids // (h * w)
