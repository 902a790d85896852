"""Training data, read on demand: random image crops and random speech segments.

A source is a folder (searched recursively; only headers are read up front, each file is opened
when it is sampled) or a pack (`vqcodec pack`, memory-mapped and sliced; see `packs`). Memory
does not grow with the corpus. Under DDP each rank keeps its own share of the examples
(`rank::world`), so ranks never see the same example.

The k-th training batch of a rank depends only on (seed, k): worker processes can draw batches
in any order and a resumed run draws the same batches (see `loader`). Other draws (the prior's
examples, the discriminators' crops) use `rng`, whose state the checkpoint keeps.

A file that cannot be read is skipped and recorded in `bad` (source -> reason); a source with
no usable example is an error before training starts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import BadInputError
from ..media import AUDIO_SUFFIXES as AUDIO_EXT
from ..media import IMAGE_SUFFIXES as IMAGE_EXT
from .packs import find_files, open_pack

__all__ = ["AUDIO_EXT", "IMAGE_EXT", "ImageCrops", "SpeechSegments", "find_files", "load_mono"]
READ_ERRORS = (BadInputError, OSError, ValueError, RuntimeError, EOFError, SyntaxError)


class Examples:
    """A corpus of examples known by size up front and read when sampled."""

    def __init__(self, source: str | Path):
        self.source = Path(source)
        self.bad: dict[str, str] = {}  # skipped files and why
        self.ids = np.zeros(0, dtype=np.int64)  # usable examples (this rank's share)
        self.sources: list[str] = []

    def keep(self, usable: np.ndarray, what: str) -> None:
        self.ids = np.flatnonzero(usable)
        if not len(self.ids):
            raise BadInputError(f"no usable {what} in {self.source}"
                                + (f" ({len(self.bad)} unreadable)" if self.bad else ""))

    def shard(self, rank: int, world: int) -> None:
        """Keep every world-th example, from the rank-th: disjoint shares for DDP ranks."""
        if world > 1:
            if len(self.ids) < world:
                raise BadInputError(f"{self.source}: {len(self.ids)} examples cannot be shared "
                                    f"among {world} ranks")
            self.ids = self.ids[rank::world]

    def pick(self, rng: np.random.Generator) -> int:
        return int(self.ids[rng.integers(len(self.ids))])

    def drop(self, i: int, exc: Exception) -> None:
        """Stop sampling example i (its file failed to read)."""
        self.bad[self.sources[i]] = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        self.ids = self.ids[self.ids != i]
        if not len(self.ids):
            raise BadInputError(f"no readable examples left in {self.source}")


class AudioExamples(Examples):
    """Mono clips at `rate`: slices of a pack, or segments read from files (resampled)."""

    def __init__(self, source: str | Path, rate: int):
        super().__init__(source)
        self.rate = rate
        if self.source.suffix == ".npy":
            self.pack = open_pack(self.source)
            if self.pack.kind != "speech":
                raise BadInputError(f"{self.source} is a pack of images, not speech")
            if self.pack.sample_rate and self.pack.sample_rate != rate:
                raise BadInputError(f"{self.source} is packed at {self.pack.sample_rate} Hz and the "
                                    f"model runs at {rate} Hz: pack it with --rate {rate}")
            self.sources, self.lengths = self.pack.sources, self.pack.sizes
        else:
            import soundfile as sf

            self.pack, self.files = None, find_files(self.source, AUDIO_EXT)
            self.sources = [str(p) for p in self.files]
            self.info = []
            for p in self.files:
                try:
                    inf = sf.info(str(p))
                    self.info.append((inf.samplerate, inf.frames))
                except READ_ERRORS as exc:
                    self.bad[str(p)] = str(exc).splitlines()[0][:160]
                    self.info.append((rate, 0))
            self.lengths = np.array([-(-n * rate // sr) for sr, n in self.info], dtype=np.int64)
        self.keep(self.lengths > rate // 10, "audio clips")

    def segment(self, i: int, start: int, n: int) -> np.ndarray:
        """Up to n float32 samples of clip i from sample `start` (at `rate`)."""
        if self.pack is not None:
            return np.asarray(self.pack.example(i)[start: start + n], dtype=np.float32) / 32768.0
        import soundfile as sf

        from ..runtime.resample import resample

        sr = self.info[i][0]
        a = start * sr // self.rate
        x, _ = sf.read(str(self.files[i]), start=a, frames=-(-n * sr // self.rate),
                       dtype="float32", always_2d=True)
        return resample(x.mean(axis=1), sr, self.rate)[:n]


class ImageExamples(Examples):
    """RGB images: views into a pack, or files decoded when sampled."""

    def __init__(self, source: str | Path, min_side: int):
        super().__init__(source)
        self._cum: np.ndarray | None = None  # cumulative area weights over ids
        if self.source.suffix == ".npy":
            self.pack = open_pack(self.source)
            if self.pack.kind != "image":
                raise BadInputError(f"{self.source} is a pack of speech, not images")
            self.sources, self.shapes = self.pack.sources, [s[:2] for s in self.pack.shapes]
        else:
            from PIL import Image

            from ..media import own_pixel_limit

            self.pack, self.files = None, find_files(self.source, IMAGE_EXT)
            self.sources, self.shapes = [str(p) for p in self.files], []
            for p in self.files:
                try:
                    with own_pixel_limit(), Image.open(p) as im:  # sizes only: no pixels decoded
                        self.shapes.append(im.size[::-1])
                except READ_ERRORS as exc:
                    self.bad[str(p)] = str(exc).splitlines()[0][:160]
                    self.shapes.append((0, 0))
        sides = np.array([min(s) for s in self.shapes])
        for i in np.flatnonzero((sides > 0) & (sides < min_side)):
            self.bad[self.sources[i]] = f"smaller than {min_side}x{min_side}"
        self.keep(sides >= min_side, f"images of at least {min_side}x{min_side}")

    def pick(self, rng: np.random.Generator) -> int:
        """An image with probability proportional to its area: every pixel is as likely to be
        in a crop, so many small textures do not outweigh a few large photos."""
        if self._cum is None or len(self._cum) != len(self.ids):  # ids shrink as files fail
            area = np.array([float(np.prod(self.shapes[i])) for i in self.ids])
            self._cum = np.cumsum(area / area.sum())
        return int(self.ids[min(int(np.searchsorted(self._cum, rng.random(), side="right")),
                                len(self.ids) - 1)])

    @property
    def min_side(self) -> int:
        return int(min(min(self.shapes[i]) for i in self.ids))

    def image(self, i: int) -> np.ndarray:
        if self.pack is not None:
            return self.pack.example(i)
        from ..media import read_image

        return read_image(str(self.files[i]), max_pixels=1 << 40, still=False)[0]


class _Sampler:
    """Batches drawn from `examples`; subclasses say how one example is cut."""

    examples: Examples

    def __init__(self, examples: Examples, seed: int, rank: int, world: int):
        self.examples, self.seed = examples, seed
        examples.shard(rank, world)
        self.rng = np.random.default_rng(seed)

    @property
    def bad(self) -> dict[str, str]:
        return self.examples.bad

    def batch(self, n: int, size: int | None = None, rng: np.random.Generator | None = None) -> torch.Tensor:
        return self.stack(self.draw(n, lambda i, r: self.cut(i, size, r), rng))

    def draw(self, n: int, cut, rng: np.random.Generator | None = None) -> list:
        """`cut(i, rng)` of n picked examples; unreadable ones are dropped and others picked."""
        rng = rng or self.rng
        out = []
        while len(out) < n:
            i = self.examples.pick(rng)
            try:
                out.append(cut(i, rng))
            except READ_ERRORS as exc:
                self.examples.drop(i, exc)
        return out

    def batch_at(self, k: int, n: int) -> tuple[torch.Tensor, dict[str, str]]:
        """The k-th training batch (a function of seed and k alone) and the files found bad."""
        return self.batch(n, rng=np.random.default_rng([self.seed, k])), dict(self.bad)


class ImageCrops(_Sampler):
    """Random `size` x `size` RGB crops in [-1, 1], augmented (see `augment`: scale, flips,
    colour jitter, synthetic flat colours)."""

    def __init__(self, source: str | Path, size: int = 64, seed: int = 0, rank: int = 0,
                 world: int = 1, augment: bool = True):
        self.size, self.augment = size, augment
        super().__init__(ImageExamples(source, size), seed, rank, world)

    def cut(self, i: int, size: int | None, rng: np.random.Generator) -> np.ndarray:
        from . import augment

        size = size or self.size
        if not self.augment:
            return augment.plain_crop(self.examples.image(i), size, rng)
        if rng.random() < augment.P_FLAT:  # drawn first: no photo is read for a flat field
            return augment.flat_field(size, rng)
        return augment.crop(self.examples.image(i), size, rng)

    def stack(self, crops: list[np.ndarray]) -> torch.Tensor:
        """(n, 3, size, size)"""
        return torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float() / 127.5 - 1.0


class SpeechSegments(_Sampler):
    """Random mono segments of `seconds` at `rate`, with level augmentation unless `augment`
    is False (held-out data keeps its own level)."""

    def __init__(self, source: str | Path, rate: int, seconds: float = 1.0, seed: int = 0,
                 rank: int = 0, world: int = 1, augment: bool = True):
        self.rate, self.length, self.augment = rate, int(round(seconds * rate)), augment
        super().__init__(AudioExamples(source, rate), seed, rank, world)

    def cut(self, i: int, length: int | None, rng: np.random.Generator) -> np.ndarray:
        length = length or self.length
        n = int(self.examples.lengths[i])
        return self._padded(i, int(rng.integers(n - length + 1)) if n > length else 0, length, rng)[0]

    def chunks(self, n: int, length: int) -> tuple[torch.Tensor, np.ndarray]:
        """n chunks as the codec cuts a file: each is one of an example's consecutive
        `length`-sample pieces from its start (the last one short), zero-padded to `length`.
        Returns (n, length) and each chunk's real sample count."""
        def cut(i: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
            pieces = -(-int(self.examples.lengths[i]) // length)
            return self._padded(i, int(rng.integers(pieces)) * length, length, rng)

        got = self.draw(n, cut)
        return self.stack([x for x, _ in got]), np.array([k for _, k in got])

    def _padded(self, i: int, start: int, length: int,
                rng: np.random.Generator) -> tuple[np.ndarray, int]:
        out = np.zeros(length, dtype=np.float32)
        x = self.examples.segment(i, start, length)
        out[: len(x)] = x
        if self.augment:  # level augmentation (held-out data keeps its own level)
            out *= np.float32(10 ** (rng.uniform(-12, 3) / 20))
        return out, len(x)

    def stack(self, segments: list[np.ndarray]) -> torch.Tensor:
        """(n, length)"""
        return torch.from_numpy(np.clip(np.stack(segments), -1, 1))


def load_mono(path: str | Path, rate: int) -> np.ndarray:
    """Whole file -> mono float32 at `rate` (for sampling's reference clips)."""
    import soundfile as sf

    from ..runtime.resample import resample

    x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    return resample(x.mean(axis=1), sr, rate)
