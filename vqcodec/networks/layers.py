"""Encoder and decoder building blocks in torch: 2-D convolutional stacks for images, 1-D for
speech, built from the layer lists in `arch` (which the numpy runtime runs too)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import arch


class ResBlock(nn.Module):
    """x + conv2(act(conv1(act(x)))), conv1 3-wide (dilated), conv2 1-wide; 1-D or 2-D."""

    def __init__(self, c: int, ndim: int, act: str, dilation: int = 1):
        super().__init__()
        conv = nn.Conv2d if ndim == 2 else nn.Conv1d
        self.conv1 = conv(c, c, 3, padding=dilation, dilation=dilation)
        self.conv2 = conv(c, c, 1)
        self.act = F.relu if act == "relu" else F.gelu

    def forward(self, x):
        return x + self.conv2(self.act(self.conv1(self.act(x))))


class ConvNeXt1d(nn.Module):
    """ConvNeXt block as in Vocos: depthwise conv, LayerNorm, pointwise MLP, residual."""

    def __init__(self, c: int, hidden: int, kernel: int = 7):
        super().__init__()
        self.dw = nn.Conv1d(c, c, kernel, padding=kernel // 2, groups=c)
        self.norm = nn.LayerNorm(c)
        self.pw1, self.pw2 = nn.Linear(c, hidden), nn.Linear(hidden, c)
        self.gamma = nn.Parameter(torch.full((c,), 0.1))

    def forward(self, x):  # (B, C, T)
        y = self.norm(self.dw(x).transpose(1, 2))
        y = self.pw2(F.gelu(self.pw1(y))) * self.gamma
        return x + y.transpose(1, 2)


def module(spec: arch.Layer, ndim: int) -> nn.Module:
    """The torch module for one entry of a layer list."""
    if isinstance(spec, arch.Conv):
        if spec.transpose:
            cls = nn.ConvTranspose2d if ndim == 2 else nn.ConvTranspose1d
            return cls(spec.c_in, spec.c_out, spec.kernel, stride=spec.stride, padding=spec.padding)
        cls = nn.Conv2d if ndim == 2 else nn.Conv1d
        return cls(spec.c_in, spec.c_out, spec.kernel, stride=spec.stride, padding=spec.padding,
                   dilation=spec.dilation, groups=spec.groups)
    if isinstance(spec, arch.Act):
        return nn.ReLU() if spec.name == "relu" else nn.GELU()
    if isinstance(spec, arch.Res):
        return ResBlock(spec.c, ndim, spec.act, spec.dilation)
    if isinstance(spec, arch.ConvNeXt):
        return ConvNeXt1d(spec.c, spec.hidden, spec.kernel)
    raise TypeError(f"unknown layer {spec!r}")


def sequential(specs: list[arch.Layer], ndim: int) -> nn.Sequential:
    return nn.Sequential(*[module(s, ndim) for s in specs])


class ImageEncoder(nn.Module):
    """(B, 3, H, W) in [-1, 1] -> (B, D, H/8, W/8): three stride-2 stages, widths `widths`."""

    def __init__(self, in_ch: int, widths: tuple[int, int, int, int], dim: int, blocks: int = 2):
        super().__init__()
        self.net = sequential(arch.image_encoder(in_ch, widths, dim, blocks), 2)

    def forward(self, x):
        return self.net(x)


class ImageDecoder(nn.Module):
    """(B, D, h, w) -> (B, 3, 8h, 8w) in roughly [-1, 1]; the encoder's mirror image."""

    def __init__(self, out_ch: int, widths: tuple[int, int, int, int], dim: int, blocks: int = 2):
        super().__init__()
        self.net = sequential(arch.image_decoder(out_ch, widths, dim, blocks), 2)

    def forward(self, x):
        return self.net(x)


class SpeechEncoder(nn.Module):
    """(B, n_mels, 2T) log-mel frames at 100 Hz -> (B, D, T) latents at 50 Hz."""

    def __init__(self, n_mels: int, width: int, dim: int):
        super().__init__()
        self.net = sequential(arch.speech_encoder(n_mels, width, dim), 1)

    def forward(self, x):
        return self.net(x)


class SpeechDecoder(nn.Module):
    """(B, D, T) latents -> (B, 2 * bins, 2T + 1) log-magnitude and phase for an inverse STFT."""

    def __init__(self, dim: int, width: int, bins: int, blocks: int = 6):
        super().__init__()
        self.pre = sequential(arch.speech_decoder_pre(dim, width), 1)
        self.up = module(arch.speech_decoder_up(width), 1)
        self.blocks = sequential(arch.speech_decoder_blocks(width, blocks), 1)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, 2 * bins)

    def forward(self, z):
        x = self.blocks(self.up(self.pre(z)))
        x = F.pad(x, (0, 1), mode="replicate")  # 2T + 1 frames: istft(center) gives 2T hops
        return self.head(self.norm(x.transpose(1, 2))).transpose(1, 2)
