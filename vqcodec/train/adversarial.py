"""The adversarial part of speech training: discriminators, their optimiser and the GAN step.

Each adversarial step (every `GanConfig.every` autoencoder steps) updates the discriminators on a
crop of real and generated audio, then returns the generator's weighted adversarial and
feature-matching loss on the same crop, to be added to the reconstruction loss.
"""

from __future__ import annotations

from typing import Callable, ContextManager

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel as DDP

from ..networks.discriminators import (Discriminators, GanConfig, discriminator_loss,
                                       generator_losses)


class Adversary:
    def __init__(self, cfg: GanConfig, rate: int, device: torch.device, distributed: bool):
        self.cfg, self.rate = cfg, rate
        self.disc = Discriminators(cfg).to(device)
        ids = [device.index] if device.type == "cuda" else None
        self.train_disc = DDP(self.disc, device_ids=ids) if distributed else self.disc
        self.opt = torch.optim.Adam(self.disc.parameters(), lr=cfg.lr, betas=(0.8, 0.99))

    def active(self, step: int) -> bool:
        return (step + 1) % self.cfg.every == 0

    def crop(self, x: torch.Tensor, y: torch.Tensor, rng: np.random.Generator):
        """The same random crop of the first `cfg.batch` real (B, N) and generated examples."""
        n = min(x.shape[-1], int(self.cfg.seconds * self.rate))
        a = int(rng.integers(x.shape[-1] - n + 1))
        return x[: self.cfg.batch, a: a + n], y[: self.cfg.batch, a: a + n]

    def step(self, x: torch.Tensor, y: torch.Tensor, rng: np.random.Generator,
             autocast: Callable[[], ContextManager], scaler: torch.amp.GradScaler):
        """Update the discriminators; returns (generator loss term, stats) for real x, output y."""
        xc, yc = self.crop(x, y, rng)
        self.disc.train()
        with autocast():
            d_loss = discriminator_loss(self.train_disc(xc), self.train_disc(yc.detach())).float()
        self.opt.zero_grad(set_to_none=True)
        scaler.scale(d_loss).backward()
        scaler.unscale_(self.opt)
        torch.nn.utils.clip_grad_norm_(self.disc.parameters(), 10.0)
        scaler.step(self.opt)
        with autocast():
            with torch.no_grad():
                real = self.train_disc(xc)  # targets for feature matching only
            adv, fm = generator_losses(real, self.train_disc(yc))
        term = self.cfg.adv_weight * adv.float() + self.cfg.fm_weight * fm.float()
        return term, {"disc": float(d_loss.detach()), "adv": float(adv.detach()),
                      "fm": float(fm.detach())}

    def state_dict(self) -> dict:
        return {"disc": self.disc.state_dict(), "disc_opt": self.opt.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.disc.load_state_dict(state["disc"])
        self.opt.load_state_dict(state["disc_opt"])
