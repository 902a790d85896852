"""Images: 2-D VQ-VAE, gated PixelCNN prior, one record per stream."""

from __future__ import annotations

from ..codec.params import ImageParams
from .base import Kind


class ImageKind(Kind):
    name, code, params, article = "image", 0, ImageParams, "an"
    quality_name = "val_psnr"

    def config(self, overrides: dict):
        from ..networks.config import ImageModelConfig

        return ImageModelConfig(**overrides)

    def runtime(self, cfg, params: dict):
        from ..runtime.image import ImageNet

        return ImageNet(cfg, params)

    def network(self, cfg):
        from ..networks.image_model import ImageVQVAE

        return ImageVQVAE(cfg)

    def float_prior(self, cfg):
        from ..prior import GatedPixelCNN

        return GatedPixelCNN(cfg.prior)

    def int_prior(self, cfg, tensors: dict):
        from ..prior import IntGatedPixelCNN

        return IntGatedPixelCNN.from_state(cfg.prior, tensors)

    def prior_loss(self, logits, x, reduction: str = "mean"):
        import torch.nn.functional as F

        return F.cross_entropy(logits, x, reduction=reduction)  # logits (B, K, h, w), x (B, h, w)

    def plan(self, int_prior, shape):
        return int_prior.plan(tuple(shape))  # (N, h, w)

    def grid_shape(self, cfg, n: int, size: int):
        from ..networks.config import FACTOR

        return (n, size // FACTOR, size // FACTOR)

    def data(self, source, size: float, seed: int, cfg=None, rank: int = 0, world: int = 1):
        from ..train.data import ImageCrops

        return ImageCrops(source, int(size), seed, rank, world)  # batches (n, 3, size, size)

    def latents(self, net, x):
        return net.encoder(x)

    def synthesize(self, net, q, x):
        return net.decoder(q)

    def reconstruction_loss(self, y, x, stft=None):
        import torch.nn.functional as F

        return F.mse_loss(y, x)  # on [-1, 1] pixels

    def quality(self, y, x, rec: float) -> float:
        import torch
        import torch.nn.functional as F

        mse = F.mse_loss((y.clamp(-1, 1) + 1) * 127.5, (x + 1) * 127.5)
        return float(10 * torch.log10(255.0**2 / mse))

    def stage_indices(self, idx, stage: int):
        return idx  # (B, h, w): one stage

    def example_size(self, opts) -> float:
        return opts.crop

    def encode(self, net, x, cfg):
        return net.encode(x)  # (B, 1, h, w)

    def prior_examples(self, net, data, opts, cfg, device) -> list:
        import math

        import torch

        from ..networks.config import FACTOR

        size = min(opts.prior_crop, data.examples.min_side)
        size = size // FACTOR * FACTOR
        out = []
        for _ in range(math.ceil(opts.prior_examples / 32)):
            with torch.no_grad():
                out.append(net.encode(data.batch(32, size).to(device))[:, 0].cpu())  # (B, h, w)
        return out


IMAGE = ImageKind()
