"""The image VQ-VAE forward in numpy: pixels -> indices and indices -> pixels."""

from __future__ import annotations

import numpy as np

from . import vq
from ..networks import arch
from .nets import Params, sequential

FACTOR = 8  # pixels per index along each axis


class ImageNet:
    """An image model's encoder, codebook and decoder from its config and float32 weights."""

    def __init__(self, cfg, params: Params):
        self.p = params
        self.enc = arch.image_encoder(3, cfg.widths, cfg.latent_dim, cfg.blocks)
        self.dec = arch.image_decoder(3, cfg.widths, cfg.latent_dim, cfg.blocks)
        self.codebooks = [params["quantizer.stages.0.codebook"]]

    def encode(self, x: np.ndarray) -> np.ndarray:
        """(H, W, 3) in [-1, 1], H and W multiples of 8 -> (h, w) indices."""
        z = sequential(self.enc, self.p, "encoder.net", x)  # (h, w, D)
        return vq.encode(np.moveaxis(z, -1, 0), self.codebooks, 1)[0]

    def decode(self, idx: np.ndarray) -> np.ndarray:
        """(h, w) indices -> (8h, 8w, 3) in roughly [-1, 1]."""
        z = np.moveaxis(vq.decode(idx[None], self.codebooks), 0, -1)  # (h, w, D)
        return sequential(self.dec, self.p, "decoder.net", np.ascontiguousarray(z))


def to_input(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (H', W', 3) in [-1, 1], edge-padded to multiples of FACTOR."""
    h, w, _ = rgb.shape
    x = rgb.astype(np.float32) / np.float32(127.5) - np.float32(1.0)
    return np.pad(x, ((0, -h % FACTOR), (0, -w % FACTOR), (0, 0)), mode="edge")


def to_pixels(x: np.ndarray, height: int, width: int) -> np.ndarray:
    """(H', W', 3) -> (height, width, 3) uint8."""
    x = np.clip(x[:height, :width], -1, 1)
    return np.round((x + np.float32(1.0)) * np.float32(127.5)).astype(np.uint8)
