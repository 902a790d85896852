"""Gated PixelCNN prior over a 2-D index map (van den Oord et al. 2016), wavefront-decodable.

Vertical stack: sees rows above (and, after the first layer, its own row's vertical features),
so it has no blind spot. Horizontal stack: sees the current row to the left plus the vertical
features at the same position. Every tap (dy, dx) satisfies 2*dy + dx <= 0, and the first
layer's taps 2*dy + dx < 0, so the distribution at (y, x) depends only on positions with a
smaller wavefront time t = 2y + x. All positions on one wavefront decode together: a 64 x 96
map takes 222 steps instead of 6144.

With residual stages (quality levels) the input is (B, H, W, S'): the trunk sums the
embeddings of the S' stages, and the head of stage s also adds embeddings of stages < s at the
position itself (as the speech prior does per frame). Trained with a random S', one model
serves every level.

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
    """Float gated PixelCNN: (B, H, W) indices -> (B, K, H, W) logits of each index, or
    (B, H, W, S') indices of the first S' stages -> (B, K, H, W, S') logits."""

    def __init__(self, cfg: PixelCNNConfig):
        super().__init__()
        self.cfg = cfg
        c, k, n, s = cfg.channels, cfg.codebook_size, cfg.layers, cfg.stages
        self.embed = nn.Embedding(k, c)  # stage 0 (the names of a one-stage prior are unchanged)
        self.embed_in = nn.ModuleList([nn.Embedding(k, c) for _ in range(s - 1)])  # stages >= 1
        self.embed_cur = nn.ModuleList([nn.Embedding(k, c) for _ in range(s - 1)])  # into heads > j
        self.v = nn.ModuleList([TapConv(c, 2 * c, V0_TAPS if i == 0 else V_TAPS) for i in range(n)])
        self.h = nn.ModuleList([TapConv(c, 2 * c, H0_TAPS if i == 0 else H_TAPS) for i in range(n)])
        self.vh = nn.ModuleList([TapConv(c, 2 * c, CENTER) for _ in range(n)])
        self.res = nn.ModuleList([TapConv(c, c, CENTER) for _ in range(n - 1)])
        self.out1 = TapConv(c, c, CENTER)
        self.out2 = TapConv(c, k, CENTER)
        self.out1_more = nn.ModuleList([TapConv(c, c, CENTER) for _ in range(s - 1)])
        self.out2_more = nn.ModuleList([TapConv(c, k, CENTER) for _ in range(s - 1)])

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        one = idx.dim() == 3
        idx = idx[..., None] if one else idx  # (B, H, W, S')
        e = self.embed(idx[..., 0])
        for s in range(1, idx.shape[-1]):
            e = e + self.embed_in[s - 1](idx[..., s])
        e = e.permute(0, 3, 1, 2)  # (B, C, H, W)
        v = float_gate(self.v[0](e))
        h = float_gate(self.h[0](e) + self.vh[0](v))
        for i in range(1, self.cfg.layers):
            v = float_gate(self.v[i](v))
            h = h + self.res[i - 1](float_gate(self.h[i](h) + self.vh[i](v)))
        out = [self.out2(F.relu(self.out1(h)))]
        for s in range(1, idx.shape[-1]):
            h = h + self.embed_cur[s - 1](idx[..., s - 1]).permute(0, 3, 1, 2)
            out.append(self.out2_more[s - 1](F.relu(self.out1_more[s - 1](h))))
        return out[0] if one else torch.stack(out, dim=-1)  # (B, K, H, W[, S'])

    def to_integer(self) -> "IntGatedPixelCNN":
        """Freeze into the exact integer network (the bitrate cost is measured by `train`)."""
        def ints(e: nn.Embedding) -> torch.Tensor:
            return torch.round(e.weight.detach().double() / ACT_SCALE).long()

        emb = ints(self.embed)
        e_in = [ints(e) for e in self.embed_in]
        e_cur = [ints(e) for e in self.embed_cur]
        act = float(1 << 12)
        emb_max = sum(float(e.abs().max()) for e in [emb] + e_in)  # the trunk input sums stages
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
        head_max = float(RESIDUAL_CLAMP)
        for s in range(1, self.cfg.stages):  # head s: the trunk plus stages < s at the position
            head_max += float(e_cur[s - 1].abs().max())
            o1, o2 = self.out1_more[s - 1], self.out2_more[s - 1]
            q[f"o1_{s}"] = quantize_linear(o1.tap_matrix(), o1.bias, ACT_SCALE, head_max)
            q[f"o2_{s}"] = quantize_linear(o2.tap_matrix(), o2.bias, LOGIT_SCALE, RESIDUAL_CLAMP)
        if self.cfg.stages == 1:
            return IntGatedPixelCNN(self.cfg, emb, q, make_tables())
        return IntGatedPixelCNN(self.cfg, emb, q, make_tables(), torch.stack(e_in),
                                torch.stack(e_cur))
