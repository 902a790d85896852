"""The integer gated PixelCNN the codec runs (numpy only): exact logits, wavefront decoding.

The float model it is frozen from, and the causality argument for the taps below, are in
`pixelcnn2d`. Every tap (dy, dx) satisfies 2*dy + dx <= 0 (the first layer's < 0), so all
positions on one wavefront t = 2y + x decode together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .grid import gather
from .intops import RESIDUAL_CLAMP, QLayer, gate, load_network, network_state, np_tables, weights_np

if TYPE_CHECKING:
    import torch


V0_TAPS = [(-2, -1), (-2, 0), (-2, 1), (-1, -1), (-1, 0), (-1, 1)]
V_TAPS = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 0)]
H0_TAPS = [(0, -2), (0, -1)]
H_TAPS = [(0, -2), (0, -1), (0, 0)]
CENTER = [(0, 0)]
PAD = 2
LOOKBACK = 5  # the farthest wavefront back a tap reads: max of -(2 dy + dx), (-2, -1) in V0_TAPS
GROUP = 1 << 12  # positions one evaluation covers at most: bounds the caches, not the map


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
    def plan(self, shape: tuple[int, int, int], group: int = GROUP) -> "Plan2d":
        return Plan2d(self, shape, group)


class Plan2d:
    """Coding state for a (B, H, W) map: caches per layer and the wavefront schedule.

    Symbol ids index the flattened (B, H, W) map. The arithmetic is numpy, exact integers
    throughout; `steps`, `logits` and `batch_of` hand torch tensors to training code, their
    `_np` twins numpy arrays to the codec.

    The caches are laid out by wavefront, (slot, B, PAD + H + PAD, C) with slot t mod `slots`
    for position (y, x) on wavefront t = 2y + x, so every tap (dy, dx) is one flat offset
    (2dy + dx) * B * (H + 2 PAD) + dy. They hold `span + LOOKBACK` wavefronts: what one
    evaluation of at most `group` positions reads, not the whole map. A slot is reused once
    its wavefront is LOOKBACK behind; a negative flat index wraps to the end, which is the
    ring's previous slot. Rows outside a wavefront's range are the zero padding; `commit`
    clears what the slot's previous wavefront left there.
    """

    def __init__(self, model: IntGatedPixelCNN, shape: tuple[int, int, int], group: int = GROUP):
        b, h, w = shape
        self.model, self.shape = model, shape
        steps = 2 * (h - 1) + w
        per_step = b * min(h, (w + 1) // 2)  # the most positions on one wavefront
        self.span = min(steps, max(1, group // per_step))  # wavefronts evaluated at once, at most
        self.slots, self.hp = self.span + LOOKBACK, h + 2 * PAD
        c = model.cfg.channels
        names = ["e"] + [f"{p}{i}" for i in range(model.cfg.layers) for p in "vh"]
        self.cache = {n: np.zeros((self.slots, b, self.hp, c)) for n in names}
        self.held = np.full(self.slots, -1)  # the wavefront each slot holds
        self.off = {n: np.array([(2 * dy + dx) * b * self.hp + dy for dy, dx in taps])
                    for n, taps in (("v0", V0_TAPS), ("v", V_TAPS), ("h0", H0_TAPS), ("h", H_TAPS))}

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

    def _coords(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(batch, row, wavefront) of symbol ids."""
        _, h, w = self.shape
        y, x = (ids // w) % h, ids % w
        return ids // (h * w), y, 2 * y + x

    def rows(self, ids: np.ndarray) -> np.ndarray:
        """Flat cache rows of symbol ids."""
        b, y, t = self._coords(ids)
        return ((t % self.slots) * self.shape[0] + b) * self.hp + y + PAD

    def commit(self, ids, symbols) -> None:
        ids = np.asarray(ids)
        self._enter(ids)
        self.flat("e")[self.rows(ids)] = self.model.np_embed[np.asarray(symbols)]

    def _enter(self, ids: np.ndarray) -> None:
        """Give the wavefronts of `ids` their slots, clearing what older ones left there."""
        if not len(ids):
            return
        waves = self._coords(ids)[2]
        first, last = int(waves.min()), int(waves.max())
        if last - first >= self.span:
            raise ValueError(f"a plan for {self.shape} evaluates at most {self.span} wavefronts "
                             "at once")
        w = self.shape[2]
        for t in range(first, last + 1):
            slot, old = t % self.slots, self.held[t % self.slots]
            if old == t:
                continue
            if old >= 0:  # rows old covered but t does not: below t's range (ranges only rise)
                lo_old, lo = max(0, -(-(old - w + 1) // 2)), max(0, -(-(t - w + 1) // 2))
                for c in self.cache.values():
                    c[slot, :, PAD + lo_old: PAD + lo] = 0
            self.held[slot] = t

    def flat(self, name: str) -> np.ndarray:
        """Cache `name` as (rows, C), a view."""
        return self.cache[name].reshape(-1, self.cache[name].shape[-1])

    def logits(self, ids) -> "torch.Tensor":
        """Integer logits (N, K) at symbols `ids`, whose contexts must be committed."""
        import torch

        return torch.from_numpy(self._logits(np.asarray(ids)))

    def weights(self, ids) -> np.ndarray:
        """Probability weights (N, K) as exact float64 integers, for the range coder."""
        return weights_np(self._logits(np.asarray(ids)), self.model.np_tables)

    def _logits(self, ids: np.ndarray) -> np.ndarray:
        m, rows = self.model, self.rows(ids)
        self._enter(ids)
        c = {n: self.flat(n) for n in self.cache}
        q, tab = m.layers, m.np_tables
        v = gate(q["v0"](gather(c["e"], rows, self.off["v0"])), tab)
        c["v0"][rows] = v
        h = gate(q["h0"](np.concatenate([gather(c["e"], rows, self.off["h0"]), v], 1)), tab)
        c["h0"][rows] = h
        for i in range(1, m.cfg.layers):
            v = gate(q[f"v{i}"](gather(c[f"v{i - 1}"], rows, self.off["v"])), tab)
            c[f"v{i}"][rows] = v
            feats = np.concatenate([gather(c[f"h{i - 1}"], rows, self.off["h"]), v], 1)
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
