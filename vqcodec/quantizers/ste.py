"""Straight-through VQ (van den Oord et al. 2017, "Neural Discrete Representation Learning").

Loss = ||sg[z] - q||^2 (moves the codebook) + beta * ||z - sg[q]||^2 (commits the encoder);
the decoder's gradient is copied through the quantiser unchanged.
"""

from __future__ import annotations

import torch.nn.functional as F

from .base import Quantizer, QuantizerOutput


class STEQuantizer(Quantizer):
    kind = "ste"

    def __init__(self, codebook_size: int, dim: int, beta: float = 0.25, dead_after: int = 0):
        super().__init__(codebook_size, dim, dead_after)
        self.beta = beta

    def quantize(self, z):
        idx = self.nearest(z)
        q = self.lookup(idx)
        codebook_loss = F.mse_loss(q, z.detach())
        commit = F.mse_loss(z, q.detach())
        return QuantizerOutput(z + (q - z).detach(), idx, codebook_loss + self.beta * commit,
                               commit.detach())
