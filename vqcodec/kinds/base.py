"""What every modality provides: its stream parameters, networks, priors, losses, data, quality."""

from __future__ import annotations

from typing import Any, ClassVar


class Kind:
    """One modality. Class attributes describe it; methods import torch only when called."""

    name: ClassVar[str]  # the one name used everywhere: model files, CLI, container
    code: ClassVar[int]  # the modality byte in stream headers
    params: ClassVar[type]  # the typed header parameters (ImageParams, AudioParams)
    article: ClassVar[str] = "a"
    quality_name: ClassVar[str]  # the training summary's held-out quality figure

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
        """Cross-entropy of the float prior's logits against index grids `x`."""
        raise NotImplementedError

    def plan(self, int_prior, shape: tuple[int, ...]):
        """The integer prior's coding plan for a batch of index grids of `shape`."""
        raise NotImplementedError

    def grid_shape(self, cfg, n: int, size: int) -> tuple[int, ...]:
        """The index grid of `n` samples of `size` (pixels per side, or 20 ms frames)."""
        raise NotImplementedError

    def data(self, source, size: float, seed: int, cfg=None, rank: int = 0, world: int = 1):
        """Training examples from `source` (a folder or a pack), read on demand: image crops of
        `size` px, or `size`-s segments; under DDP, rank `rank` of `world` keeps its share."""
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

    def training_loss(self, cfg):
        """The reconstruction loss module training needs beside `reconstruction_loss`, or None."""
        return None

    def encode(self, net, x, cfg):
        """Every stage's indices, (B, S, *spatial)."""
        raise NotImplementedError

    def prior_examples(self, net, data, opts, cfg, device) -> list:
        """Index grids for the prior to learn from: larger examples, encoded once."""
        raise NotImplementedError

    def prior_crop(self, x):
        """A training batch of index grids as the prior sees it (speech: a random prefix)."""
        return x

