"""Training data: random image crops and random speech segments, from folders or packed arrays.

A folder is searched recursively (images: anything Pillow reads; speech: wav/flac/ogg). A packed
`.npy` file (uint8 (N, H, W, 3) patches, or int16 audio with a `.json` list of clip offsets)
serves machines without the media libraries and loads fast.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ..errors import BadInputError
from ..media import AUDIO_SUFFIXES as AUDIO_EXT
from ..media import IMAGE_SUFFIXES as IMAGE_EXT


def find_files(root: str | Path, exts: set[str]) -> list[Path]:
    root = Path(root)
    if not root.exists():
        raise BadInputError(f"no such data folder: {root}")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in exts)
    if not files:
        raise BadInputError(f"no {'/'.join(sorted(exts))} files under {root}")
    return files


class ImageCrops:
    """Random `size` x `size` RGB crops in [-1, 1] with flips, from a folder or a packed .npy."""

    def __init__(self, source: str | Path, size: int = 64, seed: int = 0):
        from ..media import read_image

        self.size, self.rng = size, np.random.default_rng(seed)
        src = Path(source)
        if src.suffix == ".npy":
            self.images = list(np.load(src, mmap_mode="r"))
        else:
            self.images = [read_image(str(p))[0] for p in find_files(src, IMAGE_EXT)]
        small = [im.shape for im in self.images if min(im.shape[:2]) < size]
        if small:
            raise BadInputError(f"{len(small)} training images are smaller than {size}x{size}")

    def batch(self, n: int, size: int | None = None) -> torch.Tensor:
        """(n, 3, size, size) crops; `size` defaults to the training crop size."""
        size = size or self.size
        out = np.empty((n, size, size, 3), dtype=np.uint8)
        for i in range(n):
            im = self.images[self.rng.integers(len(self.images))]
            y = self.rng.integers(im.shape[0] - size + 1)
            x = self.rng.integers(im.shape[1] - size + 1)
            crop = im[y: y + size, x: x + size]
            out[i] = crop[:, ::-1] if self.rng.random() < 0.5 else crop
        return torch.from_numpy(out).permute(0, 3, 1, 2).float() / 127.5 - 1.0


class SpeechSegments:
    """Random mono segments of `seconds` at the model rate, from a folder or a packed .npy."""

    def __init__(self, source: str | Path, rate: int, seconds: float = 1.0, seed: int = 0):
        self.rate, self.length = rate, int(round(seconds * rate))
        self.rng = np.random.default_rng(seed)
        src = Path(source)
        if src.suffix == ".npy":
            flat = np.load(src, mmap_mode="r")
            offsets = json.loads(src.with_suffix(".json").read_text())
            offsets = offsets.get("offsets", offsets) if isinstance(offsets, dict) else offsets
            bounds = list(offsets) + [len(flat)] if offsets[-1] != len(flat) else list(offsets)
            self.clips = [np.asarray(flat[a:b], dtype=np.float32) / 32768.0
                          for a, b in zip(bounds[:-1], bounds[1:])]
        else:
            self.clips = [load_mono(p, rate) for p in find_files(src, AUDIO_EXT)]
        self.clips = [c for c in self.clips if len(c) > rate // 10]
        if not self.clips:
            raise BadInputError(f"no usable audio clips in {source}")

    def batch(self, n: int, length: int | None = None) -> torch.Tensor:
        """(n, length) segments; `length` defaults to the training segment length."""
        length = length or self.length
        out = np.zeros((n, length), dtype=np.float32)
        for i in range(n):
            clip = self.clips[self.rng.integers(len(self.clips))]
            if len(clip) > length:
                a = self.rng.integers(len(clip) - length + 1)
                out[i] = clip[a: a + length]
            else:
                out[i, : len(clip)] = clip
            out[i] *= 10 ** (self.rng.uniform(-12, 3) / 20)  # level augmentation
        return torch.from_numpy(np.clip(out, -1, 1))


def load_mono(path: str | Path, rate: int) -> np.ndarray:
    """Whole file -> mono float32 at `rate` (for training and evaluation clips)."""
    import soundfile as sf
    import torchaudio.functional as AF

    x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    x = x.mean(axis=1)
    if sr != rate:
        x = AF.resample(torch.from_numpy(x), sr, rate).numpy()
    return x
