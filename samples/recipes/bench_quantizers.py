#!/usr/bin/env python3
"""Train small image and speech autoencoders with STE, EMA and NSVQ over several seeds and compare.

Prints a markdown table (mean ± std across seeds), and writes the full result as JSON and the
held-out learning curves as a PNG. The numbers in docs/QUANTIZERS.md came from:

    python samples/recipes/bench_quantizers.py --seeds 0 1 2 --steps 900 --speech-steps 320 \\
        --out-json docs/quantizers.json --plot docs/quantizers.png

Data (defaults below) is built by the recipes in this folder (see samples/README.md):

    python samples/recipes/make_image_corpus.py --out data/images --seed 0
    python samples/recipes/make_speech_corpus.py --out data/speech --minutes 60 --seed 0

Training uses the `train/` folders; the fixed held-out batches come from `images/test/`
(photographs never trained on) and `speech/val_synth/` (held-out voices and sentences).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from vqcodec.bench_quantizers import markdown_table, plot_curves, run_benchmark, summarise


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--image-data", default="data/images/train")
    ap.add_argument("--speech-data", default="data/speech/train")
    ap.add_argument("--image-val", default="data/images/test",
                    help="held-out images ('' = a differently seeded batch of the training data)")
    ap.add_argument("--speech-val", default="data/speech/val_synth")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--steps", type=int, default=900, help="autoencoder steps per run")
    ap.add_argument("--speech-steps", type=int, default=None,
                    help="speech steps per run (default: --steps)")
    ap.add_argument("--points", type=int, default=20, help="held-out measurements per run")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out-json", type=Path, default=None)
    ap.add_argument("--plot", type=Path, default=None)
    ap.add_argument("--from-json", type=Path, default=None,
                    help="no training: re-summarise the runs saved in this JSON")
    args = ap.parse_args()

    if args.from_json:
        result = json.loads(args.from_json.read_text())
        result["summary"], result["curves"], result["convergence"] = summarise(result["runs"])
    else:
        torch.set_num_threads(args.threads)
        t0 = time.time()
        steps = {"image": args.steps, "speech": args.speech_steps or args.steps}
        result = run_benchmark(args.image_data, args.speech_data, seeds=tuple(args.seeds),
                               steps=steps, image_val=args.image_val or None,
                               speech_val=args.speech_val or None, points=args.points)
        result["settings"]["wall_seconds"] = round(time.time() - t0, 1)
    if args.out_json:
        args.out_json.parent.mkdir(parents=True, exist_ok=True)
        args.out_json.write_text(json.dumps(result, indent=1))
    if args.plot:
        args.plot.parent.mkdir(parents=True, exist_ok=True)
        plot_curves(result, args.plot)
    print()
    print(markdown_table(result))
    for task, c in result["convergence"].items():
        print(f"{task}: convergence targets (held-out rec loss): common <= {c['common']:.4g} "
              f"(1.1 x worst mean final), best <= {c['best']:.4g} (1.1 x best mean final)")
    print(f"wall time {result['settings']['wall_seconds']:.0f} s")


if __name__ == "__main__":
    main()
