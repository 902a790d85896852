"""Causal prior over a sequence of residual-VQ frames (WaveNet-style gated dilated convolutions).

Index layout (B, T, S): B independent sequences (audio chunks), T frames, S codebook stages.
The trunk sees every stage of frames < t; the head for stage s also sees stages < s of frame t.
One model serves every rate: it is trained with a random number of stages, and the trunk input
sums only the stages a stream carries.

`CausalPrior` is the float model for training; `to_integer()` freezes `IntCausalPrior`, whose
decoder evaluates one frame at a time from cached activations (no full pass per symbol).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .int_causal1d import (CENTER, FIRST_TAPS, CausalPriorConfig, IntCausalPrior, Plan1d,
                           dilated_taps)
from .intops import ACT_SCALE, GATE_IN_SCALE, LOGIT_SCALE, RESIDUAL_CLAMP, make_tables, quantize_linear
from .pixelcnn2d import float_gate
from .taps import TapConv

__all__ = ["CausalPrior", "CausalPriorConfig", "IntCausalPrior", "Plan1d"]


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
