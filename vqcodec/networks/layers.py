"""Encoder and decoder building blocks: 2-D convolutional stacks for images, 1-D for speech."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ResBlock2d(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(c, c, 3, padding=1), nn.Conv2d(c, c, 1)

    def forward(self, x):
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


class ImageEncoder(nn.Module):
    """(B, 3, H, W) in [-1, 1] -> (B, D, H/8, W/8): three stride-2 stages, widths `widths`."""

    def __init__(self, in_ch: int, widths: tuple[int, int, int, int], dim: int, blocks: int = 2):
        super().__init__()
        c0, c1, c2, c3 = widths
        self.net = nn.Sequential(
            nn.Conv2d(in_ch, c0, 3, padding=1), nn.ReLU(),
            nn.Conv2d(c0, c1, 4, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(c1, c2, 4, stride=2, padding=1), ResBlock2d(c2),
            nn.Conv2d(c2, c3, 4, stride=2, padding=1),
            *[ResBlock2d(c3) for _ in range(blocks)], nn.ReLU(),
            nn.Conv2d(c3, dim, 1))

    def forward(self, x):
        return self.net(x)


class ImageDecoder(nn.Module):
    """(B, D, h, w) -> (B, 3, 8h, 8w) in roughly [-1, 1]; the encoder's mirror image."""

    def __init__(self, out_ch: int, widths: tuple[int, int, int, int], dim: int, blocks: int = 2):
        super().__init__()
        c0, c1, c2, c3 = widths
        self.net = nn.Sequential(
            nn.Conv2d(dim, c3, 3, padding=1), *[ResBlock2d(c3) for _ in range(blocks)], nn.ReLU(),
            nn.ConvTranspose2d(c3, c2, 4, stride=2, padding=1), ResBlock2d(c2), nn.ReLU(),
            nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(c1, c0, 4, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(c0, out_ch, 3, padding=1))

    def forward(self, x):
        return self.net(x)


class ResBlock1d(nn.Module):
    def __init__(self, c: int, dilation: int = 1):
        super().__init__()
        self.conv1 = nn.Conv1d(c, c, 3, padding=dilation, dilation=dilation)
        self.conv2 = nn.Conv1d(c, c, 1)

    def forward(self, x):
        return x + self.conv2(F.gelu(self.conv1(F.gelu(x))))


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


class SpeechEncoder(nn.Module):
    """(B, n_mels, 2T) log-mel frames at 100 Hz -> (B, D, T) latents at 50 Hz."""

    def __init__(self, n_mels: int, width: int, dim: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv1d(n_mels, width, 3, padding=1), ResBlock1d(width, 1), ResBlock1d(width, 3),
            nn.Conv1d(width, width, 4, stride=2, padding=1),
            ResBlock1d(width, 1), ResBlock1d(width, 3), nn.GELU(), nn.Conv1d(width, dim, 1))

    def forward(self, x):
        return self.net(x)


class SpeechDecoder(nn.Module):
    """(B, D, T) latents -> (B, 2 * bins, 2T + 1) log-magnitude and phase for an inverse STFT."""

    def __init__(self, dim: int, width: int, bins: int, blocks: int = 6):
        super().__init__()
        self.pre = nn.Sequential(nn.Conv1d(dim, width, 3, padding=1), ResBlock1d(width, 1),
                                 ResBlock1d(width, 3))
        self.up = nn.ConvTranspose1d(width, width, 4, stride=2, padding=1)
        self.blocks = nn.Sequential(*[ConvNeXt1d(width, 3 * width) for _ in range(blocks)])
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, 2 * bins)

    def forward(self, z):
        x = self.blocks(self.up(self.pre(z)))
        x = F.pad(x, (0, 1), mode="replicate")  # 2T + 1 frames: istft(center) gives 2T hops
        return self.head(self.norm(x.transpose(1, 2))).transpose(1, 2)
