#!/usr/bin/env python3
"""What the speech decoder's pitch postfilter buys: every clip of a folder compressed once per
stage count, decoded with and without the postfilter (`decompress --no-postfilter`), and both
scored against the clip (PESQ-nb on 8 kHz copies, STOI at 16 kHz). The measurement behind
vqcodec/codec/postfilter.py (docs/RESULTS.md, twelfth session):

  python samples/recipes/postfilter_gain.py data/real/val [--stages 1,2.25,3] [--every 1]

`--stream` codes as `compress --stream` does (200 ms chunks, the low-latency schedule, where the
postfilter filters each chunk's end against the decoder's guessed continuation).
"""
from __future__ import annotations

import argparse
import io
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from vqcodec.eval.speech_metrics import clip_means  # noqa: E402
from vqcodec.train.data import AUDIO_EXT, find_files, load_mono  # noqa: E402


def one(path: str, model: str, stages: list[float], stream: bool) -> dict:
    from vqcodec import api, threads
    from vqcodec.eval.speech_metrics import pesq_score, stoi_score
    from vqcodec.media import AudioInfo
    from vqcodec.runtime.resample import resample

    threads.configure(1)
    x = load_mono(path, 16000).astype(np.float32)
    ref8 = resample(x, 16000, 8000)
    out = {}
    for s in stages:
        buf = io.BytesIO()
        api.compress_audio_to(iter([x[:, None]]), AudioInfo(16000, 1, len(x)), buf, model, s,
                              **(dict(chunk_frames=10, low_latency=True) if stream else {}))
        for pf in (False, True):
            y = api.decompress(buf.getvalue(), model, postfilter=pf)[0][: len(x), 0]
            out[s, pf] = (pesq_score(8000, ref8, resample(y, 16000, 8000)),
                          stoi_score(x, y, 16000), len(buf.getvalue()) * 8, len(x) / 16000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder")
    ap.add_argument("--stages", default="1,2.25,3", help="stage counts, comma-separated")
    ap.add_argument("--every", type=int, default=1, help="every n-th clip (sorted by name)")
    ap.add_argument("--model", default="speech-default")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--stream", action="store_true", help="as compress --stream codes")
    args = ap.parse_args()
    stages = [float(s) for s in args.stages.split(",")]
    files = [str(f) for f in find_files(args.folder, AUDIO_EXT)[:: args.every]]
    with ProcessPoolExecutor(args.jobs) as ex:
        n = len(files)
        res = list(ex.map(one, files, [args.model] * n, [stages] * n, [args.stream] * n))
    minutes = sum(next(iter(r.values()))[3] for r in res) / 60
    print(f"{len(res)} clips, {minutes:.1f} min; PESQ-nb / STOI @ kbit/s (pooled file sizes); "
          "clips where a metric is undefined are left out of its mean")
    print(f"{'stages':>7} | {'without postfilter':>24} | {'with postfilter':>24} | difference")
    for s in stages:
        means = [clip_means([r[s, pf] for r in res]) for pf in (False, True)]
        cells = [f"{p:.3f} / {q:.4f} @ {rate:.3f}" for p, q, rate in means]
        print(f"{s:>7g} | {cells[0]:>24} | {cells[1]:>24} | "
              f"{means[1][0] - means[0][0]:+.3f} / {means[1][1] - means[0][1]:+.4f}")


if __name__ == "__main__":
    main()
