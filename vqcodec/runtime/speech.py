"""The speech VQ-VAE forward in numpy: log-mel features, encoder, residual VQ, Vocos-style
decoder and the inverse STFT."""

from __future__ import annotations

import copy

import numpy as np

from . import ops, vq
from ..networks import arch
from .nets import Params, conv, linear, sequential


def hann(n: int) -> np.ndarray:
    """Periodic Hann window, as torch.hann_window."""
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)).astype(np.float32)


class SpeechNet:
    """A speech model's networks from its config and float32 weights (state-dict names)."""

    def __init__(self, cfg, params: Params):
        self.cfg, self.p = cfg, params
        self.enc = arch.speech_encoder(cfg.n_mels, cfg.width, cfg.latent_dim)
        self.pre = arch.speech_decoder_pre(cfg.latent_dim, cfg.width)
        self.up = arch.speech_decoder_up(cfg.width)
        self.blocks = arch.speech_decoder_blocks(cfg.width, cfg.dec_blocks)
        self.codebooks = [params[f"quantizer.stages.{s}.codebook"] for s in range(cfg.stages)]
        self.window = hann(cfg.n_fft)
        self.bins = cfg.n_fft // 2 + 1
        self.fb = params["mel.mel_scale.fb"]  # (bins, n_mels), stored with the model

    def with_codebooks(self, codebooks: list[np.ndarray]) -> "SpeechNet":
        """The same networks with other codebooks (a model's other code set)."""
        other = copy.copy(self)
        other.codebooks = codebooks
        return other

    def features(self, wave: np.ndarray) -> np.ndarray:
        """(N,) waveform -> (n_mels, frames) log-mel, as the torch model's `features`."""
        n_fft, hop = self.cfg.n_fft, self.cfg.hop
        pad = (n_fft - hop) // 2
        x = np.pad(wave.astype(np.float32), (pad, pad))
        frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop]  # (F, n_fft)
        mag = np.abs(np.fft.rfft(frames * self.window, axis=1)).astype(np.float32)  # (F, bins)
        return np.log((mag @ self.fb).T + np.float32(1e-5))

    def latents(self, wave: np.ndarray) -> np.ndarray:
        """(N,) waveform, N a multiple of the frame -> (D, N / frame) latents, unquantised."""
        return sequential(self.enc, self.p, "encoder.net", self.features(wave))

    def encode(self, wave: np.ndarray, stages: int) -> np.ndarray:
        """(N,) waveform, N a multiple of the frame -> (stages, N / frame) indices."""
        return vq.encode(self.latents(wave), self.codebooks, stages)

    def lookup(self, idx: np.ndarray) -> np.ndarray:
        """(S, T) indices -> (D, T) quantised latents; an index of -1 is a stage not coded."""
        return vq.decode(idx, self.codebooks)

    def decoder(self, z: np.ndarray) -> np.ndarray:
        """(D, T) latents -> (2 * bins, 2T + 1) log-magnitude and phase."""
        x = sequential(self.pre, self.p, "decoder.pre", z)
        x = conv(self.up, self.p, "decoder.up", x)
        x = sequential(self.blocks, self.p, "decoder.blocks", x)
        x = np.concatenate([x, x[:, -1:]], axis=1).T  # 2T + 1 frames: istft(center) gives 2T hops
        x = ops.layer_norm(x, self.p["decoder.norm.weight"], self.p["decoder.norm.bias"])
        return linear(self.p, "decoder.head", x).T

    def synthesize(self, z: np.ndarray, length: int) -> np.ndarray:
        """(D, T) latents -> (length,) waveform."""
        out = self.decoder(z)
        mag = np.exp(np.minimum(out[: self.bins], np.float32(7.0)))
        phase = out[self.bins:]
        spec = np.empty(mag.shape, dtype=np.complex64)
        spec.real, spec.imag = mag * np.cos(phase), mag * np.sin(phase)
        return istft(spec, self.cfg.n_fft, self.cfg.hop, self.window, length)


def istft(spec: np.ndarray, n_fft: int, hop: int, window: np.ndarray, length: int) -> np.ndarray:
    """(bins, F) one-sided spectrum -> (length,) waveform, as torch.istft(center=True)."""
    frames = np.fft.irfft(spec, n=n_fft, axis=0).astype(np.float32) * window[:, None]  # (n_fft, F)
    count = frames.shape[1]
    total = n_fft + hop * (count - 1)
    y = np.zeros(total, dtype=np.float32)
    env = np.zeros(total, dtype=np.float32)
    w2 = window * window
    if n_fft % hop == 0:  # overlap-add as n_fft / hop shifted block adds
        k = n_fft // hop
        yb, eb = y.reshape(-1, hop), env.reshape(-1, hop)
        for j in range(k):
            yb[j: j + count] += frames[j * hop: (j + 1) * hop].T
            eb[j: j + count] += w2[j * hop: (j + 1) * hop]
    else:
        for i in range(count):
            y[i * hop: i * hop + n_fft] += frames[:, i]
            env[i * hop: i * hop + n_fft] += w2
    start = n_fft // 2
    y, env = y[start: start + length], env[start: start + length]
    if len(y) < length:
        y = np.pad(y, (0, length - len(y)))
        env = np.pad(env, (0, length - len(env)), constant_values=1)
    return y / np.where(env > 1e-11, env, 1)
