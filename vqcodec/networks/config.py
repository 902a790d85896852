"""Model configurations: dataclasses saved as JSON inside every model file (no torch needed)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..codec.params import image_levels
from ..prior import CausalPriorConfig, PixelCNNConfig

FACTOR = 8  # image pixels per index along each axis
MAX_RATE_WEIGHT = 1e6  # a speech model's rate weight: above this the search weighs bits alone


def checked_rate_weight(w) -> float:
    """A speech model's rate weight as a float; TypeError for anything but a number from 0 to
    MAX_RATE_WEIGHT (NaN, infinities and booleans included)."""
    if isinstance(w, bool) or not isinstance(w, (int, float)) or not 0 <= w <= MAX_RATE_WEIGHT:
        raise TypeError(f"rate_weight {w!r}: a number from 0 to {MAX_RATE_WEIGHT:g}")
    return float(w)


def check_sizes(cfg, *names: str) -> None:
    """TypeError unless each named field of `cfg` is a positive integer, or a sequence of them
    (widths, dilations): a network of zero, negative or fractional size fails deep in torch."""
    for name in names:
        value = getattr(cfg, name)
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise TypeError(f"{name} {value!r}: give positive integers")


def _prior(c, kind: type):
    """A prior's configuration from JSON (a dict) or as it is; TypeError for anything else."""
    if isinstance(c, dict):
        c = kind(**c)
    if not isinstance(c, kind):
        raise TypeError(f"prior {c!r}: give an object of prior settings")
    return c


@dataclass
class BottleneckConfig:
    """The vector-quantised bottleneck both VQ-VAEs build their ResidualVQ from."""

    latent_dim: int = 64
    codebook_size: int = 1024
    quantizer: str = "ema"  # ste, ema or nsvq
    beta: float = 0.25  # commitment weight
    dead_after: int = 200  # training steps a code may go unused before it is restarted


@dataclass
class ImageModelConfig(BottleneckConfig):
    widths: tuple[int, int, int, int] = (32, 64, 128, 128)
    blocks: int = 2
    stages: int = 1  # residual VQ stages: quality level q codes the first q
    # quality levels above the stages, each with a detail layer (codec/detail.py). Off for
    # model files that do not say (written before it existed); `train` turns it on
    detail: bool = False
    prior: PixelCNNConfig = field(default_factory=lambda: PixelCNNConfig(1024, 64, 5))

    def __post_init__(self):
        self.prior = _prior(self.prior, PixelCNNConfig)
        if not isinstance(self.widths, (list, tuple)) or len(self.widths) != 4:
            raise TypeError(f"widths {self.widths!r}: give four channel counts")
        self.widths = tuple(self.widths)
        check_sizes(self, "latent_dim", "codebook_size", "stages", "widths")
        check_sizes(self.prior, "channels", "layers")
        self.prior.codebook_size, self.prior.stages = self.codebook_size, self.stages

    @property
    def levels(self) -> int:
        """Quality levels: the first 1..stages residual stages, then (with `detail`) all of them
        with a detail layer at each of codec.params.DETAIL_STEPS."""
        return image_levels(self.stages, self.detail)

    @property
    def default_level(self) -> int:
        """The level `compress` uses without --quality/--bpp: the middle one, ceil(N / 2)."""
        return (self.levels + 1) // 2


def _causal_prior(c, codebook_size: int, stages: int) -> CausalPriorConfig:
    """A speech prior's configuration (as a dict from JSON, or as it is) for these codes."""
    if isinstance(c, dict):
        c = CausalPriorConfig(**{"codebook_size": codebook_size, "stages": stages, **c,
                                 "dilations": tuple(c.get("dilations", (1, 2, 4, 8)))})
    c = _prior(c, CausalPriorConfig)
    check_sizes(c, "channels", "dilations")
    c.codebook_size, c.stages = codebook_size, stages
    return c


@dataclass
class SpeechModelConfig(BottleneckConfig):
    sample_rate: int = 16000
    hop: int = 160  # STFT hop: 100 Hz spectral frames
    n_fft: int = 640
    n_mels: int = 80
    width: int = 192
    dec_blocks: int = 8
    stages: int = 3
    default_stages: float = 2  # what compress codes; 2.25: the third stage on 1/4 of the frames
    # the encoder's rate-distortion weight: squared latent distance per bit of prior cost in its
    # VQ search (codec.speech.coded_symbols); 0 searches for the nearest codes alone
    rate_weight: float = 0.0
    prior: CausalPriorConfig = field(default_factory=lambda: CausalPriorConfig(1024, 3))
    # the prior of the model's telephone code set (models/codesets.py), None without one
    telephone: CausalPriorConfig | None = None
    # what compress codes with the telephone set (None: default_stages)
    telephone_stages: float | None = None
    # a newer prior for the model's own codebooks, which encoders use (models/codesets.py)
    wideband: CausalPriorConfig | None = None

    def __post_init__(self):
        self.rate_weight = checked_rate_weight(self.rate_weight)
        check_sizes(self, "latent_dim", "codebook_size", "stages", "sample_rate", "hop", "n_fft",
                    "n_mels", "width")
        self.prior = _causal_prior(self.prior, self.codebook_size, self.stages)
        if self.telephone is not None:
            self.telephone = _causal_prior(self.telephone, self.codebook_size, self.stages)
        if self.wideband is not None:
            self.wideband = _causal_prior(self.wideband, self.codebook_size, self.stages)
        t = self.telephone_stages
        if t is not None and (isinstance(t, bool) or not isinstance(t, (int, float))
                              or not 1 <= t <= self.stages):
            raise ValueError(f"telephone_stages {t!r} is not between 1 and {self.stages}")

    @property
    def frame(self) -> int:
        """Samples per latent frame (one index per stage)."""
        return 2 * self.hop
