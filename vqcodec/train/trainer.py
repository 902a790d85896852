"""Training: the autoencoder, then the prior on its indices, then the frozen integer prior.

Checkpoints (`<out>.ckpt`) hold every state needed to continue exactly: networks, optimisers,
step and the random generators; they load with `torch.load(weights_only=True)`. Progress goes
to a callback (the CLI draws it with rich) and to `<out>.log.jsonl`.
"""

from __future__ import annotations

import json
import math
import random
import time
from pathlib import Path
from typing import Callable

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

from .. import kinds
from ..errors import UsageError
from ..models.modelfile import CODING_KEYS, save_model
from .adversarial import Adversary
from .distributed import init_distributed, pick_device, ranks_identical
from .loader import Batches, default_workers
from .options import TrainOptions
from .warmstart import (codes_base, freeze_codes, keep_codes, only_parts, read_checkpoint,
                        warm_start)

PRIOR_HELD_EXAMPLES = 128  # held-out examples the prior is measured on
PRIOR_HELD_EVERY = 200  # prior steps between those measurements

Progress = Callable[[str, int, int, dict], None]



def build(opts: TrainOptions):
    kind = kinds.get(opts.kind)
    cfg = kind.config({**kind.training_defaults, **opts.model, "quantizer": opts.quantizer})
    return cfg, kind.network(cfg)


class Trainer:
    def __init__(self, opts: TrainOptions, progress: Progress | None = None,
                 stop: Callable[[], bool] | None = None):
        self.rank, self.world = init_distributed(opts.device)
        self.opts = opts
        # asked between steps: True ends the run after a checkpoint, as --stop-after does. One
        # process only: ranks would stop after different steps and wait for each other forever.
        self.stop = stop if self.world == 1 else None
        self.progress = (progress or (lambda *a: None)) if self.rank == 0 else (lambda *a: None)
        torch.manual_seed(opts.seed)  # identical initial weights and stage choices on all ranks
        random.seed(opts.seed)
        self.device = pick_device(opts.device)
        self.cfg, self.net = build(opts)
        check_codec_stages(opts, self.cfg)
        kinds.get(opts.kind).check_example_size(opts, self.cfg)
        self.net.to(self.device)
        data_seed = opts.seed + 1000 * self.rank  # each rank draws its own examples
        self.kind = kinds.get(opts.kind)
        size = self.kind.example_size(opts)
        self.data = self.kind.data(opts.data, size, data_seed, self.cfg, self.rank, self.world)
        self.val = self.kind.data(opts.val_data or opts.data, size, opts.seed + 1, self.cfg,
                                  augment=False)
        self.batches: Batches | None = None
        loss_fn = self.kind.training_loss(self.cfg)
        self.loss_fn = loss_fn.to(self.device) if loss_fn is not None else None
        self.prior = self.kind.float_prior(self.cfg).to(self.device)
        self.adversary = (Adversary(opts.gan, self.cfg.sample_rate, self.device, self.world > 1)
                          if opts.gan else None)
        if opts.init:
            warm_start(opts.init, self.opts.kind, self.cfg, self.net, self.prior, self.adversary,
                       self.device)
        self.frozen, self.base = [], None
        self.parts = only_parts(opts.only)  # () trains everything
        if self.parts:  # the codebooks and the prior stay the base's: its streams stay valid
            self.base = codes_base(opts.init, opts.kind, self.cfg, opts.only)
            # the base's coding (how it codes streams), unless --config or `train` sets it (every
            # image model `train` makes has the detail levels)
            for key in set(CODING_KEYS) - set(opts.model) - set(self.kind.training_defaults):
                if hasattr(self.base.config, key):
                    setattr(self.cfg, key, getattr(self.base.config, key))
            keep_codes(self.net, self.base, self.parts)
            self.frozen = freeze_codes(self.net, self.parts)
        self.train_net, self.train_prior = self.net, self.prior
        if self.world > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.train_net = DDP(self.net, device_ids=ids, find_unused_parameters=True)
            self.train_prior = DDP(self.prior, device_ids=ids)
        trained = [p for p in self.net.parameters() if p.requires_grad]
        self.opt = torch.optim.Adam(trained, lr=opts.lr)
        # float16 needs loss scaling; bf16 and float32 do not
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=opts.precision == "16-mixed")
        self.prior_opt = torch.optim.Adam(self.prior.parameters(), lr=opts.prior_lr)
        self.stage, self.step = "autoencoder", 0
        self.requested = (opts.steps, opts.prior_steps)
        self.ckpt = Path(str(opts.out) + ".ckpt")
        self.log_path = Path(str(opts.out) + ".log.jsonl")
        self.prior_data: torch.Tensor | None = None
        self.prior_held: torch.Tensor | None = None
        self.history: list[dict] = []
        self.data_wait = (0.0, 0.0)  # (seconds waiting for batches, seconds of the stage)

    # -- checkpoints -------------------------------------------------------------------
    def save_checkpoint(self) -> None:
        if self.rank != 0:
            return
        state = {"stage": self.stage, "step": self.step, "planned": [self.opts.steps, self.opts.prior_steps],
                 "requested": list(self.requested), "net": self.net.state_dict(),
                 "prior": self.prior.state_dict(), "opt": self.opt.state_dict(),
                 "prior_opt": self.prior_opt.state_dict(), "torch_rng": torch.get_rng_state(),
                 "py_rng": random.getstate(),
                 "data_rng": json.dumps(self.data.rng.bit_generator.state),
                 "only": self.opts.only, "codec_stages": list(self.opts.codec_stages),
                 "base": self.base.fingerprint.hex() if self.base is not None else ""}
        if self.adversary is not None:
            state.update(self.adversary.state_dict())
        if self.prior_data is not None:  # the prior's examples, so a resumed run sees the same
            state["prior_data"] = self.prior_data.to(torch.int16)
        if self.prior_held is not None:
            state["prior_held"] = self.prior_held.to(torch.int16)
        tmp = self.ckpt.with_name(self.ckpt.name + ".tmp")
        torch.save(state, tmp)
        tmp.replace(self.ckpt)

    def load_checkpoint(self) -> None:
        state = read_checkpoint(self.ckpt, self.device)
        base = self.base.fingerprint.hex() if self.base is not None else ""
        if "only" in state and (state["only"] != self.opts.only or state["base"] != base):
            raise UsageError(f"{self.ckpt} was trained with --only {state['only']}"
                             + (f" from model {state['base'][:8]}" if state.get("base") else "")
                             + "; resume it as it was started")
        if list(state.get("codec_stages", [])) != list(self.opts.codec_stages):
            was = ",".join(f"{v:g}" for v in state.get("codec_stages", [])) or "none"
            raise UsageError(f"{self.ckpt} was trained with --codec-stages {was}; resume it "
                             "as it was started")
        try:
            self.net.load_state_dict(state["net"])
            self.prior.load_state_dict(state["prior"])
        except (KeyError, RuntimeError):  # another kind, --config or --quantizer
            raise UsageError(f"{self.ckpt} holds another model than this run's (another kind, "
                             "--config or --quantizer); resume it as it was started") from None
        if self.base is not None:
            keep_codes(self.net, self.base, self.parts)
        self.opt.load_state_dict(state["opt"])
        self.prior_opt.load_state_dict(state["prior_opt"])
        if self.adversary is not None and "disc" in state:
            self.adversary.load_state_dict(state)
        torch.set_rng_state(state["torch_rng"].cpu())
        random.setstate(_tuples(state["py_rng"]))
        self.data.rng.bit_generator.state = json.loads(state["data_rng"])
        self.stage, self.step = state["stage"], state["step"]
        self._resume_plan([int(v) for v in state["planned"]],
                          [int(v) for v in state.get("requested", state["planned"])])
        if "prior_data" in state:
            self.prior_data = state["prior_data"].long().cpu()
        if "prior_held" in state:
            self.prior_held = state["prior_held"].long().cpu()

    def _resume_plan(self, planned: list[int], requested: list[int]) -> None:
        """The same request continues the saved plan (a time budget may have shortened it); a
        new --steps / --prior-steps is the new plan, unless the stage it names is over."""
        if list(self.requested) == requested:
            self.opts.steps, self.opts.prior_steps = planned
            return
        if self.stage == "prior" and self.opts.steps != planned[0]:
            raise UsageError(f"the checkpoint finished the autoencoder after {planned[0]} steps; "
                             f"--steps {self.opts.steps} cannot change that (use --steps {planned[0]})")

    def open_batches(self) -> None:
        """Training batches from this step on, made by --workers processes."""
        workers = default_workers() if self.opts.workers is None else self.opts.workers
        self.batches = Batches(self.data, self.opts.batch, self.step, workers)

    def warn_skipped(self, bad: dict[str, str]) -> None:
        """Report unreadable training files (they are skipped, and counted in the summary)."""
        for source, reason in bad.items():
            self.log({"stage": "skipped", "source": source, "reason": reason})
            self.progress("warning", 0, 0, {"message": f"skipped {source}: {reason}"})

    def log(self, record: dict) -> None:
        if self.rank != 0:
            return
        self.history.append(record)
        with open(self.log_path, "a") as f:
            f.write(json.dumps(record) + "\n")

    # -- the two stages ----------------------------------------------------------------
    def autocast(self):
        dtype = {"bf16": torch.bfloat16, "16-mixed": torch.float16}.get(self.opts.precision)
        return torch.autocast(self.device.type, dtype=dtype, enabled=dtype is not None)

    def ae_step(self) -> dict:
        self.net.train()
        for m in self.frozen:  # no codebook updates, restarts or k-means on frozen parts
            m.eval()
        first = self.batches is None
        if first:
            self.open_batches()
        x, bad = next(self.batches)
        if first:  # when the first step could begin (start-up cost, measured by the benchmark)
            self.log({"stage": "ready", "step": self.step})
        self.warn_skipped(bad)
        x = x.to(self.device)
        heard = x
        if self.opts.narrowband:
            from .augment import band_limit

            heard = band_limit(x, self.opts.narrowband, self.data.rng, self.cfg.sample_rate)
        given = {}
        if self.opts.codec_stages:  # the decoder alone, on what streams carry
            with torch.no_grad():
                heard, x, given["quantized"] = self.kind.codec_view(
                    self.net, heard, x, self.opts.codec_stages, self.data.rng,
                    self.base.prior if self.base is not None else None)
        with self.autocast():
            y, _, vq_loss, err = self.train_net(heard, **given)
        y = y.float()
        rec = self.kind.reconstruction_loss(y, x, self.loss_fn)
        loss = rec + vq_loss.float()
        out = {}
        if self.adversary is not None and self.adversary.active(self.step):
            term, out = self.adversary.step(x, y, self.data.rng, self.autocast, self.scaler)
            loss = loss + term
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.opt)
        torch.nn.utils.clip_grad_norm_(self.net.parameters(), 1.0)
        _set_lr(self.opt, self.opts.lr, self.step, self.opts.steps)
        self.scaler.step(self.opt)
        self.scaler.update()
        return {"loss": float(loss.detach()), "rec": float(rec.detach()), "qerr": float(err), **out}


    def indices_for_prior(self, data, count: int) -> torch.Tensor:
        """Encode `count` larger examples of `data` once, for the prior to learn from (the
        training data) or to be measured on (the held-out data)."""
        self.net.eval()
        out = self.kind.prior_examples(self.net, data, self.opts, self.cfg, self.device, count)
        return torch.cat(out)[:count]

    def held_out_examples(self) -> torch.Tensor:
        """The held-out examples the prior is measured on, every stage coded."""
        return self.kind.all_stages(self.indices_for_prior(self.val, PRIOR_HELD_EXAMPLES))

    def encode_prior_data(self) -> None:
        """The prior's training examples and its held-out examples, each encoded once."""
        if self.prior_data is None:
            self.prior_data = self.indices_for_prior(self.data, self.opts.prior_examples)
        if self.prior_held is None:
            self.prior_held = self.held_out_examples()

    @torch.no_grad()
    def held_out_bits(self) -> float:
        """The float prior's bits per index on the held-out examples (--val-data, else fresh
        examples of the training data), every stage coded."""
        self.prior.eval()
        x = self.prior_held
        losses = [self.kind.prior_loss(self.prior(x[i:i + 32].clamp(min=0).to(self.device)).float(),
                                       x[i:i + 32].to(self.device), reduction="sum")
                  for i in range(0, len(x), 32)]
        return float(sum(losses)) / math.log(2) / int((x >= 0).sum())

    def prior_step(self) -> dict:
        self.prior.train()
        data = self.prior_data
        sel = torch.from_numpy(self.data.rng.integers(len(data), size=self.opts.batch))
        x = data[sel].to(self.device)
        x = self.kind.prior_crop(x)
        with self.autocast():
            logits = self.train_prior(x.clamp(min=0))  # -1 (padding) is ignored by the loss
        loss = self.kind.prior_loss(logits.float(), x)
        self.prior_opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.prior_opt)
        torch.nn.utils.clip_grad_norm_(self.prior.parameters(), 1.0)
        _set_lr(self.prior_opt, self.opts.prior_lr, self.step, self.opts.prior_steps)
        self.scaler.step(self.prior_opt)
        self.scaler.update()
        return {"bits_per_index": float(loss.detach()) / math.log(2)}

    def run(self) -> dict:
        if self.opts.resume and self.ckpt.exists():
            self.load_checkpoint()
        elif self.log_path.exists() and self.rank == 0:
            self.log_path.unlink()
        self.warn_skipped(self.data.bad)  # files found unreadable while scanning the corpus
        t0 = time.time()
        self.ran = 0
        if self.stage == "autoencoder":
            ae_start = time.time()
            try:
                done = self._stage(self.ae_step, "steps", self.opts.ae_minutes)
            finally:
                if self.batches is not None:
                    self.batches.close()
            waited = self.batches.waited if self.batches is not None else 0.0
            self.data_wait = (waited, time.time() - ae_start)
            if not done:
                return self._stopped()
            self.stage, self.step = "prior", 0
            self.save_checkpoint()
        if self.base is not None:  # the codes are the base's, and so is the prior
            self.opts.prior_steps = 0
            self.prior_held = self.held_out_examples()
        else:
            self.encode_prior_data()
            if not self._stage(self.prior_step, "prior_steps", self.opts.prior_minutes):
                return self._stopped()
            self.save_checkpoint()
        identical = ranks_identical((self.net, self.prior), self.device, self.world)
        if self.rank != 0:
            dist.barrier()
            return {}
        summary = self.finish()
        summary["train_seconds"] = round(time.time() - t0, 1)
        if self.world > 1:
            summary["ranks"], summary["ranks_identical"] = self.world, identical
            self.log({"stage": "distributed", "ranks": self.world, "ranks_identical": identical})
            dist.barrier()
        return summary

    def _stopped(self) -> dict:
        return {"stopped_at": self.step, "stage": self.stage, "checkpoint": str(self.ckpt)}

    def _stage(self, step_fn, steps_field: str, minutes: float) -> bool:
        """Run one stage's steps; False if --stop-after or `stop` ended it early (after a
        checkpoint)."""
        start = time.time()
        while self.step < getattr(self.opts, steps_field):
            if (self.opts.stop_after and self.ran == self.opts.stop_after) or \
                    (self.stop is not None and self.stop()):
                self.save_checkpoint()
                return False
            self.ran += 1
            rec = step_fn()
            self.step += 1
            self._fit_budget(steps_field, minutes, start)
            self._report(self.stage, getattr(self.opts, steps_field), rec)
        return True

    def _fit_budget(self, field_name: str, minutes: float, start: float) -> None:
        """After 200 steps, shrink the planned step count to fit the time budget (once)."""
        if minutes and self.step == 200:
            per_step = (time.time() - start) / 200
            planned = getattr(self.opts, field_name)
            steps = torch.tensor(max(201, min(planned, int(minutes * 60 / per_step))))
            if self.world > 1:  # rank 0 decides, so every rank runs the same number of steps
                dist.broadcast(steps, 0)
            setattr(self.opts, field_name, int(steps))

    def _report(self, stage: str, total: int, rec: dict) -> None:
        rec = {"stage": stage, "step": self.step, **rec}
        if stage == "autoencoder" and self.step % 100 == 0 and not self.frozen:
            rec["codebooks"] = self.net.quantizer.health()
            self.net.quantizer.reset_stats()
        if stage == "prior" and (self.step % PRIOR_HELD_EVERY == 0 or self.step == total):
            rec["held_out_bits_per_index"] = round(self.held_out_bits(), 4)
        if self.step % 10 == 0 or self.step == total:
            self.log(rec)
        self.progress(stage, self.step, total, rec)
        if self.step % self.opts.checkpoint_every == 0:
            self.save_checkpoint()

    # -- summary and export ------------------------------------------------------------
    @torch.no_grad()
    def finish(self) -> dict:
        from ..eval.metrics import health_from_indices, int_prior_bits, prior_bits

        self.net.eval().cpu()
        self.prior.eval().cpu()
        summary: dict = {"kind": self.opts.kind, "quantizer": self.opts.quantizer,
                         "steps": self.opts.steps, "prior_steps": self.opts.prior_steps}
        if self.data_wait[1] > 0:  # share of the autoencoder stage spent waiting for batches
            summary["data_wait_percent"] = round(100 * self.data_wait[0] / self.data_wait[1], 1)
        if self.data.bad:
            summary["skipped_files"] = len(self.data.bad)
        x = self.val.batch(64)
        idx = self.kind.encode(self.net, x, self.cfg)
        y = self.net.decode(idx)
        rec = float(self.kind.reconstruction_loss(y, x, self.loss_fn.cpu() if self.loss_fn else None))
        summary[self.kind.quality_name] = round(self.kind.quality(y, x, rec), 4)
        summary["codebooks"] = [health_from_indices(idx[:, s], self.cfg.codebook_size)
                                for s in range(idx.shape[1])]
        summary["prior_held_out"] = ("--val-data" if self.opts.val_data
                                     else "fresh training examples")
        if self.base is not None:
            n = int((self.prior_held >= 0).sum())
            summary["prior_bits_per_index_int"] = round(
                int_prior_bits(self.opts.kind, self.base.prior, self.prior_held) / n, 4)
            summary["kept_codes"] = {"base": self.base.path.name, "codes": self.base.short_id,
                                     "trained": list(self.parts)}
            fp = save_model(self.opts.out, self.kind.name, self.net, None, {"training": summary},
                            base=self.base, parts=self.parts)
        else:
            int_prior = self.prior.to_integer()
            summary.update(prior_bits(self.opts.kind, self.prior, int_prior, self.prior_held,
                                      self.cfg.codebook_size))
            stages = [self.kind.stage_indices(self.prior_data, s)
                      for s in range(self.kind.stages_of(self.cfg))]
            hist = torch.stack([torch.bincount(v[v >= 0], minlength=self.cfg.codebook_size)
                                for v in stages])
            fp = save_model(self.opts.out, self.kind.name, self.net, int_prior,
                            {"training": summary}, hist)
        summary["fingerprint"] = fp.hex()[:8]
        self.log({"stage": "summary", **summary})
        from .curves import plot_curves

        plot_curves(self.log_path, Path(str(self.opts.out) + ".curves.png"))
        return summary


def check_codec_stages(opts: TrainOptions, cfg) -> None:
    """`--codec-stages`: a speech decoder trained alone, at stage counts the model has."""
    if not opts.codec_stages:
        return
    if opts.kind != "speech":
        raise UsageError("--codec-stages is for speech models")
    if only_parts(opts.only) != ("decoder",):
        raise UsageError("--codec-stages trains a speech decoder alone: give --only decoder")
    for stages in opts.codec_stages:
        if not 1 <= stages <= cfg.stages:  # NaN too
            raise UsageError(f"--codec-stages: {stages:g} is not between 1 and the model's "
                             f"{cfg.stages} stages")


def _set_lr(opt: torch.optim.Optimizer, base: float, step: int, total: int) -> None:
    warm = min(1.0, (step + 1) / max(1, min(500, total // 10)))
    cos = 0.5 * (1 + math.cos(math.pi * min(step, total) / max(1, total)))
    for g in opt.param_groups:
        g["lr"] = base * warm * (0.1 + 0.9 * cos)


def _tuples(x):
    return tuple(_tuples(i) for i in x) if isinstance(x, (list, tuple)) else x


def train(opts: TrainOptions, progress: Progress | None = None,
          stop: Callable[[], bool] | None = None) -> dict:
    """Train both stages and write the model file; returns the closing summary, or where the
    run stopped ({"stopped_at", "stage", "checkpoint"}) when --stop-after or `stop()` (asked
    between steps) ended it first."""
    return Trainer(opts, progress, stop).run()
