"""Residual VQ: stage s quantises what stages < s left over (SoundStream, Zeghidour et al. 2021).

One stage is plain VQ (images); several give one model many rates (speech): a stream may carry
only the first few stages. `dropout` trains with a random number of stages so each prefix works.
"""

from __future__ import annotations

import random

import numpy as np
import torch
from torch import nn

from ..runtime import vq
from .base import Quantizer
from .ema import EMAQuantizer
from .nsvq import NSVQuantizer
from .ste import STEQuantizer

KINDS = {"ste": STEQuantizer, "ema": EMAQuantizer, "nsvq": NSVQuantizer}


def make_quantizer(kind: str, codebook_size: int, dim: int, beta: float = 0.25,
                   dead_after: int = 0, replace_until: int = 0) -> Quantizer:
    if kind not in KINDS:
        raise ValueError(f"unknown quantizer {kind!r} (choose from {', '.join(KINDS)})")
    if kind == "nsvq":
        return NSVQuantizer(codebook_size, dim, dead_after=dead_after, replace_until=replace_until)
    return KINDS[kind](codebook_size, dim, beta=beta, dead_after=dead_after)


class ResidualVQ(nn.Module):
    """Stacked quantisers over (B, D, *spatial) tensors; indices come out as (B, S, *spatial)."""

    def __init__(self, kind: str, stages: int, codebook_size: int, dim: int, beta: float = 0.25,
                 dead_after: int = 0, dropout: bool = False, replace_until: int = 0):
        super().__init__()
        self.stages = nn.ModuleList([make_quantizer(kind, codebook_size, dim, beta, dead_after,
                                                    replace_until) for _ in range(stages)])
        self.dropout = dropout

    def forward(self, z: torch.Tensor, n_stages: int | None = None):
        """Returns (quantized like z, indices (B, S', *spatial), aux loss, mean quant error)."""
        n = n_stages or len(self.stages)
        if self.training and self.dropout and n_stages is None:
            n = random.randint(1, len(self.stages))
        with torch.autocast(z.device.type, enabled=False):  # nearest neighbours in float32
            return self._forward(z.float(), n)

    def _forward(self, z: torch.Tensor, n: int):
        flat = z.movedim(1, -1).reshape(-1, z.shape[1])  # (N, D)
        residual, total = flat, torch.zeros_like(flat)
        indices, loss, error = [], flat.new_zeros(()), flat.new_zeros(())
        for q in self.stages[:n]:
            out = q(residual)
            total = total + out.quantized
            residual = residual - q.lookup(out.indices).detach()
            indices.append(out.indices)
            loss, error = loss + out.loss, out.error
        shape = z.movedim(1, -1).shape
        quantized = total.reshape(shape).movedim(-1, 1)
        idx = torch.stack(indices, dim=1).reshape(shape[0], *shape[1:-1], n)  # (B, *sp, S')
        return quantized, idx.movedim(-1, 1), loss, error

    @torch.no_grad()
    def codes(self, z: torch.Tensor, n: int, beam: int | None = None) -> torch.Tensor:
        """(B, D, *spatial) latents -> (B, n, *spatial) indices as the codec's encoder picks the
        nearest codes (`runtime.vq.encode`, a beam search over the stages; `beam` 1 is greedy),
        for prior examples and evaluation; a speech model's rate weight makes the codec choose
        otherwise (codec.speech.coded_symbols). Training's forward pass quantizes greedily."""
        books = [q.codebook.detach().float().cpu().numpy() for q in self.stages[:n]]
        idx = vq.encode(np.moveaxis(z.detach().float().cpu().numpy(), 1, 0), books, n, beam)
        return torch.from_numpy(np.moveaxis(idx, 0, 1)).to(z.device)

    def decode(self, indices: torch.Tensor) -> torch.Tensor:
        """(B, S', *spatial) indices -> (B, D, *spatial) sum of the chosen codes."""
        total = sum(q.lookup(indices[:, i]) for i, q in enumerate(self.stages[: indices.shape[1]]))
        return total.movedim(-1, 1)

    def health(self) -> list[dict[str, float]]:
        return [q.health() for q in self.stages]

    def reset_stats(self) -> None:
        for q in self.stages:
            q.reset_stats()
