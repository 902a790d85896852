"""Waveform discriminators for adversarial speech training, and the GAN losses.

Two families, as in HiFi-GAN (Kong et al., 2020) and Vocos / DAC:
- multi-period (MPD): the waveform folded into (N / p, p) images for periods p = 2, 3, 5, 7, 11,
  so each sub-discriminator sees periodic structure (pitch pulses) that spectral losses blur;
- multi-resolution STFT (MRD): 2-D convolutions over the complex spectrogram (real and
  imaginary parts, power-law compressed) at three window sizes, which judges phase coherence.
Losses are least-squares GAN losses, plus feature matching (L1 between the discriminators'
hidden activations on real and generated audio). Widths are small so a CPU can train them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

Outputs = list[tuple[torch.Tensor, list[torch.Tensor]]]  # per sub-discriminator: logits, features


@dataclass
class GanConfig:
    periods: tuple[int, ...] = (2, 3, 5, 7, 11)
    resolutions: tuple[tuple[int, int], ...] = ((256, 64), (512, 128), (1024, 256))
    period_channels: tuple[int, ...] = (16, 64, 128, 128)
    stft_channels: int = 16
    adv_weight: float = 1.0  # loss weights relative to the spectral reconstruction loss (1.0)
    fm_weight: float = 2.0
    lr: float = 2e-4
    batch: int = 8  # the discriminators see this many examples of each training batch ...
    seconds: float = 0.5  # ... cropped to this length, which keeps their cost on a CPU low
    every: int = 1  # adversarial steps (discriminator update + generator GAN terms) every N steps


class PeriodDiscriminator(nn.Module):
    """(B, N) waveform -> logits (B, 1, N / p / 27, p) and the hidden feature maps."""

    def __init__(self, period: int, channels: tuple[int, ...]):
        super().__init__()
        self.period = period
        chans = (1, *channels)
        self.convs = nn.ModuleList(
            weight_norm(nn.Conv2d(a, b, (5, 1), (3, 1), padding=(2, 0)))
            for a, b in zip(chans[:-1], chans[1:]))
        self.convs.append(weight_norm(nn.Conv2d(chans[-1], chans[-1], (5, 1), padding=(2, 0))))
        self.post = weight_norm(nn.Conv2d(chans[-1], 1, (3, 1), padding=(1, 0)))

    def forward(self, x: torch.Tensor):
        pad = -x.shape[-1] % self.period
        x = F.pad(x, (0, pad), mode="reflect") if pad else x
        h = x.view(x.shape[0], 1, -1, self.period)  # (B, 1, N / p, p)
        feats = []
        for conv in self.convs:
            h = F.leaky_relu(conv(h), 0.1)
            feats.append(h)
        return self.post(h), feats


class STFTDiscriminator(nn.Module):
    """(B, N) waveform -> logits over (time, frequency) of one STFT resolution, and features."""

    def __init__(self, n_fft: int, hop: int, channels: int):
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        c = channels
        self.convs = nn.ModuleList([
            weight_norm(nn.Conv2d(2, c, (3, 9), stride=(1, 2), padding=(1, 4))),
            weight_norm(nn.Conv2d(c, c, (3, 9), stride=(1, 2), padding=(1, 4))),
            weight_norm(nn.Conv2d(c, c, (3, 9), stride=(1, 2), padding=(1, 4))),
            weight_norm(nn.Conv2d(c, c, (3, 9), stride=(1, 2), padding=(1, 4))),
            weight_norm(nn.Conv2d(c, c, (3, 3), padding=(1, 1)))])
        self.post = weight_norm(nn.Conv2d(c, 1, (3, 3), padding=(1, 1)))

    def forward(self, x: torch.Tensor):
        spec = torch.stft(x, self.n_fft, self.hop, window=self.window, return_complex=True)
        mag = spec.abs().clamp(min=1e-7)
        spec = spec * (mag ** 0.3 / mag)  # power-law compression keeps the phase
        h = torch.stack([spec.real, spec.imag], 1).transpose(2, 3)  # (B, 2, frames, bins)
        feats = []
        for conv in self.convs:
            h = F.leaky_relu(conv(h), 0.1)
            feats.append(h)
        return self.post(h), feats


class Discriminators(nn.Module):
    """All sub-discriminators; forward returns one (logits, features) pair per sub-discriminator."""

    def __init__(self, cfg: GanConfig):
        super().__init__()
        self.subs = nn.ModuleList(
            [PeriodDiscriminator(p, cfg.period_channels) for p in cfg.periods]
            + [STFTDiscriminator(n, h, cfg.stft_channels) for n, h in cfg.resolutions])

    def forward(self, x: torch.Tensor) -> Outputs:
        return [sub(x) for sub in self.subs]


def discriminator_loss(real: Outputs, fake: Outputs) -> torch.Tensor:
    """Least squares: real logits towards 1, generated towards 0; mean over sub-discriminators."""
    terms = [torch.mean((1 - r) ** 2) + torch.mean(f**2) for (r, _), (f, _) in zip(real, fake)]
    return torch.stack(terms).mean()


def generator_losses(real: Outputs, fake: Outputs) -> tuple[torch.Tensor, torch.Tensor]:
    """(adversarial, feature matching) for the generator; real features are targets only."""
    adv = torch.stack([torch.mean((1 - f) ** 2) for f, _ in fake]).mean()
    fm = [F.l1_loss(fh, rh.detach()) / rh.detach().abs().mean().clamp(min=1e-5)
          for (_, rf), (_, ff) in zip(real, fake) for rh, fh in zip(rf, ff)]
    return adv, torch.stack(fm).mean()
