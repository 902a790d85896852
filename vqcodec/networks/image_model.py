"""The image VQ-VAE: encoder -> residual VQ -> decoder, plus its PixelCNN prior config.

With several stages (quality levels) the quantizer trains with stage dropout (a random number
of stages per step, as SoundStream and DAC do), so that every prefix of stages decodes well.
"""

from __future__ import annotations

import torch
from torch import nn

from ..quantizers import ResidualVQ
from .config import FACTOR, ImageModelConfig
from .layers import ImageDecoder, ImageEncoder

__all__ = ["FACTOR", "ImageModelConfig", "ImageVQVAE"]


class ImageVQVAE(nn.Module):
    """Images in [-1, 1], (B, 3, H, W) with H, W multiples of 8 -> indices (B, S, H/8, W/8)."""

    def __init__(self, cfg: ImageModelConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = ImageEncoder(3, cfg.widths, cfg.latent_dim, cfg.blocks)
        self.quantizer = ResidualVQ(cfg.quantizer, cfg.stages, cfg.codebook_size, cfg.latent_dim,
                                    cfg.beta, cfg.dead_after, dropout=cfg.stages > 1)
        self.decoder = ImageDecoder(3, cfg.widths, cfg.latent_dim, cfg.blocks)

    def forward(self, x: torch.Tensor):
        """Returns (reconstruction, indices, auxiliary VQ loss, quantisation error)."""
        q, idx, loss, err = self.quantizer(self.encoder(x))
        return self.decoder(q), idx, loss, err

    @torch.no_grad()
    def encode(self, x: torch.Tensor, n_stages: int | None = None) -> torch.Tensor:
        """(B, S', h, w) indices of the first `n_stages` stages (default: all)."""
        # greedy, as the codec's image encoder: each level's codes are a prefix of the next's
        return self.quantizer.codes(self.encoder(x), n_stages or self.cfg.stages, beam=1)

    @torch.no_grad()
    def decode(self, indices: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.quantizer.decode(indices))
