"""Quantizer benchmark: STE, EMA and NSVQ trained on the same small image and speech tasks.

Each (task, quantizer, seed) trains a small autoencoder only (no prior, nothing written) with the
project's `Trainer.ae_step`, and every `log_every` steps measures a fixed held-out batch:
reconstruction loss, quantisation MSE, relative quantisation error and perplexity. At the end it
also measures how well one codebook update points along the true descent direction of the
hard-quantised reconstruction loss. Results are aggregated as mean and std across seeds.
"""

from __future__ import annotations

import copy
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .. import kinds
from ..eval.metrics import health_from_indices
from ..train.losses import MultiResolutionSTFTLoss
from ..quantizers import KINDS as QUANTIZER_KINDS
from ..train.trainer import Trainer, TrainOptions

QUANTIZERS = tuple(QUANTIZER_KINDS)
TASKS = ("image", "speech")
SMALL_IMAGE = {"widths": [16, 32, 64, 64], "latent_dim": 16, "codebook_size": 256, "blocks": 1,
               "prior": {"codebook_size": 256, "channels": 16, "layers": 2}}
SMALL_SPEECH = {"width": 64, "dec_blocks": 2, "latent_dim": 16, "codebook_size": 256, "stages": 1,
                "default_stages": 1,
                "prior": {"codebook_size": 256, "stages": 1, "channels": 16, "dilations": [1, 2]}}
TRAIN_SHAPE = {"image": {"batch": 16, "crop": 32}, "speech": {"batch": 8, "seconds": 0.5}}
CURVE_METRICS = ("rec", "qmse", "rel_qerr", "perplexity")  # held-out, per logged step
FINAL_METRICS = ("quality", "rec", "qmse", "rel_qerr", "rel_qerr_var", "perplexity", "dead",
                 "cb_align", "seconds")


def heldout_batch(kind: str, source: str | Path, n: int, size: float) -> torch.Tensor:
    """A fixed seeded batch, the same for every run: n crops of `size` px or n `size`-s segments."""
    return kinds.get(kind).data(source, size, seed=1234, augment=False).batch(n)


def latents(net, kind: str, x: torch.Tensor) -> torch.Tensor:
    """Encoder output before quantisation, (B, D, *spatial)."""
    return kinds.get(kind).latents(net, x)


def synthesize(net, kind: str, q: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return kinds.get(kind).synthesize(net, q, x)


def rec_loss(kind: str, y: torch.Tensor, x: torch.Tensor,
             stft: MultiResolutionSTFTLoss) -> torch.Tensor:
    """The training reconstruction loss: MSE on [-1, 1] pixels, multi-resolution STFT on speech."""
    return kinds.get(kind).reconstruction_loss(y, x, stft)


@torch.no_grad()
def measure(net, kind: str, x: torch.Tensor, stft: MultiResolutionSTFTLoss) -> dict[str, float]:
    """Held-out metrics with hard (inference) quantisation."""
    net.eval()
    z = latents(net, kind, x)
    q, idx, _, qmse = net.quantizer(z)
    y = synthesize(net, kind, q, x)
    zf = z.movedim(1, -1).reshape(-1, z.shape[1])  # (N, D)
    err = (z - q).pow(2).sum()
    out = {"rec": float(rec_loss(kind, y, x, stft)), "qmse": float(qmse),
           "rel_qerr": float(err / zf.pow(2).sum()),
           "rel_qerr_var": float(err / (zf - zf.mean(0)).pow(2).sum())}
    health = health_from_indices(idx[:, 0], net.quantizer.stages[0].codebook_size)
    out.update(perplexity=health["perplexity"], dead=health["dead"])
    out["quality"] = kinds.get(kind).quality(y, x, out["rec"])  # PSNR dB; speech: MR-STFT loss
    return out


def codebook_alignment(net, kind: str, x: torch.Tensor, stft: MultiResolutionSTFTLoss,
                       draws: int = 4) -> float:
    """Cosine between one training update of the used codes and the true descent direction.

    The true direction is -d/dC of the reconstruction loss with hard codes C[idx] (assignments are
    locally constant in C). STE/NSVQ updates are -grad of their training loss; EMA's is the change
    one EMA step makes. Averaged over `draws` forward passes (NSVQ's noise differs per draw).
    """
    probe = copy.deepcopy(net)
    stage = probe.quantizer.stages[0]
    stage.dead_after = 0  # no restarts inside the probe
    if hasattr(stage, "replace_every"):
        stage.replace_every = 0
    probe.eval()
    with torch.no_grad():
        z = latents(probe, kind, x)
    flat = z.movedim(1, -1).reshape(-1, z.shape[1])
    idx = stage.nearest(flat)
    codes = stage.codebook.detach().clone().requires_grad_(True)
    q = codes[idx].reshape(*z.movedim(1, -1).shape).movedim(-1, 1)
    true = -torch.autograd.grad(rec_loss(kind, synthesize(probe, kind, q, x), x, stft), codes)[0]
    used = torch.bincount(idx, minlength=len(codes)) > 0
    probe.train()
    cosines = []
    for _ in range(draws):
        before = stage.codebook.detach().clone()
        if stage.codebook.requires_grad:  # STE, NSVQ
            y, _, aux, _ = probe(x)
            step = -torch.autograd.grad(rec_loss(kind, y.float(), x, stft) + aux, stage.codebook)[0]
        else:  # EMA: the forward pass itself moves the codebook
            with torch.no_grad():
                probe(x)
            step = stage.codebook.detach() - before
            stage.codebook.data.copy_(before)
        cos = F.cosine_similarity(step[used].flatten(), true[used].flatten(), dim=0)
        cosines.append(float(cos))
    return float(np.mean(cosines))


def train_run(kind: str, data: str | Path, quantizer: str, seed: int, steps: int, log_every: int,
              heldout: torch.Tensor, overrides: dict | None = None,
              val: str | Path | None = None) -> dict:
    """Train one small autoencoder; returns its held-out curve and final metrics.

    `val` only spares the Trainer loading `data` twice; the measurements use `heldout`.
    """
    small = SMALL_IMAGE if kind == "image" else SMALL_SPEECH
    with tempfile.TemporaryDirectory() as tmp:
        opts = TrainOptions(kind, str(data), Path(tmp) / "bench", steps=steps, quantizer=quantizer,
                            seed=seed, device="cpu", model=dict(small, **(overrides or {})),
                            val_data=str(val) if val else None, **TRAIN_SHAPE[kind])
        trainer = Trainer(opts)  # it logs into tmp: keep it while training
        stft = MultiResolutionSTFTLoss(16000)
        curve: dict[str, list] = {"step": [], "train_rec": [], "train_qmse": [],
                                  **{m: [] for m in CURVE_METRICS}}
        window: list[dict] = []
        t0 = time.time()
        for step in range(1, steps + 1):
            window.append(trainer.ae_step())
            trainer.step = step
            if step % log_every == 0 or step == steps:
                held = measure(trainer.net, kind, heldout, stft)
                curve["step"].append(step)
                curve["train_rec"].append(float(np.mean([w["rec"] for w in window])))
                curve["train_qmse"].append(float(np.mean([w["qerr"] for w in window])))
                for m in CURVE_METRICS:
                    curve[m].append(held[m])
                window = []
        seconds = time.time() - t0
        trainer.batches.close()
        final = measure(trainer.net, kind, heldout, stft)
        probe = heldout[: TRAIN_SHAPE[kind]["batch"]]  # a training-sized batch
        final["cb_align"] = codebook_alignment(trainer.net, kind, probe, stft)
        final["seconds"] = seconds
    return {"seed": seed, "curve": curve, "final": final}


def steps_to_reach(curve: dict, target: float) -> int | None:
    """First logged step whose held-out reconstruction loss is at or below target."""
    return next((s for s, r in zip(curve["step"], curve["rec"]) if r <= target), None)


def spread(values: list[float]) -> dict:
    v = np.asarray([x for x in values if x is not None], dtype=float)
    return {"mean": float(v.mean()) if len(v) else None,
            "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0, "values": list(values)}


def band(series: list[list[float]]) -> dict[str, list[float]]:
    """Mean and std (across seeds) of equally long curves."""
    a = np.asarray(series, dtype=float)  # (seeds, points)
    return {"mean": a.mean(0).tolist(), "std": a.std(0, ddof=1 if len(a) > 1 else 0).tolist()}


def summarise(runs: dict) -> tuple[dict, dict, dict]:
    """Per task: summary (mean/std of finals), mean/std curves, and the convergence targets.

    Two targets on the held-out reconstruction loss: 1.1 x the best quantizer's mean final loss
    ("best": who gets near the winner, and when) and 1.1 x the worst one's ("common": a level
    every quantizer reaches, so the steps compare speed alone).
    """
    summary, curves, targets = {}, {}, {}
    for task, by_q in runs.items():
        finals = {q: {m: [r["final"][m] for r in rs] for m in FINAL_METRICS}
                  for q, rs in by_q.items()}
        means = [float(np.mean(f["rec"])) for f in finals.values()]
        targets[task] = {"best": 1.1 * min(means), "common": 1.1 * max(means)}
        summary[task], curves[task] = {}, {}
        for q, rs in by_q.items():
            summary[task][q] = {m: spread(v) for m, v in finals[q].items()}
            for name, target in targets[task].items():
                reach = [steps_to_reach(r["curve"], target) for r in rs]
                summary[task][q][f"steps_to_{name}"] = dict(
                    spread(reach), reached=sum(s is not None for s in reach))
            curves[task][q] = {k: band([r["curve"][k] for r in rs]) for k in rs[0]["curve"]
                               if k != "step"}
            curves[task][q]["step"] = rs[0]["curve"]["step"]
    return summary, curves, targets


def run_benchmark(image_data: str | Path, speech_data: str | Path, seeds=(0, 1, 2),
                  steps: int | dict[str, int] = 600, quick: bool = False,
                  image_val: str | Path | None = None, speech_val: str | Path | None = None,
                  points: int = 20, progress=print) -> dict:
    """Train every (task, quantizer, seed) and return runs, summaries, curves and settings.

    `steps` is one count or {"image": n, "speech": m}; the held-out batch is measured `points`
    times per run. `*_val` are held-out folders (default: a differently seeded batch from the
    training data). `quick` shrinks the held-out batches, for tests.
    """
    steps = steps if isinstance(steps, dict) else {t: steps for t in TASKS}
    log_every = {t: max(1, steps[t] // points) for t in TASKS}
    sources = {"image": (image_data, image_val), "speech": (speech_data, speech_val)}
    shape = {"image": (8, 64) if quick else (32, 64), "speech": (4, 1.0) if quick else (32, 1.0)}
    runs: dict = {}
    for task in TASKS:
        data, val = sources[task]
        heldout = heldout_batch(task, val or data, *shape[task])
        runs[task] = {}
        for q in QUANTIZERS:
            runs[task][q] = []
            for seed in seeds:
                run = train_run(task, data, q, seed, steps[task], log_every[task], heldout,
                                val=val)
                runs[task][q].append(run)
                f = run["final"]
                progress(f"{task:6s} {q:4s} seed {seed}: quality {f['quality']:.3f} "
                         f"qmse {f['qmse']:.4g} rel {f['rel_qerr']:.3f} "
                         f"ppl {f['perplexity']:.1f} ({f['seconds']:.0f} s)")
    summary, curves, targets = summarise(runs)
    settings = {"seeds": list(seeds), "steps": steps, "log_every": log_every,
                "heldout": {t: {"source": str(sources[t][1] or sources[t][0]), "n": shape[t][0],
                                "size": shape[t][1]} for t in TASKS},
                "data": {t: str(sources[t][0]) for t in TASKS}, "train_shape": TRAIN_SHAPE,
                "models": {"image": SMALL_IMAGE, "speech": SMALL_SPEECH},
                "torch_threads": torch.get_num_threads()}
    return {"settings": settings, "summary": summary, "convergence": targets, "curves": curves,
            "runs": runs}


def _fmt(s: dict, digits: int) -> str:
    return "n/a" if s["mean"] is None else f"{s['mean']:.{digits}f} ± {s['std']:.{digits}f}"


def markdown_table(result: dict) -> str:
    """One row per task and quantizer: mean ± std across seeds of the final metrics."""
    rows = ["| task | quantizer | quality | held-out rec loss | quant MSE | rel. quant err | "
            "perplexity | dead codes | steps to common target | steps to best target | "
            "codebook update cos |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for task, by_q in result["summary"].items():
        unit = "PSNR dB ↑" if task == "image" else "MR-STFT ↓"
        for q, s in by_q.items():
            reach = [f"{_fmt(st, 0)} ({st['reached']}/{len(st['values'])})"
                     for st in (s["steps_to_common"], s["steps_to_best"])]
            cells = [task, q, f"{_fmt(s['quality'], 2)} ({unit})", _fmt(s["rec"], 4),
                     _fmt(s["qmse"], 4), _fmt(s["rel_qerr"], 3), _fmt(s["perplexity"], 1),
                     _fmt(s["dead"], 1), *reach, _fmt(s["cb_align"], 2)]
            rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def plot_curves(result: dict, path: str | Path) -> None:
    """Held-out learning curves, mean ± std across seeds: a row per task, a panel per metric."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    titles = {"rec": "held-out rec loss", "qmse": "held-out quant MSE",
              "rel_qerr": "relative quant error", "perplexity": "perplexity"}
    colours = {"ste": "tab:blue", "ema": "tab:orange", "nsvq": "tab:green"}
    tasks = list(result["curves"])
    cols = len(CURVE_METRICS)
    fig, axes = plt.subplots(len(tasks), cols, figsize=(4 * cols, 3.2 * len(tasks)), squeeze=False)
    for row, task in zip(axes, tasks):
        for ax, m in zip(row, CURVE_METRICS):
            for q, c in result["curves"][task].items():
                step, mean, std = np.array(c["step"]), np.array(c[m]["mean"]), np.array(c[m]["std"])
                ax.plot(step, mean, color=colours.get(q), label=q)
                ax.fill_between(step, mean - std, mean + std, color=colours.get(q), alpha=0.2)
            positive = all(min(c[m]["mean"]) > 0 for c in result["curves"][task].values())
            if m in ("rec", "qmse") and positive:
                ax.set_yscale("log")
            ax.set_title(f"{task}: {titles[m]}", fontsize=10)
            ax.set_xlabel("step")
            ax.grid(alpha=0.3)
        row[0].legend()
    n = len(result["settings"]["seeds"])
    fig.suptitle(f"STE vs EMA vs NSVQ, mean ± std over {n} seed{'s' * (n > 1)}", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
