#!/usr/bin/env python3
"""The validation speakers under three recording conditions the clean clips do not have, to
see whether vqcodec's figures against Codec2 hold off the studio (docs/RESULTS.md, twenty-first
session). For every clip of SRC, one copy in each folder of DST:

- `noise20/`: pink noise added at 20 dB SNR (the clip's mean power over the noise's),
  scaled down as a whole if a peak would clip;
- `reverb/`: sox's `reverb 50 50 60` (a medium room), normalised to -3 dBFS peak, with sox's
  dither made repeatable (`-R`);
- `quiet/`: scaled to -35 dBFS RMS, as a far or badly set microphone records it.

The noise is drawn from a fixed seed, so the copies are the same on every run. Needs sox.

    python samples/recipes/make_val_conditions.py data/real/val /tmp/conditions
    vqcodec eval speech /tmp/conditions/noise20 --stages 1,1.5,2.5 --json -j 2 > noise20.json
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

SNR_DB = 20.0
QUIET_DBFS = -35.0
REVERB = ["reverb", "50", "50", "60", "norm", "-3"]
CONDITIONS = ("noise20", "reverb", "quiet")


def pink(n: int, rng: np.random.Generator) -> np.ndarray:
    """n samples of pink (1/f power) noise: white noise shaped in the frequency domain."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spec), dtype=np.float64)
    f[0] = 1.0
    return np.fft.irfft(spec / np.sqrt(f), n)


def with_noise(x: np.ndarray, rng: np.random.Generator, snr_db: float = SNR_DB) -> np.ndarray:
    noise = pink(len(x), rng)
    y = x + noise * np.sqrt(np.mean(x ** 2) / np.mean(noise ** 2) / 10 ** (snr_db / 10))
    peak = np.max(np.abs(y))
    return y * (0.9 / peak) if peak > 0.99 else y


def quiet(x: np.ndarray, dbfs: float = QUIET_DBFS) -> np.ndarray:
    rms = np.sqrt(np.mean(x ** 2))
    return x * (10 ** (dbfs / 20) / rms) if rms > 0 else x


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("src", help="a folder of speech clips (wav or flac)")
    ap.add_argument("dst", help="the folder that gets noise20/, reverb/ and quiet/")
    ap.add_argument("--seed", type=int, default=21)
    args = ap.parse_args()
    if shutil.which("sox") is None:
        sys.exit("make_val_conditions: needs sox")
    src, dst = Path(args.src), Path(args.dst)
    for c in CONDITIONS:
        (dst / c).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    files = sorted(p for p in src.iterdir() if p.suffix.lower() in (".wav", ".flac"))
    skipped = 0
    for f in files:
        try:
            x, rate = sf.read(f, dtype="float64", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as exc:
            print(f"make_val_conditions: skipped {f.name}: {exc}", file=sys.stderr)
            skipped += 1
            continue
        x = x.mean(axis=1)
        if not np.any(x):
            print(f"make_val_conditions: skipped {f.name}: silent", file=sys.stderr)
            skipped += 1
            continue
        name = f.stem + ".flac"
        sf.write(dst / "noise20" / name, with_noise(x, rng), rate)
        sf.write(dst / "quiet" / name, quiet(x), rate)
        subprocess.run(["sox", "-R", "-V1", str(f), str(dst / "reverb" / name), *REVERB], check=True)
    print(f"make_val_conditions: {len(files) - skipped} clips in each of "
          f"{', '.join(str(dst / c) for c in CONDITIONS)}; {skipped} skipped")


if __name__ == "__main__":
    main()
