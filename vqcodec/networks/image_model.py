"""The image VQ-VAE: encoder -> (single-stage) VQ -> decoder, plus its PixelCNN prior config."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from .layers import ImageDecoder, ImageEncoder
from ..prior import PixelCNNConfig
from ..quantizers import ResidualVQ

FACTOR = 8  # pixels per index along each axis


@dataclass
class ImageModelConfig:
    widths: tuple[int, int, int, int] = (32, 64, 128, 128)
    latent_dim: int = 64
    codebook_size: int = 1024
    blocks: int = 2
    quantizer: str = "ema"
    beta: float = 0.25
    dead_after: int = 200
    prior: PixelCNNConfig = field(default_factory=lambda: PixelCNNConfig(1024, 64, 5))

    def __post_init__(self):
        if isinstance(self.prior, dict):
            self.prior = PixelCNNConfig(**self.prior)
        self.widths = tuple(self.widths)
        self.prior.codebook_size = self.codebook_size


class ImageVQVAE(nn.Module):
    """Images in [-1, 1], (B, 3, H, W) with H, W multiples of 8 -> indices (B, 1, H/8, W/8)."""

    def __init__(self, cfg: ImageModelConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = ImageEncoder(3, cfg.widths, cfg.latent_dim, cfg.blocks)
        self.quantizer = ResidualVQ(cfg.quantizer, 1, cfg.codebook_size, cfg.latent_dim,
                                    cfg.beta, cfg.dead_after)
        self.decoder = ImageDecoder(3, cfg.widths, cfg.latent_dim, cfg.blocks)

    def forward(self, x: torch.Tensor):
        """Returns (reconstruction, indices, auxiliary VQ loss, quantisation error)."""
        q, idx, loss, err = self.quantizer(self.encoder(x))
        return self.decoder(q), idx, loss, err

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.quantizer(self.encoder(x))[1]

    @torch.no_grad()
    def decode(self, indices: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.quantizer.decode(indices))
