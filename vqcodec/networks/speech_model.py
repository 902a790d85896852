"""The speech VQ-VAE: log-mel -> 1-D encoder -> residual VQ -> Vocos-style decoder -> iSTFT.

Works at 16 kHz mono with 20 ms frames (50 Hz latents). The decoder predicts STFT log-magnitude
and phase at 100 Hz and an inverse STFT makes the waveform, which is far cheaper on a CPU than
transposed convolutions at the sample rate.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchaudio
from torch import nn

from ..quantizers import ResidualVQ
from .config import SpeechModelConfig
from .layers import SpeechDecoder, SpeechEncoder

__all__ = ["SpeechModelConfig", "SpeechVQVAE"]


class SpeechVQVAE(nn.Module):
    """Waveforms (B, N) with N a multiple of `frame` -> indices (B, S, N / frame)."""

    def __init__(self, cfg: SpeechModelConfig):
        super().__init__()
        self.cfg = cfg
        self.mel = torchaudio.transforms.MelSpectrogram(
            cfg.sample_rate, n_fft=cfg.n_fft, hop_length=cfg.hop, n_mels=cfg.n_mels,
            center=False, power=1.0)
        self.encoder = SpeechEncoder(cfg.n_mels, cfg.width, cfg.latent_dim)
        self.quantizer = ResidualVQ(cfg.quantizer, cfg.stages, cfg.codebook_size, cfg.latent_dim,
                                    cfg.beta, cfg.dead_after, dropout=True)
        self.bins = cfg.n_fft // 2 + 1
        self.decoder = SpeechDecoder(cfg.latent_dim, cfg.width, self.bins, cfg.dec_blocks)
        self.register_buffer("window", torch.hann_window(cfg.n_fft), persistent=False)

    def features(self, wave: torch.Tensor) -> torch.Tensor:
        pad = (self.cfg.n_fft - self.cfg.hop) // 2
        return torch.log(self.mel(F.pad(wave, (pad, pad))) + 1e-5)  # (B, n_mels, 2T)

    def synthesize(self, z: torch.Tensor, length: int) -> torch.Tensor:
        """Quantised latents (B, D, T) -> waveform (B, length)."""
        out = self.decoder(z).float()
        logmag, phase = out[:, : self.bins], out[:, self.bins:]
        spec = torch.exp(logmag.clamp(max=7.0)) * torch.exp(1j * phase)
        return torch.istft(spec, self.cfg.n_fft, self.cfg.hop, window=self.window, center=True,
                           length=length)

    def forward(self, wave: torch.Tensor, n_stages: int | None = None,
                quantized: torch.Tensor | None = None):
        """Returns (reconstruction, indices, auxiliary VQ loss, quantisation error). Given
        `quantized` latents (B, D, T) (the codec's own codes: `train --codec-stages`), only the
        decoder runs, and indices are None."""
        if quantized is not None:
            zero = quantized.new_zeros(())
            return self.synthesize(quantized, wave.shape[-1]), None, zero, zero
        q, idx, loss, err = self.quantizer(self.encoder(self.features(wave)), n_stages)
        return self.synthesize(q, wave.shape[-1]), idx, loss, err

    @torch.no_grad()
    def encode(self, wave: torch.Tensor, n_stages: int) -> torch.Tensor:
        return self.quantizer.codes(self.encoder(self.features(wave)), n_stages)

    @torch.no_grad()
    def decode(self, indices: torch.Tensor) -> torch.Tensor:
        return self.synthesize(self.quantizer.decode(indices), indices.shape[-1] * self.cfg.frame)
