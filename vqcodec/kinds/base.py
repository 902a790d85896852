"""What every modality provides: its stream parameters, networks, priors, losses, data, quality."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar, Iterator

if TYPE_CHECKING:
    from pathlib import Path

    import numpy as np
    import torch

    from ..api import Report
    from ..codec.container import Header, Record
    from ..files import Options
    from ..models.modelfile import CodecModel


class Kind:
    """One modality. Class attributes describe it; methods import torch only when called, and
    the file-coding methods (compress, decompress, info) never do."""

    name: ClassVar[str]  # the one name used everywhere: model files, CLI, container
    code: ClassVar[int]  # the modality byte in stream headers
    # the typed header parameters (ImageParams, AudioParams): a dataclass with values(); one
    # whose layout grew with the format version adds count(version), from_header(version,
    # values) and version(), as codec/container.py uses them
    params: ClassVar[type]
    article: ClassVar[str] = "a"
    quality_name: ClassVar[str]  # the training summary's held-out quality figure
    # configuration a newly trained model gets unless --config says otherwise (model files
    # that do not carry a key get the dataclass default: what they were written with)
    training_defaults: ClassVar[dict] = {}

    def config(self, overrides: dict) -> Any:
        """The model configuration dataclass from a dict (as saved in a model file)."""
        raise NotImplementedError

    def network(self, cfg) -> Any:
        """The VQ-VAE for `cfg`."""
        raise NotImplementedError

    def runtime(self, cfg, params: dict) -> Any:
        """The numpy inference networks for `cfg` from float32 weights (no torch)."""
        raise NotImplementedError

    def float_prior(self, cfg) -> Any:
        """The trainable prior over this kind's index grids."""
        raise NotImplementedError

    def int_prior(self, cfg, tensors: dict) -> Any:
        """The frozen integer prior, from a model file's tensors."""
        raise NotImplementedError

    def prior_loss(self, logits, x, reduction: str = "mean"):
        """Cross-entropy of the float prior's logits against index grids `x` (-1: padding)."""
        raise NotImplementedError

    def plan(self, int_prior, shape: tuple[int, ...]):
        """The integer prior's coding plan for a batch of index grids of `shape`."""
        raise NotImplementedError

    def grid_shape(self, cfg, n: int, size: int) -> tuple[int, ...]:
        """The index grid of `n` samples of `size` (pixels per side, or 20 ms frames)."""
        raise NotImplementedError

    def data(self, source, size: float, seed: int, cfg=None, rank: int = 0, world: int = 1,
             augment: bool = True):
        """Training examples from `source` (a folder or a pack), read on demand: image crops of
        `size` px, or `size`-s segments; under DDP, rank `rank` of `world` keeps its share.
        `augment=False` for validation and benchmarks: images then come as plain crops (with
        flips); speech segments keep their level augmentation either way."""
        raise NotImplementedError

    def latents(self, net, x):
        """The encoder's output before quantisation, (B, D, *spatial)."""
        raise NotImplementedError

    def synthesize(self, net, q, x):
        """Quantised latents back to media shaped like `x`."""
        raise NotImplementedError

    def reconstruction_loss(self, y, x, stft=None):
        """The training loss between output `y` and input `x` (`stft`: a speech loss module)."""
        raise NotImplementedError

    def quality(self, y, x, rec: float) -> float:
        """The headline quality of a reconstruction (PSNR in dB; for speech the loss `rec`)."""
        raise NotImplementedError

    def stages_of(self, cfg) -> int:
        """Codebook stages per position (1 for single-stage models)."""
        return 1

    def stage_indices(self, idx, stage: int):
        """The indices of one stage from a batch of prior training examples."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<kind {self.name}>"

    def example_size(self, opts) -> float:
        """The training example size from TrainOptions (crop pixels, or segment seconds)."""
        raise NotImplementedError

    def check_example_size(self, opts, cfg) -> None:
        """Refuse a training example size (--crop, --seconds) the networks cannot take
        (UsageError)."""

    def training_loss(self, cfg):
        """The reconstruction loss module training needs beside `reconstruction_loss`, or None."""
        return None

    def encode(self, net, x, cfg):
        """Every stage's indices, (B, S, *spatial)."""
        raise NotImplementedError

    def prior_examples(self, net, data, opts, cfg, device, count: int) -> list:
        """`count` index grids for the prior to learn from, encoded once from `data`: larger
        examples, cut as the codec cuts its input. Entries -1 are padding (speech: past the end
        of a file); `prior_loss` ignores them."""
        raise NotImplementedError

    def all_stages(self, x):
        """`prior_examples`' grids with every stage coded, for measuring the prior (speech
        keeps one version per stage count)."""
        return x

    def unpadded(self, x) -> list:
        """Index grids from `prior_examples` without their padding, as the codec codes them."""
        return [x]

    def prior_crop(self, x):
        """A training batch of index grids as the prior sees it (speech: a random prefix)."""
        return x

    # -- coding files: vqcodec.files, vqcodec.api and `info` (torch-free) ---------------------
    rate_name: ClassVar[str]  # the rate figure in reports: "bpp" or "bit_per_second"
    rate_digits: ClassVar[int]  # its rounding

    def output_name(self, base: str) -> str:
        """The name of decoded media from a stream's name `base` (its .vqc already removed)."""
        raise NotImplementedError

    def check_compress(self, o: Options) -> None:
        """Refuse options that do not apply to this kind, and a model that does not fit,
        before any output is opened."""
        raise NotImplementedError

    def compress_to(self, data, out: BinaryIO, o: Options) -> Report:
        """Code one input (a path, bytes, or for streams a file object) into `out`."""
        raise NotImplementedError

    def extent(self, extra: dict) -> float:
        """What a rate is per, from a compression Report's `extra`: pixels or seconds."""
        raise NotImplementedError

    def rate(self, nbytes: int, extent: float) -> float:
        """`nbytes` of stream as this kind's rate figure, rounded for reports."""
        return round(nbytes * 8 / extent, self.rate_digits)

    def output_format(self, dst: str | None, header: Header, o: Options) -> str:
        """The format decoded media is written in at `dst` (None: stdout); refuses a name or
        options that cannot hold the stream's media, before any decoding."""
        raise NotImplementedError

    def decompress_to(self, f: BinaryIO, header: Header, dst: str | None,
                      o: Options) -> tuple[dict, float]:
        """Decode the records after `header` to `dst` (None: stdout), in the format its name
        says; returns the details to report and the extent the rate is per."""
        raise NotImplementedError

    def decompress_array(self, f: BinaryIO, header: Header, o: Options):
        """Decode the records after `header` to media in memory (vqcodec.decompress)."""
        raise NotImplementedError

    def stream_indices(self, f: BinaryIO, header: Header, m: CodecModel, o: Options) -> np.ndarray:
        """Entropy-decode the records after `header` to codebook indices only."""
        raise NotImplementedError

    def header_records(self, f: BinaryIO, params) -> Iterator[Record]:
        """The records after a header, read without a model (for `info`)."""
        raise NotImplementedError

    def describe_size(self, params, total_bytes: int, last: Record | None) -> dict | None:
        """The size and rate `info` shows; None when the stream has no final record."""
        raise NotImplementedError

    # -- sampling the latent space: vqcodec.tools.sampling and `vqcodec sample` --------------
    sample_size: ClassVar[int]  # the default `sample --size`: pixels per side, or 20 ms frames

    def check_sample_size(self, size: int) -> None:
        """Refuse a sample size this kind cannot generate (UsageError)."""

    def check_sample_output(self, output: str, compare: bool) -> None:
        """Refuse a `sample -o` this kind cannot write (UsageError), before any sampling."""

    def sampled_stages(self, cfg) -> int:
        """Codebook stages in sampled index grids and in code histograms."""
        return 1

    def example_files(self, folder: str | Path) -> list[Path]:
        """This kind's media files under `folder`, sorted."""
        raise NotImplementedError

    def load_example(self, model: CodecModel, path: Path) -> np.ndarray:
        """One media file as sampling compares it: (H, W, 3) uint8, or mono at the model rate."""
        raise NotImplementedError

    def example_codes(self, model: CodecModel, x: np.ndarray) -> torch.Tensor:
        """The codes of one loaded example, (sampled stages, positions)."""
        raise NotImplementedError

    def compare_samples(self, model: CodecModel, idx: torch.Tensor, real: list) -> tuple[dict, Any]:
        """Distances of the media decoded from `idx` to `real` examples, and the decoded media."""
        raise NotImplementedError

    def write_samples(self, model: CodecModel, idx: torch.Tensor, output: str, force: bool) -> None:
        """Decode index grids and write the media to `output` (a file or a folder)."""
        raise NotImplementedError

    def write_comparison(self, outputs: dict, output: str, force: bool) -> None:
        """Write the media `compare_samples` decoded for each scheme, where this kind shows any."""

