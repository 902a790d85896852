"""The quantizer interface, nearest-neighbour search and codebook health statistics."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


def distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def all_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum over ranks (in place), so that decisions taken from it agree on every rank."""
    if distributed():
        dist.all_reduce(t)
    return t


def from_rank0(t: torch.Tensor) -> torch.Tensor:
    if distributed():
        dist.broadcast(t, 0)
    return t


@dataclass
class QuantizerOutput:
    quantized: torch.Tensor  # (N, D) what the decoder sees: straight-through or noise-substituted
    indices: torch.Tensor  # (N,) hard nearest-neighbour indices
    loss: torch.Tensor  # scalar auxiliary loss (codebook / commitment), 0 where none
    error: torch.Tensor  # scalar mean squared quantisation error ||z - q||^2 / D


class Quantizer(nn.Module):
    """A codebook of K vectors of dimension D; subclasses define how it learns.

    Inputs are flat (N, D). During training `forward` also updates the usage counts used for
    perplexity, dead-code detection and restarts.
    """

    kind = "base"

    def __init__(self, codebook_size: int, dim: int, dead_after: int = 0):
        super().__init__()
        self.codebook_size, self.dim, self.dead_after = codebook_size, dim, dead_after
        self.codebook = nn.Parameter(torch.randn(codebook_size, dim) / math.sqrt(dim))
        self.register_buffer("counts", torch.zeros(codebook_size))  # usage since last reset
        self.register_buffer("idle", torch.zeros(codebook_size))  # steps since last use
        self.register_buffer("initialised", torch.tensor(False))

    def nearest(self, z: torch.Tensor) -> torch.Tensor:
        """Hard nearest codebook index for each row of z (N, D) -> (N,)."""
        cb = self.codebook.detach()
        d = (z.detach().pow(2).sum(1, keepdim=True) - 2 * z.detach() @ cb.t() + cb.pow(2).sum(1))
        return d.argmin(dim=1)

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        return self.codebook[indices]

    def quantize(self, z: torch.Tensor) -> QuantizerOutput:
        raise NotImplementedError

    def forward(self, z: torch.Tensor) -> QuantizerOutput:
        if self.training and not bool(self.initialised):
            self.kmeanspp_init(z)
        out = self.quantize(z)
        if self.training:
            self.track(out.indices, z)
        return out

    @torch.no_grad()
    def kmeanspp_init(self, z: torch.Tensor) -> None:
        """k-means++ seeding of the codebook from the first training batch."""
        pts = z.detach()[torch.randperm(len(z), device=z.device)[: 8 * self.codebook_size]]
        if len(pts) < self.codebook_size:
            pts = pts.repeat(math.ceil(self.codebook_size / len(pts)), 1)
        centres = [pts[torch.randint(len(pts), (1,)).item()]]
        dist = (pts - centres[0]).pow(2).sum(1)
        for _ in range(1, self.codebook_size):
            i = torch.multinomial(dist + 1e-12, 1).item()
            centres.append(pts[i])
            dist = torch.minimum(dist, (pts - pts[i]).pow(2).sum(1))
        self.codebook.data.copy_(torch.stack(centres))
        from_rank0(self.codebook.data)  # every rank starts from rank 0's seeding
        self.after_init()
        self.initialised.fill_(True)

    def after_init(self) -> None:
        """Hook for subclasses holding state derived from the codebook (EMA)."""

    @torch.no_grad()
    def track(self, indices: torch.Tensor, z: torch.Tensor) -> None:
        hits = all_sum(torch.bincount(indices, minlength=self.codebook_size).to(self.counts.dtype))
        self.counts += hits
        self.idle = torch.where(hits > 0, torch.zeros_like(self.idle), self.idle + 1)
        if self.dead_after and bool((self.idle >= self.dead_after).any()):
            self.restart(self.idle >= self.dead_after, z)

    @torch.no_grad()
    def restart(self, dead: torch.Tensor, z: torch.Tensor) -> int:
        """Move dead codes onto randomly chosen current encoder outputs; returns how many."""
        n = int(dead.sum())
        picks = z.detach()[torch.randint(len(z), (n,), device=z.device)]
        self.codebook.data[dead] = (picks + 1e-3 * torch.randn_like(picks) * picks.std()).to(self.codebook.dtype)
        from_rank0(self.codebook.data)
        self.idle[dead] = 0
        self.after_restart(dead)
        return n

    def after_restart(self, dead: torch.Tensor) -> None:
        """Hook for subclasses holding per-code state (EMA)."""

    def health(self) -> dict[str, float]:
        """Usage statistics since the last `reset_stats`: perplexity, used and dead codes."""
        total = float(self.counts.sum())
        p = self.counts / max(total, 1.0)
        entropy = float(-(p[p > 0] * p[p > 0].log()).sum())
        return {"perplexity": math.exp(entropy), "used": int((self.counts > 0).sum()),
                "dead": int((self.counts == 0).sum()), "size": self.codebook_size}

    def reset_stats(self) -> None:
        self.counts.zero_()
