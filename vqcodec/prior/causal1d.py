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

import torch
import torch.nn.functional as F
from torch import nn

from .intops import (ACT_SCALE, GATE_IN_SCALE, LOGIT_SCALE, RESIDUAL_CLAMP, QLayer, gate, load_network,
                     make_tables, network_state, quantize_linear)
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
    """Coding state for B sequences of given lengths with `stages` stages each."""

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
        self.symbols = torch.zeros(len(lengths), self.t_max, stages, dtype=torch.long)
        self.trunk: torch.Tensor | None = None  # (B', C) trunk output at the frame in progress

    def steps(self) -> list[torch.Tensor]:
        """Symbol ids (flat into (B, T, S)) of each step: frame-major, then stage."""
        lengths = torch.tensor(self.lengths)
        out = []
        for t in range(self.t_max):
            b = torch.nonzero(lengths > t).flatten()
            for s in range(self.stages):
                out.append((b * self.t_max + t) * self.stages + s)
        return out

    def _split(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return (ids // (self.stages * self.t_max), (ids // self.stages) % self.t_max,
                ids % self.stages)

    def commit(self, ids: torch.Tensor, symbols: torch.Tensor) -> None:
        b, t, s = self._split(ids)
        symbols = symbols.long()
        self.symbols[b, t, s] = symbols
        emb = self.model.embed_in[s, symbols]  # (N, C)
        self.cache["e"].index_add_(0, self.grid.flat(b, t), emb.double())

    def _trunk(self, rows: torch.Tensor) -> torch.Tensor:
        m, g, c = self.model, self.grid, self.cache
        h = gate(m.layers["first"](g.gather(c["e"], rows, self.off["first"])), m.tables)
        for i in range(len(m.cfg.dilations)):
            c[f"h{i}"][rows] = h.double()
            g_out = gate(m.layers[f"c{i}"](g.gather(c[f"h{i}"], rows, self.off[f"c{i}"])),
                         m.tables)
            h = torch.clamp(h + m.layers[f"r{i}"](g_out.double()), -RESIDUAL_CLAMP,
                            RESIDUAL_CLAMP)
        return h

    def _head(self, trunk: torch.Tensor, b: torch.Tensor, t: torch.Tensor, s: int) -> torch.Tensor:
        m = self.model
        z = trunk
        for j in range(s):
            z = z + m.embed_cur[j][self.symbols[b, t, j]]
        o = torch.clamp(m.layers[f"o1_{s}"](z.double()), 0, RESIDUAL_CLAMP)
        return m.layers[f"o2_{s}"](o.double())

    def logits(self, ids: torch.Tensor) -> torch.Tensor:
        """Integer logits (N, K) for symbols `ids`: one decoding step, or all symbols at once."""
        b, t, s = self._split(ids)
        one_step = len(ids) > 0 and bool((s == s[0]).all()) and bool((t == t[0]).all())
        if one_step:
            if int(s[0]) == 0:
                self.trunk = self._trunk(self.grid.flat(b, t))
            return self._head(self.trunk, b, t, int(s[0]))
        frame_ids = torch.unique(b * self.t_max + t)  # each frame once (the encoder's pass)
        fb, ft = frame_ids // self.t_max, frame_ids % self.t_max
        trunk = self._trunk(self.grid.flat(fb, ft))
        frame_pos = torch.empty(len(self.lengths) * self.t_max, dtype=torch.long)
        frame_pos[frame_ids] = torch.arange(len(frame_ids))
        out = torch.empty(len(ids), self.model.cfg.codebook_size, dtype=torch.int64)
        for j in range(self.stages):
            sel = torch.nonzero(s == j).flatten()
            out[sel] = self._head(trunk[frame_pos[b[sel] * self.t_max + t[sel]]], b[sel], t[sel], j)
        return out

    def batch_of(self, ids: torch.Tensor) -> torch.Tensor:
        return ids // (self.stages * self.t_max)
