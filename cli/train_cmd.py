"""`vqcodec train`: both training stages with rich progress and a closing summary."""

from __future__ import annotations

import json
import math
import os
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Optional

import typer

from .errors import fail, guarded
from .interrupt import StopBetweenSteps

def _err():
    """A rich console on stderr, made on first use (rich costs start-up time)."""
    from rich.console import Console

    return Console(stderr=True)


@guarded
def train(
    kind: str = typer.Argument(..., metavar="KIND", help="'image' or 'speech'."),
    data: str = typer.Option(..., "--data", help="Folder of training images / wav, flac or ogg files (recursive), or a packed .npy."),
    out: str = typer.Option(..., "--out", help="Model file to write (checkpoint beside it: OUT.ckpt)."),
    steps: int = typer.Option(20000, "--steps", help="Autoencoder training steps."),
    prior_steps: Optional[int] = typer.Option(None, "--prior-steps", help="Prior training steps.  [default: 10000]", show_default=False),
    batch: int = typer.Option(16, "--batch"),
    lr: float = typer.Option(5e-4, "--lr"),
    quantizer: str = typer.Option("ema", "--quantizer", help="ste, ema or nsvq."),
    seed: int = typer.Option(0, "--seed"),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    precision: str = typer.Option("32", "--precision", help="32, bf16 or 16-mixed."),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUT.ckpt."),
    stop_after: int = typer.Option(0, "--stop-after", help="Checkpoint and stop after this many steps (continue later with --resume)."),
    checkpoint_every: int = typer.Option(500, "--checkpoint-every"),
    val_data: Optional[str] = typer.Option(None, "--val-data", help="Held-out data for the summary."),
    config: Optional[str] = typer.Option(None, "--config", help='Model overrides as JSON, e.g. \'{"codebook_size": 256}\'.'),
    crop: int = typer.Option(64, "--crop", help="Image training crop size."),
    seconds: float = typer.Option(1.0, "--seconds", help="Speech training segment length."),
    prior_examples: Optional[int] = typer.Option(None, "--prior-examples", help="Examples encoded for the prior.  [default: 2000]", show_default=False),
    ae_minutes: float = typer.Option(0.0, "--ae-minutes", help="Wall-clock budget for the autoencoder (fewer steps if needed)."),
    prior_minutes: Optional[float] = typer.Option(None, "--prior-minutes", help="Wall-clock budget for the prior.", show_default=False),
    init: Optional[str] = typer.Option(None, "--init", help="Start the autoencoder from this model's weights (a file or a bundled name): fine-tuning."),
    only: str = typer.Option("all", "--only", help="'all', or the parts to train alone from --init: 'decoder', 'encoder' or 'encoder,decoder'. The codebooks and prior stay, so both models decode each other's streams (with the decoder alone, streams keep their indices too)."),
    adversarial: bool = typer.Option(False, "--adversarial", help="Speech: add multi-period and multi-resolution STFT discriminators with feature matching."),
    gan_config: Optional[str] = typer.Option(None, "--gan-config", help='Discriminator/loss overrides as JSON, e.g. \'{"fm_weight": 2.0}\'.'),
    narrowband: float = typer.Option(0.0, "--narrowband", metavar="SHARE", help="Speech: the share of examples the encoder hears through a telephone band (as recorded at 8 kHz), reconstructed full-band: for 8 kHz input."),
    codec_stages: Optional[str] = typer.Option(None, "--codec-stages", metavar="LIST", help="Speech, with --only decoder: train on the codes the codec writes (beam search, partial last stage) at stage counts drawn from this list, e.g. '1,2,2.25,2.25,3' (repeat one to draw it more often), instead of greedy codes at whole stage counts."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Data-loading processes beside the training step (default: one per two cores; 0: none).", show_default=False),
    quiet: bool = typer.Option(False, "-q", "--quiet"),
) -> None:
    """Train a VQ-VAE and its prior.

    \b
    On one GPU:   vqcodec train speech --data D --out m.safetensors --device cuda --precision bf16
    On 2 nodes x 8 GPUs (run on each node, NODE = 0 or 1):
      torchrun --nnodes 2 --node_rank NODE --nproc_per_node 8 --rdzv_backend c10d \\
        --rdzv_endpoint HOST0:29500 -m cli.main train speech --data D --out m.safetensors --device cuda
    """
    from vqcodec.kinds import KINDS

    if kind not in KINDS:
        fail(f"unknown kind {kind!r}: use {' or '.join(map(repr, KINDS))}", 1)
    from vqcodec.quantizers import KINDS as QUANTIZERS

    if quantizer not in QUANTIZERS:
        fail(f"unknown quantizer {quantizer!r}: use {', '.join(QUANTIZERS)}", 1)
    if workers is not None and not 0 <= workers <= 64:
        fail(f"--workers {workers} is out of range (0..64)", 1)
    if precision not in ("32", "bf16", "16-mixed"):
        fail(f"unknown precision {precision!r}: use 32, bf16 or 16-mixed", 1)
    if device not in ("auto", "cpu", "cuda"):
        fail(f"unknown --device {device!r}: use auto, cpu or cuda", 1)
    counts = {"--steps": steps, "--prior-steps": prior_steps, "--stop-after": stop_after}
    for name, value in counts.items():  # before any work: these fail at the first step or not at all
        if value is not None and value < 0:
            fail(f"{name} {value} is negative", 1)
    for name, value in {"--batch": batch, "--checkpoint-every": checkpoint_every,
                        "--prior-examples": prior_examples}.items():
        if value is not None and value < 1:
            fail(f"{name} {value}: give at least 1", 1)
    if not (math.isfinite(lr) and lr > 0):
        fail(f"--lr {lr}: give a positive learning rate", 1)
    for name, value in {"--ae-minutes": ae_minutes, "--prior-minutes": prior_minutes}.items():
        if value is not None and not (math.isfinite(value) and value >= 0):
            fail(f"{name} {value}: give a positive budget, or 0 for none", 1)
    try:
        overrides = json.loads(config) if config else {}
    except json.JSONDecodeError as exc:
        fail(f"--config is not valid JSON ({exc.msg})", 1)
    from vqcodec.errors import UsageError
    from vqcodec.train.warmstart import only_parts

    try:
        parts = only_parts(only)
    except UsageError as exc:
        fail(str(exc), 1)
    if parts and not init:
        fail(f"--only {only} fine-tunes a trained model: give --init", 1)
    prior_opts = {"--prior-steps": prior_steps, "--prior-examples": prior_examples,
                  "--prior-minutes": prior_minutes}
    given = [name for name, value in prior_opts.items() if value is not None]
    if parts and given:
        fail(f"{given[0]}: --only {only} keeps the prior of --init (the codebooks do not change)", 1)
    if (adversarial or gan_config) and kind != "speech":
        fail("--adversarial is for speech models", 1)
    if narrowband and kind != "speech":
        fail("--narrowband is for speech models", 1)
    if not 0 <= narrowband <= 1:
        fail("--narrowband is a share: 0 to 1", 1)
    parent = Path(out).resolve().parent
    if not parent.is_dir():
        fail(f"--out {out}: directory {parent} does not exist", 4)
    if Path(out).is_dir():
        fail(f"--out {out} is a directory; name the model file to write", 4)
    coded = ()
    if codec_stages is not None:
        if kind != "speech":
            fail("--codec-stages is for speech models", 1)
        if parts != ("decoder",):
            fail("--codec-stages trains a speech decoder alone: give --only decoder", 1)
        try:
            coded = tuple(float(v) for v in codec_stages.split(","))
        except ValueError:
            fail(f"--codec-stages: {codec_stages!r} is not a comma-separated list of stage counts", 1)
        if not all(v >= 1 and math.isfinite(v) for v in coded):  # the model's top: by the trainer
            fail(f"--codec-stages: {codec_stages!r} has a stage count below 1 or not finite", 1)
    try:
        gan_overrides = json.loads(gan_config) if gan_config else {}
    except json.JSONDecodeError as exc:
        fail(f"--gan-config is not valid JSON ({exc.msg})", 1)
    import dataclasses

    from vqcodec.networks.discriminators import GanConfig

    unknown = set(gan_overrides) - {f.name for f in dataclasses.fields(GanConfig)}
    if unknown:
        fail(f"--gan-config: unknown field {sorted(unknown)[0]!r}", 1)
    gan = GanConfig(**gan_overrides) if adversarial or gan_overrides else None
    from vqcodec import kinds

    if not isinstance(overrides, dict):
        fail("--config: give a JSON object of model settings", 1)
    modality = kinds.get(kind)
    try:  # an unknown or invalid setting: one line now, not an internal error at the start
        cfg = modality.config({**modality.training_defaults, **overrides})
    except (TypeError, ValueError) as exc:
        fail(f"--config: {exc}", 1)
    if kind == "speech":  # the default stage count must be one compress codes
        top, given = cfg.stages, cfg.default_stages
        if "default_stages" not in overrides and given > top:
            overrides = {**overrides, "default_stages": top}  # a 1-stage model codes 1
        elif isinstance(given, bool) or not isinstance(given, (int, float)) \
                or not 1 <= given <= top:
            fail(f"--config: default_stages {given!r} is not between 1 and the model's {top} "
                 "stages", 1)
    from vqcodec.train.trainer import TrainOptions
    from vqcodec.train.trainer import train as run_training

    from .progress import TrainingProgress

    prior_steps = (0 if parts else 10000) if prior_steps is None else prior_steps
    prior_examples = 2000 if prior_examples is None else prior_examples
    prior_minutes = prior_minutes or 0.0
    opts = TrainOptions(kind, data, Path(out), steps=steps, prior_steps=prior_steps, batch=batch,
                        lr=lr, quantizer=quantizer, seed=seed, device=device, precision=precision,
                        resume=resume, checkpoint_every=checkpoint_every, val_data=val_data,
                        model=overrides, crop=crop, seconds=seconds, prior_examples=prior_examples,
                        ae_minutes=ae_minutes, prior_minutes=prior_minutes, stop_after=stop_after,
                        init=init, gan=gan, workers=workers, only=only, narrowband=narrowband, codec_stages=coded)
    err = _err()
    ckpt = Path(str(out) + ".ckpt")
    if resume and not ckpt.exists():
        print(f"vqcodec: no checkpoint {ckpt} to resume: starting from the first step",
              file=sys.stderr)
    # One process: a signal stops it between steps, after a checkpoint. Under torchrun the
    # ranks would stop after different steps, so a signal ends them at once, as it did.
    graceful = int(os.environ.get("WORLD_SIZE", "1")) == 1
    with StopBetweenSteps() if graceful else nullcontext() as stop, \
            TrainingProgress(err, enabled=not quiet) as progress:
        summary = run_training(opts, progress.update, stop)
    if stop is not None and stop.signum is not None:
        where = (f"stopped at {summary['stage']} step {summary['stopped_at']}; continue with "
                 f"--resume from {summary['checkpoint']}") if "stopped_at" in summary \
            else f"the run had ended: {out} is written"
        print(f"vqcodec: interrupted: {where}", file=sys.stderr)
        raise typer.Exit(128 + stop.signum)
    if quiet or not summary:
        return
    from .progress import print_summary

    print_summary(err, summary)
