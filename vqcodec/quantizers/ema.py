"""EMA codebook (VQ-VAE paper, appendix A.1): codes are moving averages of their assignments.

No codebook loss: each code tracks the exponential moving average of the vectors assigned to it
(decay, with Laplace smoothing of the counts). The commitment loss beta * ||z - sg[q]||^2 is kept.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import Quantizer, QuantizerOutput


class EMAQuantizer(Quantizer):
    kind = "ema"

    def __init__(self, codebook_size: int, dim: int, beta: float = 0.25, decay: float = 0.99,
                 eps: float = 1e-5, dead_after: int = 0):
        super().__init__(codebook_size, dim, dead_after)
        self.beta, self.decay, self.eps = beta, decay, eps
        self.codebook.requires_grad_(False)
        self.register_buffer("ema_count", torch.ones(codebook_size))
        self.register_buffer("ema_sum", self.codebook.data.clone())

    def after_init(self):
        self.ema_sum.copy_(self.codebook.data)
        self.ema_count.fill_(1.0)

    def after_restart(self, dead):
        self.ema_sum[dead] = self.codebook.data[dead]
        self.ema_count[dead] = 1.0

    def quantize(self, z):
        idx = self.nearest(z)
        if self.training:
            self.ema_update(z.detach(), idx)
        q = self.lookup(idx)
        commit = F.mse_loss(z, q.detach())
        return QuantizerOutput(z + (q - z).detach(), idx, self.beta * commit, commit.detach())

    @torch.no_grad()
    def ema_update(self, z: torch.Tensor, idx: torch.Tensor) -> None:
        onehot = F.one_hot(idx, self.codebook_size).to(z.dtype)  # (N, K)
        count, total = onehot.sum(0), onehot.t() @ z
        self.sync(count, total)
        self.ema_count.mul_(self.decay).add_(count, alpha=1 - self.decay)
        self.ema_sum.mul_(self.decay).add_(total, alpha=1 - self.decay)
        n = self.ema_count.sum()
        smoothed = (self.ema_count + self.eps) / (n + self.codebook_size * self.eps) * n
        self.codebook.data.copy_(self.ema_sum / smoothed[:, None])

    def sync(self, count: torch.Tensor, total: torch.Tensor) -> None:
        """Sum the batch statistics over distributed ranks, so every rank's codebook agrees."""
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(count)
            dist.all_reduce(total)
