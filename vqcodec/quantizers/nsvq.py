"""NSVQ: noise substitution in vector quantisation (Vali & Backstrom, IEEE Access 2022).

In training the quantisation error q - z is replaced by a random direction scaled to the error's
norm, z + ||z - q|| * v / ||v||, v ~ N(0, I). Gradients reach the encoder (through z) and the
chosen code (through the norm) with no extra loss term. Inference is hard nearest neighbour.
Rarely used codes are replaced periodically during training (`replace_every`) until
`replace_until` steps, as in the paper's reference code.
"""

from __future__ import annotations

import torch

from .base import Quantizer, QuantizerOutput, all_sum


class NSVQuantizer(Quantizer):
    kind = "nsvq"

    def __init__(self, codebook_size: int, dim: int, replace_every: int = 200,
                 replace_until: int = 0, dead_after: int = 0):
        super().__init__(codebook_size, dim, dead_after)
        self.replace_every, self.replace_until = replace_every, replace_until
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))
        self.register_buffer("window", torch.zeros(codebook_size))

    def substitute(self, z: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        """z plus random noise with exactly the norm of the quantisation error, per vector."""
        err = (z - q).norm(dim=1, keepdim=True)
        v = torch.randn_like(z)
        return z + err * v / v.norm(dim=1, keepdim=True).clamp(min=1e-12)

    def quantize(self, z):
        idx = self.nearest(z)
        q = self.lookup(idx)
        error = (z.detach() - q.detach()).pow(2).mean()
        if not self.training:
            return QuantizerOutput(q, idx, z.new_zeros(()), error)
        self.replace_rare(z, idx)
        return QuantizerOutput(self.substitute(z, q), idx, z.new_zeros(()), error)

    @torch.no_grad()
    def replace_rare(self, z: torch.Tensor, idx: torch.Tensor) -> None:
        self.steps += 1
        self.window += all_sum(torch.bincount(idx, minlength=self.codebook_size).to(self.window.dtype))
        if self.replace_every and int(self.steps) % self.replace_every == 0:
            if not self.replace_until or int(self.steps) <= self.replace_until:
                rare = self.window < 0.03 * float(self.window.mean())
                if bool(rare.any()):
                    self.restart(rare, z)
            self.window.zero_()
