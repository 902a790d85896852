"""Training losses: multi-resolution STFT and mel distances for speech, MSE for images."""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchaudio
from torch import nn


class MultiResolutionSTFTLoss(nn.Module):
    """Spectral convergence + log-magnitude L1 at several resolutions, plus a log-mel L1."""

    def __init__(self, sample_rate: int, resolutions=((256, 64), (512, 128), (1024, 256), (2048, 512))):
        super().__init__()
        self.resolutions = resolutions
        for n_fft, _ in resolutions:
            self.register_buffer(f"win{n_fft}", torch.hann_window(n_fft), persistent=False)
        self.mel = torchaudio.transforms.MelSpectrogram(sample_rate, n_fft=1024, hop_length=160,
                                                        n_mels=80, power=1.0)

    def forward(self, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        loss = y.new_zeros(())
        for n_fft, hop in self.resolutions:
            w = getattr(self, f"win{n_fft}")
            sy = torch.stft(y, n_fft, hop, window=w, return_complex=True).abs()
            sx = torch.stft(x, n_fft, hop, window=w, return_complex=True).abs()
            sc = torch.linalg.norm(sx - sy) / torch.linalg.norm(sx).clamp(min=1e-5)
            loss = loss + sc + F.l1_loss(torch.log(sy + 1e-5), torch.log(sx + 1e-5))
        loss = loss / len(self.resolutions)
        mel = F.l1_loss(torch.log(self.mel(y) + 1e-5), torch.log(self.mel(x) + 1e-5))
        return loss + mel
