"""What a training run is asked to do (the CLI's options, as the trainer reads them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..networks.discriminators import GanConfig


@dataclass
class TrainOptions:
    kind: str  # "image" or "speech"
    data: str
    out: Path
    steps: int = 20000
    prior_steps: int = 10000
    batch: int = 16
    lr: float = 5e-4
    prior_lr: float = 1e-3
    quantizer: str = "ema"
    seed: int = 0
    device: str = "auto"
    precision: str = "32"
    checkpoint_every: int = 500
    resume: bool = False
    stop_after: int = 0  # stop (after checkpointing) once this many steps of the current stage ran
    crop: int = 64  # image training crops (pixels)
    prior_crop: int = 256  # image crops encoded for the prior (pixels)
    seconds: float = 1.0  # speech training segments
    prior_examples: int = 2000
    val_data: str | None = None
    ae_minutes: float = 0.0  # wall-clock budgets: 0 = run all steps; else fewer steps to fit
    prior_minutes: float = 0.0
    model: dict = field(default_factory=dict)  # config overrides, e.g. {"codebook_size": 256}
    init: str | None = None  # start the autoencoder from a model file or a run's .ckpt (fine-tuning)
    only: str = "all"  # "decoder", "encoder" or "encoder,decoder": train those parts alone; the
    # codebooks and the prior (the codes streams carry) stay those of --init
    gan: GanConfig | None = None  # adversarial training (speech): discriminators and loss weights
    narrowband: float = 0.0  # speech: share of examples the encoder hears through a telephone
    # band (as if recorded at 8 kHz); the loss still compares with the full-band original
    codec_stages: tuple[float, ...] = ()  # speech, --only decoder: learn from the codec's own
    # codes (beam search, partial last stage) at stage counts drawn from these, not greedy ones
    workers: int | None = None  # data-loading processes (None: one per two cores; 0: in-process)
