"""Speech: 1-D VQ-VAE with residual stages, causal prior over time, one record per chunk."""

from __future__ import annotations

from ..codec.params import AudioParams
from .base import Kind


class SpeechKind(Kind):
    name, code, params = "speech", 1, AudioParams
    quality_name = "val_loss"

    def config(self, overrides: dict):
        from ..networks.config import SpeechModelConfig

        return SpeechModelConfig(**overrides)

    def runtime(self, cfg, params: dict):
        from ..runtime.speech import SpeechNet

        return SpeechNet(cfg, params)

    def network(self, cfg):
        from ..networks.speech_model import SpeechVQVAE

        return SpeechVQVAE(cfg)

    def float_prior(self, cfg):
        from ..prior import CausalPrior

        return CausalPrior(cfg.prior)

    def int_prior(self, cfg, tensors: dict):
        from ..prior import IntCausalPrior

        return IntCausalPrior.from_state(cfg.prior, tensors)

    def prior_loss(self, logits, x, reduction: str = "mean"):
        import torch.nn.functional as F

        # logits (B, S, K, T), x (B, T, S)
        return F.cross_entropy(logits.permute(0, 1, 3, 2).reshape(-1, logits.shape[2]),
                               x.permute(0, 2, 1).reshape(-1), reduction=reduction)

    def plan(self, int_prior, shape):
        n, t, s = shape  # (N, T, S)
        return int_prior.plan([t] * n, s)

    def grid_shape(self, cfg, n: int, size: int):
        return (n, size, cfg.default_stages)

    def data(self, source, size: float, seed: int, cfg=None, rank: int = 0, world: int = 1):
        from ..train.data import SpeechSegments

        rate = cfg.sample_rate if cfg else 16000
        return SpeechSegments(source, rate, size, seed, rank, world)  # (n, samples)

    def latents(self, net, x):
        return net.encoder(net.features(x))

    def synthesize(self, net, q, x):
        return net.synthesize(q, x.shape[-1])

    def reconstruction_loss(self, y, x, stft=None):
        return stft(y, x)  # multi-resolution STFT

    def quality(self, y, x, rec: float) -> float:
        return rec  # the multi-resolution STFT loss, lower is better

    def stages_of(self, cfg) -> int:
        return cfg.stages

    def stage_indices(self, idx, stage: int):
        return idx[..., stage]  # (B, T, S) -> (B, T)

    def example_size(self, opts) -> float:
        return opts.seconds

    def training_loss(self, cfg):
        from ..train.losses import MultiResolutionSTFTLoss

        return MultiResolutionSTFTLoss(cfg.sample_rate)

    def encode(self, net, x, cfg):
        return net.encode(x, cfg.stages)  # (B, S, T)

    def prior_examples(self, net, data, opts, cfg, device) -> list:
        import math

        import torch

        length = int(opts.prior_seconds * data.rate) // cfg.frame * cfg.frame
        out = []
        for _ in range(math.ceil(opts.prior_examples / 16)):
            with torch.no_grad():
                idx = net.encode(data.batch(16, length).to(device), cfg.stages)
            out.append(idx.transpose(1, 2).cpu())  # (B, T, S)
        return out

    def prior_crop(self, x):
        import random

        return x[..., : random.randint(1, x.shape[-1])]  # (B, T, S): any prefix of the stages


SPEECH = SpeechKind()
