#!/usr/bin/env python3
"""Start-up time and memory of `vqcodec train` on corpora far larger than the bundled ones.

Builds (once, under --work) the corpora of issue 15's targets:
  speech/  400 WAV files of 3 minutes, 16 kHz mono int16 (20 hours, 2.3 GB), cut from the
           clips of a pack (default data/speech_mix.npy) or, without one, synthetic tones
  photos/  600 JPEG photos of 1600x1200 made from the photos in --photos (random crops,
           scales and flips of data/images/train by default)
then runs `python -m cli.main train KIND ...` from --code (this checkout by default; another
checkout measures an older version) and reports:
  first_step_starts_s  whole-process seconds until the first batch is ready and the first
                step begins (the "ready" record of the training log; older versions lack it)
  first_step_ends_s    ... until the first step has ended (`--stop-after 1`: the run
                checkpoints and exits right after it)
  peak_pss_mb   the largest total proportional set size of the process and its data workers
                (shared pages counted once), sampled every 0.1 s
  data_wait     with --steps N: the share of the autoencoder stage spent waiting for batches

  python samples/recipes/bench_training_data.py --work /tmp/big --kind speech --steps 60
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def make_speech(out: Path, pack: Path, files: int = 400, seconds: int = 180, rate: int = 16000) -> None:
    import soundfile as sf

    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    src = np.load(pack, mmap_mode="r") if pack.exists() else None
    for i in range(files):
        path = out / f"{i:03d}.wav"
        if path.exists():
            continue
        n = seconds * rate
        if src is not None:
            a = int(rng.integers(len(src) - n))
            x = np.asarray(src[a: a + n])
        else:
            t = np.arange(n) / rate
            x = (3000 * np.sin(2 * np.pi * (120 + 40 * np.sin(t)) * t)).astype(np.int16)
        sf.write(path, x, rate, subtype="PCM_16")


def make_photos(out: Path, photos: Path, count: int = 600, size=(1600, 1200)) -> None:
    from PIL import Image

    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    sources = sorted(p for p in photos.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    for i in range(count):
        path = out / f"{i:03d}.jpg"
        if path.exists():
            continue
        im = Image.open(sources[i % len(sources)]).convert("RGB")
        scale = max(size[0] / im.width, size[1] / im.height) * rng.uniform(1.0, 1.3)
        im = im.resize((int(im.width * scale) + 1, int(im.height * scale) + 1), Image.Resampling.BILINEAR)
        x, y = int(rng.integers(im.width - size[0] + 1)), int(rng.integers(im.height - size[1] + 1))
        im = im.crop((x, y, x + size[0], y + size[1]))
        if rng.random() < 0.5:
            im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        im.save(path, quality=90)


def tree_pss_kb(pid: int) -> int:
    """Proportional set size of a process and all its descendants, in kB."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            for line in open(f"/proc/{p}/smaps_rollup"):
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
            for task in os.listdir(f"/proc/{p}/task"):
                todo += [int(c) for c in open(f"/proc/{p}/task/{task}/children").read().split()]
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


def _hwm_kb(pid: int) -> int:
    """The peak resident set size of one process so far (VmHWM), in kB."""
    try:
        return int(next(line for line in open(f"/proc/{pid}/status") if line.startswith("VmHWM:")).split()[1])
    except (FileNotFoundError, StopIteration):
        return 0


def run(code: Path, args: list[str], env: dict, log: Path) -> dict:
    t0, ready = time.perf_counter(), None
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", *args], cwd=code, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = hwm = 0
    while proc.poll() is None:
        peak = max(peak, tree_pss_kb(proc.pid))
        hwm = max(hwm, _hwm_kb(proc.pid))
        if ready is None and log.exists() and '"ready"' in log.read_text():
            ready = round(time.perf_counter() - t0, 1)
        time.sleep(0.1)
    err = proc.stderr.read().decode()
    if proc.returncode:
        raise SystemExit(f"training failed ({proc.returncode}): {err[-500:]}")
    return {"seconds": round(time.perf_counter() - t0, 1), "peak_pss_mb": round(peak / 1024),
            "main_peak_rss_mb": round(hwm / 1024),
            "ready_s": ready}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, required=True, help="where the large corpora are made")
    ap.add_argument("--kind", choices=["speech", "image"], required=True)
    ap.add_argument("--code", type=Path, default=ROOT, help="the checkout whose `vqcodec train` runs")
    ap.add_argument("--pack", type=Path, default=ROOT / "data/speech_mix.npy")
    ap.add_argument("--photos", type=Path, default=ROOT / "data/images/train")
    ap.add_argument("--steps", type=int, default=0, help="also run this many steps for data_wait")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--count", type=int, default=0, help="files to make (default 400 / 600)")
    ap.add_argument("--cli-defaults", action="store_true",
                    help="train with the CLI's default batch and crop, not the bundled models'")
    ap.add_argument("--old", action="store_true", help="--code predates --workers: leave it out")
    args = ap.parse_args()
    data = args.work / ("speech" if args.kind == "speech" else "photos")
    if args.kind == "speech":
        make_speech(data, args.pack, args.count or 400)
        opts = ["--batch", "16", "--seconds", "1.0"]  # the bundled speech model's settings
    else:
        make_photos(data, args.photos, args.count or 600)
        opts = ["--batch", "32", "--crop", "128"]  # the bundled image model's settings
    if args.cli_defaults:
        opts = []
    size_gb = sum(p.stat().st_size for p in data.iterdir()) / 1e9
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    workers = [] if args.old else ["--workers", str(args.workers)]
    result = {"kind": args.kind, "files": len(list(data.iterdir())), "gigabytes": round(size_gb, 2),
              "code": str(args.code), "workers": None if args.old else args.workers,
              "settings": " ".join(opts) or "CLI defaults"}
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "m.safetensors")
        base = ["train", args.kind, "--data", str(data), "--out", out, "--device", "cpu", "-q", *opts, *workers]
        log = Path(out + ".log.jsonl")
        first = run(args.code, [*base, "--steps", "1000", "--stop-after", "1"], env, log)
        result.update(first_step_starts_s=first["ready_s"], first_step_ends_s=first["seconds"],
                      peak_pss_mb=first["peak_pss_mb"], main_peak_rss_mb=first["main_peak_rss_mb"])
        if args.steps:
            Path(out + ".ckpt").unlink(missing_ok=True)
            longer = run(args.code, [*base, "--steps", str(args.steps), "--prior-steps", "1",
                                     "--prior-examples", "16"], env, log)
            log = [json.loads(line) for line in open(out + ".log.jsonl")]
            summary = [r for r in log if r["stage"] == "summary"][0]
            result.update(steps=args.steps, run_s=longer["seconds"], run_peak_pss_mb=longer["peak_pss_mb"],
                          run_main_peak_rss_mb=longer["main_peak_rss_mb"],
                          data_wait_percent=summary.get("data_wait_percent"))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
