"""Generating from a VQ-VAE's latent space: uniform indices, the training histogram, or ancestral
sampling from the autoregressive prior (through the decoder's own exact step-by-step path).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .. import kinds
from ..codec import entropy
from ..errors import UsageError
from ..eval.metrics import int_prior_bits
from ..models.modelfile import CodecModel

SCHEMES = ("uniform", "histogram", "prior")


@dataclass
class Samples:
    indices: torch.Tensor  # image: (N, h, w); speech: (N, T, S)
    bits_per_index: float  # negative log-likelihood under the prior


def sample_indices(model: CodecModel, scheme: str, n: int, size: int, temperature: float = 1.0,
                   seed: int = 0, histogram: torch.Tensor | None = None) -> Samples:
    """Draw `n` index maps (images: size x size pixels; speech: size frames of 20 ms), under
    the prior a speech model's encoders use (its stored newer wideband prior if it has one)."""
    if model.kind == "speech":
        model = model.code_sets[0]
    if scheme not in SCHEMES:
        raise UsageError(f"unknown scheme {scheme!r} (choose from {', '.join(SCHEMES)})")
    if not 0 < temperature < np.inf:  # NaN too
        raise UsageError("--temperature must be a positive number")
    rng = np.random.default_rng(seed)
    kind = kinds.get(model.kind)
    shape = kind.grid_shape(model.config, n, size)
    k = model.config.codebook_size
    stages = kind.sampled_stages(model.config)  # stages the grid holds
    if scheme == "uniform":
        idx = torch.from_numpy(rng.integers(0, k, size=shape))
    elif scheme == "histogram":
        hist = histogram if histogram is not None else model.histogram
        if hist is None:
            raise UsageError("this model file has no code histogram; pass --data to collect one")
        idx = torch.empty(shape, dtype=torch.long)
        for s in range(stages):
            p = hist[s].double().numpy()
            target = kind.stage_indices(idx, s)  # a view of stage s
            target.copy_(torch.from_numpy(rng.choice(k, size=tuple(target.shape), p=p / p.sum())))
    else:
        idx = _ancestral(model, shape, temperature, rng)
    bits = int_prior_bits(model.kind, model.prior, idx) / idx.numel()
    return Samples(idx, bits)


def _ancestral(model: CodecModel, shape: tuple, temperature: float,
               rng: np.random.Generator) -> torch.Tensor:
    """Sample symbol by symbol with the decoder's wavefront / frame-by-frame loop."""

    def choose(weights: np.ndarray, owners: np.ndarray) -> np.ndarray:
        logw = np.log(weights) / temperature
        p = np.exp(logw - logw.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        u = rng.random((len(p), 1))
        return np.minimum((np.cumsum(p, axis=1) < u).sum(axis=1), p.shape[1] - 1)

    plan = kinds.get(model.kind).plan(model.prior, shape)
    flat = entropy.decode(plan, [], int(np.prod(shape)), choose=choose)
    return torch.from_numpy(flat).view(shape)


def decode_images(model: CodecModel, idx: torch.Tensor) -> list[np.ndarray]:
    """(N, h, w) indices -> N (H, W, 3) uint8 RGB images."""
    with torch.inference_mode():
        x = model.net.decode(idx[:, None]).clamp(-1, 1)
    return list(((x + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy())


def tile_images(imgs: list[np.ndarray], columns: int = 4) -> np.ndarray:
    """Equal-sized images -> one uint8 RGB grid with a 2-pixel white border."""
    n, (h, w, _) = len(imgs), imgs[0].shape
    rows = -(-n // columns)
    grid = np.full((rows * (h + 2) + 2, columns * (w + 2) + 2, 3), 255, dtype=np.uint8)
    for i, im in enumerate(imgs):
        r, c = divmod(i, columns)
        grid[2 + r * (h + 2): 2 + r * (h + 2) + h, 2 + c * (w + 2): 2 + c * (w + 2) + w] = im
    return grid


def render_speech(model: CodecModel, idx: torch.Tensor) -> list[np.ndarray]:
    """(N, T, S) indices -> N mono float32 waveforms at the model rate."""
    with torch.inference_mode():
        return [model.net.decode(i.t()[None])[0].numpy() for i in idx]


def colour_distance(a: np.ndarray, b: np.ndarray, bins: int = 8) -> float:
    """Total-variation distance between the joint RGB histograms of two sets of pixels."""
    def hist(x):
        q = (x.reshape(-1, 3) // (256 // bins)).astype(np.int64)
        h = np.bincount(q[:, 0] * bins * bins + q[:, 1] * bins + q[:, 2], minlength=bins**3)
        return h / h.sum()
    return float(0.5 * np.abs(hist(a) - hist(b)).sum())


def gradient_distance(a: list[np.ndarray], b: list[np.ndarray], bins: int = 16) -> float:
    """Total-variation distance between histograms of local gradient magnitude (log-spaced):
    how much of the picture is smooth, textured or edged, whatever the colours."""
    edges = np.concatenate([[0], np.geomspace(1, 256, bins)])

    def hist(images):
        h = np.zeros(bins)
        for im in images:
            g = im.astype(np.float64).mean(axis=2)
            mag = np.hypot(np.diff(g, axis=0)[:, :-1], np.diff(g, axis=1)[:-1])
            h += np.histogram(np.minimum(mag, 255.9), bins=edges)[0]
        return h / h.sum()
    return float(0.5 * np.abs(hist(a) - hist(b)).sum())


def spectral_distance(a: list[np.ndarray], b: list[np.ndarray], rate: int) -> float:
    """L1 distance (dB) between the mean log-mel spectra of two sets of waveforms."""
    import torchaudio

    mel = torchaudio.transforms.MelSpectrogram(rate, n_fft=512, hop_length=160, n_mels=40)

    def mean_spec(xs):
        specs = [10 * torch.log10(mel(torch.from_numpy(np.asarray(x, dtype=np.float32))) + 1e-8).mean(-1)
                 for x in xs]
        return torch.stack(specs).mean(0)
    return float((mean_spec(a) - mean_spec(b)).abs().mean())


def collect_histogram(model: CodecModel, data: str, limit: int = 200) -> torch.Tensor:
    """Code counts (S, K) over up to `limit` files of a folder, encoded with the model."""
    kind = kinds.get(model.kind)
    k = model.config.codebook_size
    hist = torch.zeros(kind.sampled_stages(model.config), k, dtype=torch.long)
    for p in kind.example_files(data)[:limit]:
        for s, codes in enumerate(kind.example_codes(model, kind.load_example(model, p))):
            hist[s] += torch.bincount(codes, minlength=k)
    return hist


def compare(model: CodecModel, data: str, n: int, size: int, seed: int = 0) -> tuple[dict, dict]:
    """For each scheme: prior bits per index of its samples and a distance of the decoded
    outputs to real data (images: RGB-histogram TV distance; speech: mean log-mel L1 in dB).
    Returns (table, decoded outputs per scheme: an image grid, or a list of waveforms)."""
    kind = kinds.get(model.kind)
    real = [kind.load_example(model, p) for p in kind.example_files(data)[:50]]
    table, outputs = {}, {}
    for scheme in SCHEMES:
        s = sample_indices(model, scheme, n, size, seed=seed)
        row, outputs[scheme] = kind.compare_samples(model, s.indices, real)
        table[scheme] = {"bits_per_index": round(s.bits_per_index, 3), **row}
    return table, outputs
