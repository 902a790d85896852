#!/usr/bin/env python3
"""Where a speech stream's bits go: the prior's ideal bits per index, per stage and by position
in the 1 s record, next to a fixed per-stage histogram of the same codes.

  python samples/recipes/prior_bits.py data/real/val [--model FILE] [--stages 3] [--every 2]

The prior is the one encoders use for wideband speech (a model's stored newer wideband prior
if it has one: vqcodec/models/codesets.py). Every `--every`-th clip of the folder is coded as
the codec codes a file (the encoder's search,
1 s records with the prior restarting at each). The histogram's entropy is measured on the
codes it describes, so it is a lower bound for a coder without context, not a rival coder.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from vqcodec.codec import entropy  # noqa: E402
from vqcodec.codec.speech import FILE_CHUNK_FRAMES  # noqa: E402
from vqcodec.models.modelfile import load_model  # noqa: E402
from vqcodec.train.data import AUDIO_EXT, find_files, load_mono  # noqa: E402

SPANS = ((0, 1), (1, 2), (2, 4), (4, 8), (8, 16), (16, FILE_CHUNK_FRAMES))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder")
    ap.add_argument("--model", default="speech-default")
    ap.add_argument("--stages", type=int, default=3)
    ap.add_argument("--every", type=int, default=2, help="every n-th clip of the folder")
    args = ap.parse_args()
    model = load_model(args.model).code_sets[0]  # the wideband prior encoders use
    s, frame = args.stages, model.config.frame
    bits = np.zeros((FILE_CHUNK_FRAMES, s))  # summed by position in the record and stage
    count = np.zeros((FILE_CHUNK_FRAMES, s))
    codes: list[np.ndarray] = []
    for f in find_files(args.folder, AUDIO_EXT)[:: args.every]:
        x = load_mono(f, model.config.sample_rate)
        idx = model.runtime.encode(np.pad(x, (0, -len(x) % frame)), s).T  # (T, S)
        codes.append(idx)
        for c0 in range(0, len(idx), FILE_CHUNK_FRAMES):
            chunk = idx[c0: c0 + FILE_CHUNK_FRAMES]
            plan = model.prior.plan([len(chunk)], s)
            for ids, sym, w in entropy.weighed(plan, chunk.reshape(-1)):
                p = w[np.arange(len(sym)), sym] / w.sum(axis=1)
                np.add.at(bits, (ids // s, ids % s), -np.log2(p))
                np.add.at(count, (ids // s, ids % s), 1)
    allc = np.concatenate(codes)
    print(f"{len(codes)} clips, {len(allc)} frames, {s} stages")
    for st in range(s):
        h = np.bincount(allc[:, st]) / len(allc)
        h = h[h > 0]
        print(f"stage {st + 1}: prior {bits[:, st].sum() / count[:, st].sum():.3f} bits per index, "
              f"histogram entropy {-(h * np.log2(h)).sum():.3f}")
    for a, b in SPANS:
        per = bits[a:b].sum(0) / np.maximum(count[a:b].sum(0), 1)
        print(f"record frames {a}-{b - 1}: " + " / ".join(f"{v:.2f}" for v in per))


if __name__ == "__main__":
    main()
