"""Gated PixelCNN prior over a 2-D index map (van den Oord et al. 2016), wavefront-decodable.

Vertical stack: sees rows above (and, after the first layer, its own row's vertical features),
so it has no blind spot. Horizontal stack: sees the current row to the left plus the vertical
features at the same position. Every tap (dy, dx) satisfies 2*dy + dx <= 0, and the first
layer's taps 2*dy + dx < 0, so the distribution at (y, x) depends only on positions with a
smaller wavefront time t = 2y + x. All positions on one wavefront decode together: a 64 x 96
map takes 222 steps instead of 6144.

`GatedPixelCNN` is the float model used for training; `to_integer()` freezes it into
`IntGatedPixelCNN`, the exact integer network the codec runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .intops import (ACT_SCALE, GATE_IN_SCALE, LOGIT_SCALE, RESIDUAL_CLAMP, QLayer, gate, load_network,
                     make_tables, network_state, np_tables, quantize_linear, weights_np)
from .taps import Grid, TapConv

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


def float_gate(x: torch.Tensor) -> torch.Tensor:
    a, b = x.chunk(2, dim=1)
    return torch.tanh(a) * torch.sigmoid(b)


class GatedPixelCNN(nn.Module):
    """Float gated PixelCNN: (B, H, W) indices -> (B, K, H, W) logits of each index."""

    def __init__(self, cfg: PixelCNNConfig):
        super().__init__()
        self.cfg = cfg
        c, k, n = cfg.channels, cfg.codebook_size, cfg.layers
        self.embed = nn.Embedding(k, c)
        self.v = nn.ModuleList([TapConv(c, 2 * c, V0_TAPS if i == 0 else V_TAPS) for i in range(n)])
        self.h = nn.ModuleList([TapConv(c, 2 * c, H0_TAPS if i == 0 else H_TAPS) for i in range(n)])
        self.vh = nn.ModuleList([TapConv(c, 2 * c, CENTER) for _ in range(n)])
        self.res = nn.ModuleList([TapConv(c, c, CENTER) for _ in range(n - 1)])
        self.out1 = TapConv(c, c, CENTER)
        self.out2 = TapConv(c, k, CENTER)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        e = self.embed(idx).permute(0, 3, 1, 2)  # (B, C, H, W)
        v = float_gate(self.v[0](e))
        h = float_gate(self.h[0](e) + self.vh[0](v))
        for i in range(1, self.cfg.layers):
            v = float_gate(self.v[i](v))
            h = h + self.res[i - 1](float_gate(self.h[i](h) + self.vh[i](v)))
        return self.out2(F.relu(self.out1(h)))

    def to_integer(self) -> "IntGatedPixelCNN":
        """Freeze into the exact integer network (the bitrate cost is measured by `train`)."""
        emb = torch.round(self.embed.weight.detach().double() / ACT_SCALE).long()
        act, emb_max = float(1 << 12), float(emb.abs().max())
        q = {"v0": quantize_linear(self.v[0].tap_matrix(), self.v[0].bias, GATE_IN_SCALE, emb_max),
             "h0": quantize_linear(torch.cat([self.h[0].tap_matrix(), self.vh[0].tap_matrix()]),
                                   self.h[0].bias + self.vh[0].bias, GATE_IN_SCALE,
                                   max(emb_max, act))}
        for i in range(1, self.cfg.layers):
            q[f"v{i}"] = quantize_linear(self.v[i].tap_matrix(), self.v[i].bias, GATE_IN_SCALE, act)
            q[f"h{i}"] = quantize_linear(torch.cat([self.h[i].tap_matrix(), self.vh[i].tap_matrix()]),
                                         self.h[i].bias + self.vh[i].bias, GATE_IN_SCALE,
                                         RESIDUAL_CLAMP)
            q[f"r{i}"] = quantize_linear(self.res[i - 1].tap_matrix(), self.res[i - 1].bias,
                                         ACT_SCALE, act)
        q["o1"] = quantize_linear(self.out1.tap_matrix(), self.out1.bias, ACT_SCALE, RESIDUAL_CLAMP)
        q["o2"] = quantize_linear(self.out2.tap_matrix(), self.out2.bias, LOGIT_SCALE, RESIDUAL_CLAMP)
        return IntGatedPixelCNN(self.cfg, emb, q, make_tables())


class IntGatedPixelCNN:
    """The integer PixelCNN: identical logits for identical indices on every machine."""

    def __init__(self, cfg: PixelCNNConfig, embed: torch.Tensor, layers: dict[str, QLayer],
                 tables: dict[str, torch.Tensor]):
        self.cfg, self.embed, self.layers, self.tables = cfg, embed.long(), layers, tables
        self.np_embed, self.np_tables = self.embed.numpy().astype(np.float64), np_tables(tables)

    # -- serialisation -------------------------------------------------------------------
    def state(self, prefix: str = "prior.") -> dict[str, torch.Tensor]:
        return network_state(prefix, {"embed": self.embed}, self.layers, self.tables)

    @classmethod
    def from_state(cls, cfg: PixelCNNConfig, t: dict[str, torch.Tensor],
                   prefix: str = "prior.") -> "IntGatedPixelCNN":
        names = ["v0", "h0", "o1", "o2"] + [f"{p}{i}" for i in range(1, cfg.layers) for p in "vhr"]
        layers, tables = load_network(prefix, t, names)
        return cls(cfg, t[prefix + "embed"], layers, tables)

    # -- evaluation ----------------------------------------------------------------------
    def plan(self, shape: tuple[int, int, int]) -> "Plan2d":
        return Plan2d(self, shape)


class Plan2d:
    """Coding state for a (B, H, W) map: caches per layer and the wavefront schedule.

    Symbol ids index the flattened (B, H, W) map. Methods take and return torch tensors or
    numpy arrays at the edges; the arithmetic inside is numpy, exact integers throughout.
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

    def steps(self) -> list[torch.Tensor]:
        """Symbol ids of each wavefront, in coding order."""
        b, h, w = self.shape
        ids = np.arange(b * h * w)
        t = 2 * ((ids // w) % h) + ids % w
        order = np.argsort(t * (b * h * w) + ids, kind="stable")
        bounds = np.cumsum(np.bincount(t, minlength=2 * (h - 1) + w))[:-1]
        return [torch.from_numpy(s) for s in np.split(ids[order], bounds)]

    def rows(self, ids: np.ndarray) -> np.ndarray:
        _, h, w = self.shape
        return self.grid.flat(ids // (h * w), (ids // w) % h, ids % w)

    def commit(self, ids, symbols) -> None:
        self.cache["e"][self.rows(np.asarray(ids))] = self.model.np_embed[np.asarray(symbols)]

    def logits(self, ids) -> torch.Tensor:
        """Integer logits (N, K) at symbols `ids`, whose contexts must be committed."""
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

    def batch_of(self, ids) -> torch.Tensor:
        _, h, w = self.shape
        return torch.as_tensor(np.asarray(ids) // (h * w))
