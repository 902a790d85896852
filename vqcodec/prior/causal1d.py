"""Causal prior over a sequence of residual-VQ frames (WaveNet-style gated dilated convolutions).

Index layout (B, T, S): B independent sequences (audio chunks), T frames, S codebook stages.
The trunk sees every stage of frames < t; the head for stage s also sees stages < s of frame t.
One model serves every rate: it is trained with a random number of stages, and the trunk input
sums only the stages a stream carries.

`CausalPrior` is the float model for training; `to_integer()` freezes `IntCausalPrior`, whose
decoder evaluates one frame at a time from cached activations (no full pass per symbol).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .intops import (ACT_SCALE, GATE_IN_SCALE, LOGIT_SCALE, RESIDUAL_CLAMP, QLayer, gate, load_network,
                     make_tables, network_state, np_tables, quantize_linear, weights_np)
from .pixelcnn2d import float_gate
from .taps import Grid, TapConv

FIRST_TAPS = [(-2,), (-1,)]
CENTER = [(0,)]


@dataclass
class CausalPriorConfig:
    codebook_size: int
    stages: int
    channels: int = 128
    dilations: tuple[int, ...] = (1, 2, 4, 8)


def dilated_taps(d: int) -> list[tuple[int]]:
    return [(-d,), (0,)]


class CausalPrior(nn.Module):
    """Float prior: (B, T, S') indices, S' <= S stages -> (B, S', K, T) logits."""

    def __init__(self, cfg: CausalPriorConfig):
        super().__init__()
        self.cfg = cfg
        c, k, s = cfg.channels, cfg.codebook_size, cfg.stages
        self.embed_in = nn.ModuleList([nn.Embedding(k, c) for _ in range(s)])
        self.embed_cur = nn.ModuleList([nn.Embedding(k, c) for _ in range(s - 1)])
        self.first = TapConv(c, 2 * c, FIRST_TAPS)
        self.convs = nn.ModuleList([TapConv(c, 2 * c, dilated_taps(d)) for d in cfg.dilations])
        self.res = nn.ModuleList([TapConv(c, c, CENTER) for _ in cfg.dilations])
        self.out1 = nn.ModuleList([TapConv(c, c, CENTER) for _ in range(s)])
        self.out2 = nn.ModuleList([TapConv(c, k, CENTER) for _ in range(s)])

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        used = idx.shape[-1]
        e = sum(self.embed_in[s](idx[..., s]) for s in range(used)).transpose(1, 2)  # (B, C, T)
        h = float_gate(self.first(e))
        for conv, res in zip(self.convs, self.res):
            h = h + res(float_gate(conv(h)))
        out, z = [], h
        for s in range(used):
            if s > 0:
                z = z + self.embed_cur[s - 1](idx[..., s - 1]).transpose(1, 2)
            out.append(self.out2[s](F.relu(self.out1[s](z))))
        return torch.stack(out, dim=1)

    def to_integer(self) -> "IntCausalPrior":
        """Freeze into the exact integer network."""
        def emb(e: nn.Embedding) -> torch.Tensor:
            return torch.round(e.weight.detach().double() / ACT_SCALE).long()

        e_in = torch.stack([emb(e) for e in self.embed_in])
        e_cur = torch.stack([emb(e) for e in self.embed_cur]) if self.cfg.stages > 1 else e_in[:0]
        in_max = float(e_in.abs().amax(dim=(1, 2)).sum())
        act = float(1 << 12)
        q = {"first": quantize_linear(self.first.tap_matrix(), self.first.bias, GATE_IN_SCALE, in_max)}
        for i, (conv, res) in enumerate(zip(self.convs, self.res)):
            q[f"c{i}"] = quantize_linear(conv.tap_matrix(), conv.bias, GATE_IN_SCALE, RESIDUAL_CLAMP)
            q[f"r{i}"] = quantize_linear(res.tap_matrix(), res.bias, ACT_SCALE, act)
        for s in range(self.cfg.stages):
            q[f"o1_{s}"] = quantize_linear(self.out1[s].tap_matrix(), self.out1[s].bias, ACT_SCALE,
                                           2 * RESIDUAL_CLAMP)
            q[f"o2_{s}"] = quantize_linear(self.out2[s].tap_matrix(), self.out2[s].bias,
                                           LOGIT_SCALE, RESIDUAL_CLAMP)
        return IntCausalPrior(self.cfg, e_in, e_cur, q, make_tables())


class IntCausalPrior:
    """The integer causal prior: identical logits for identical indices on every machine."""

    def __init__(self, cfg: CausalPriorConfig, embed_in: torch.Tensor, embed_cur: torch.Tensor,
                 layers: dict[str, QLayer], tables: dict[str, torch.Tensor]):
        self.cfg, self.layers, self.tables = cfg, layers, tables
        self.embed_in, self.embed_cur = embed_in.long(), embed_cur.long()  # (S, K, C), (S-1, K, C)
        self.np_in, self.np_cur = embed_in.numpy().astype(np.int64), embed_cur.numpy().astype(np.int64)
        self.np_tables = np_tables(tables)

    def state(self, prefix: str = "prior.") -> dict[str, torch.Tensor]:
        return network_state(prefix, {"embed_in": self.embed_in, "embed_cur": self.embed_cur},
                             self.layers, self.tables)

    @classmethod
    def from_state(cls, cfg: CausalPriorConfig, t: dict[str, torch.Tensor],
                   prefix: str = "prior.") -> "IntCausalPrior":
        names = ["first"] + [f"{p}{i}" for i in range(len(cfg.dilations)) for p in "cr"]
        names += [f"o{j}_{s}" for s in range(cfg.stages) for j in (1, 2)]
        layers, tables = load_network(prefix, t, names)
        return cls(cfg, t[prefix + "embed_in"], t[prefix + "embed_cur"], layers, tables)

    def plan(self, lengths: list[int], stages: int) -> "Plan1d":
        return Plan1d(self, lengths, stages)


class Plan1d:
    """Coding state for B sequences of given lengths with `stages` stages each.

    Symbol ids index the flattened (B, T, S) array. Torch or numpy at the edges, exact numpy
    integer arithmetic inside.
    """

    def __init__(self, model: IntCausalPrior, lengths: list[int], stages: int):
        self.model, self.lengths, self.stages = model, list(lengths), stages
        self.t_max = max(lengths)
        self.grid = Grid(len(lengths), (self.t_max,), max(2, max(model.cfg.dilations)))
        c = model.cfg.channels
        self.cache = {n: self.grid.cache(c)
                      for n in ["e"] + [f"h{i}" for i in range(len(model.cfg.dilations))]}
        self.off = {"first": self.grid.offsets(FIRST_TAPS)}
        for i, d in enumerate(model.cfg.dilations):
            self.off[f"c{i}"] = self.grid.offsets(dilated_taps(d))
        self.symbols = np.zeros((len(lengths), self.t_max, stages), dtype=np.int64)
        self.trunk: np.ndarray | None = None  # (B', C) trunk output at the frame in progress

    def steps(self) -> list[torch.Tensor]:
        """Symbol ids of each step: frame-major, then stage."""
        lengths = np.array(self.lengths)
        out = []
        for t in range(self.t_max):
            b = np.nonzero(lengths > t)[0]
            for s in range(self.stages):
                out.append(torch.from_numpy((b * self.t_max + t) * self.stages + s))
        return out

    def _split(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return (ids // (self.stages * self.t_max), (ids // self.stages) % self.t_max,
                ids % self.stages)

    def commit(self, ids, symbols) -> None:
        ids, symbols = np.asarray(ids), np.asarray(symbols, dtype=np.int64)
        b, t, s = self._split(ids)
        self.symbols[b, t, s] = symbols
        np.add.at(self.cache["e"], self.grid.flat(b, t), self.model.np_in[s, symbols])

    def _trunk(self, rows: np.ndarray) -> np.ndarray:
        m, g, c = self.model, self.grid, self.cache
        tab = m.np_tables
        h = gate(m.layers["first"](g.gather(c["e"], rows, self.off["first"])), tab)
        for i in range(len(m.cfg.dilations)):
            c[f"h{i}"][rows] = h
            g_out = gate(m.layers[f"c{i}"](g.gather(c[f"h{i}"], rows, self.off[f"c{i}"])), tab)
            h = np.clip(h + m.layers[f"r{i}"](g_out.astype(np.float64)), -RESIDUAL_CLAMP,
                        RESIDUAL_CLAMP)
        return h

    def _head(self, trunk: np.ndarray, b: np.ndarray, t: np.ndarray, s: int) -> np.ndarray:
        m = self.model
        z = trunk
        for j in range(s):
            z = z + m.np_cur[j][self.symbols[b, t, j]]
        o = np.clip(m.layers[f"o1_{s}"](z.astype(np.float64)), 0, RESIDUAL_CLAMP)
        return m.layers[f"o2_{s}"](o.astype(np.float64))

    def logits(self, ids) -> torch.Tensor:
        """Integer logits (N, K): one decoding step, or all symbols at once."""
        return torch.from_numpy(self._logits(np.asarray(ids)))

    def weights(self, ids) -> np.ndarray:
        """Probability weights (N, K) as exact float64 integers, for the range coder."""
        return weights_np(self._logits(np.asarray(ids)), self.model.np_tables)

    def _logits(self, ids: np.ndarray) -> np.ndarray:
        b, t, s = self._split(ids)
        one_step = len(ids) > 0 and bool((s == s[0]).all()) and bool((t == t[0]).all())
        if one_step:
            if int(s[0]) == 0:
                self.trunk = self._trunk(self.grid.flat(b, t))
            return self._head(self.trunk, b, t, int(s[0]))
        frame_ids = np.unique(b * self.t_max + t)  # each frame once (the encoder's pass)
        trunk = self._trunk(self.grid.flat(frame_ids // self.t_max, frame_ids % self.t_max))
        frame_pos = np.empty(len(self.lengths) * self.t_max, dtype=np.int64)
        frame_pos[frame_ids] = np.arange(len(frame_ids))
        out = np.empty((len(ids), self.model.cfg.codebook_size), dtype=np.int64)
        for j in range(self.stages):
            sel = np.nonzero(s == j)[0]
            out[sel] = self._head(trunk[frame_pos[b[sel] * self.t_max + t[sel]]], b[sel], t[sel], j)
        return out

    def batch_of(self, ids) -> torch.Tensor:
        return torch.as_tensor(np.asarray(ids) // (self.stages * self.t_max))
