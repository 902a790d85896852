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

import torch
import torch.nn.functional as F
from torch import nn

from .int_pixelcnn2d import (CENTER, H0_TAPS, H_TAPS, V0_TAPS, V_TAPS, IntGatedPixelCNN,
                             PixelCNNConfig, Plan2d)
from .intops import ACT_SCALE, GATE_IN_SCALE, LOGIT_SCALE, RESIDUAL_CLAMP, make_tables, quantize_linear
from .taps import TapConv

__all__ = ["GatedPixelCNN", "IntGatedPixelCNN", "PixelCNNConfig", "Plan2d", "float_gate"]


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
