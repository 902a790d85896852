#!/usr/bin/env python3
"""What the speech encoder's level control buys: every clip of a folder at its own level and
scaled to several speech levels (the 90th percentile of 20 ms frame RMS, in dBFS), compressed
with and without `--level-control`, decoded, and scored against the scaled clip (PESQ-nb on
8 kHz copies, STOI at 16 kHz) next to the file size. The measurement behind format version 7
(docs/RESULTS.md, eleventh session):

  python samples/recipes/level_gain.py data/real/val [--every 1] [--model M] [--jobs 2]

Decoded with the pitch postfilter unless --no-postfilter (the eleventh session's tables were
measured before it existed).
"""
from __future__ import annotations

import argparse
import io
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from vqcodec.codec.speech import speech_level_db  # noqa: E402
from vqcodec.eval.speech_metrics import clip_means  # noqa: E402
from vqcodec.train.data import AUDIO_EXT, find_files, load_mono  # noqa: E402

LEVELS = (None, -20.0, -25.0, -30.0, -40.0)  # None: the clip as it is


def one(path: str, model: str, postfilter: bool) -> dict:
    from vqcodec import api, threads
    from vqcodec.eval.speech_metrics import pesq_score, stoi_score
    from vqcodec.media import AudioInfo
    from vqcodec.runtime.resample import resample

    threads.configure(1)
    x = load_mono(path, 16000).astype(np.float32)
    out = {}
    for level in LEVELS:
        x0 = x if level is None else x * np.float32(10 ** ((level - speech_level_db(x, 320)) / 20))
        x0 = x0 / max(1.0, float(np.abs(x0).max()))  # never clipped
        ref8 = resample(x0, 16000, 8000)
        for control in (False, True):
            buf = io.BytesIO()
            api.compress_audio_to(iter([x0[:, None]]), AudioInfo(16000, 1, len(x0)), buf, model,
                                  level_control=control)
            y = api.decompress(buf.getvalue(), model, postfilter=postfilter)[0][: len(x0), 0]
            out[level, control] = (pesq_score(8000, ref8, resample(y, 16000, 8000)),
                                   stoi_score(x0, y, 16000), len(buf.getvalue()) * 8,
                                   len(x0) / 16000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder")
    ap.add_argument("--every", type=int, default=1, help="every n-th clip (sorted by name)")
    ap.add_argument("--model", default="speech-default")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--no-postfilter", action="store_true",
                    help="decode without the pitch postfilter, as the eleventh session's tables were")
    args = ap.parse_args()
    files = [str(f) for f in find_files(args.folder, AUDIO_EXT)[:: args.every]]
    with ProcessPoolExecutor(args.jobs) as ex:
        n = len(files)
        res = list(ex.map(one, files, [args.model] * n, [not args.no_postfilter] * n))
    minutes = sum(next(iter(r.values()))[3] for r in res) / 60
    print(f"{len(res)} clips, {minutes:.1f} min; PESQ-nb / STOI @ kbit/s (pooled file sizes); "
          "clips where a metric is undefined are left out of its mean")
    print(f"{'speech level':>14} | {'without level control':>24} | {'with level control':>24}")
    for level in LEVELS:
        cells = []
        for control in (False, True):
            p, s, rate = clip_means([r[level, control] for r in res])
            cells.append(f"{p:.3f} / {s:.4f} @ {rate:.3f}")
        name = "as recorded" if level is None else f"{level:.0f} dBFS"
        print(f"{name:>14} | {cells[0]:>24} | {cells[1]:>24}")


if __name__ == "__main__":
    main()
