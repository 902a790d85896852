#!/usr/bin/env python3
"""How a partial last stage (`--stages 2.25`) spends its bits: the measurements behind the
format's version 6 and the bundled model's default (docs/RESULTS.md, eighth session).

  python samples/recipes/partial_stage.py quality data/real/val 58 [--model M]
  python samples/recipes/partial_stage.py bits data/real/val 12 [--model M]

`quality`: the autoencoder alone (no entropy coding) on N clips spread over the folder, with
the third stage on a share f of each 1 s record's frames, chosen three ways: where the 3-stage
code brings the latent closest (what the encoder does, with flags in the stream), and two
rules a decoder could follow without flags (the largest 2-stage latents, the largest stage-2
codes). PESQ-nb / STOI per share.

`bits`: the bits per frame each slot (stage 1, stage 2, flag, stage 3) costs under the prior,
for 2, 2.5, 2.75 and 3 stages, the encoder's choice of frames.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from vqcodec import threads  # noqa: E402
from vqcodec.codec import entropy  # noqa: E402
from vqcodec.codec.params import SHARE_ONE  # noqa: E402
from vqcodec.codec.speech import FILE_CHUNK_FRAMES, frames_with_last_stage, partial_codes  # noqa: E402
from vqcodec.models.modelfile import load_model  # noqa: E402
from vqcodec.runtime import vq  # noqa: E402
from vqcodec.runtime.resample import resample  # noqa: E402
from vqcodec.train.data import AUDIO_EXT, find_files, load_mono  # noqa: E402

SHARES = (0.0, 0.25, 0.4, 0.5, 0.6, 0.75, 1.0)


def clips(folder: str, n: int):
    """(name, 16 kHz waveform cut to whole frames) of n clips spread over the folder."""
    files = find_files(folder, AUDIO_EXT)
    for f in files[:: max(1, len(files) // n)][:n]:
        x = load_mono(f, 16000)
        x = x[: len(x) // 320 * 320]
        if len(x) >= 3200:
            yield f.name, x


def records(frames: int) -> list[int]:
    """The record lengths of a file of `frames` frames."""
    full, rest = divmod(frames, FILE_CHUNK_FRAMES)
    return [FILE_CHUNK_FRAMES] * full + ([rest] if rest else [])


def top_share(score: np.ndarray, lengths: list[int], share: float) -> np.ndarray:
    """In each record, True on as many frames of highest score as the codec's encoder gives
    the last stage at this share."""
    flags = np.zeros(len(score), dtype=bool)
    start = 0
    for length in lengths:
        best = np.argsort(-score[start: start + length], kind="stable")
        flags[start + best[: frames_with_last_stage(round(share * SHARE_ONE), length)]] = True
        start += length
    return flags


def quality(model, folder: str, n: int) -> None:
    from vqcodec.eval.speech_metrics import pesq_score, stoi_score

    rt, cbs = model.runtime, model.runtime.codebooks
    rules = ("helps most", "largest 2-stage latent", "largest stage-2 code")
    scores: dict[tuple[str, float], list[tuple[float, float]]] = {}
    for _, x in clips(folder, n):
        ref8 = resample(x, 16000, 8000)
        z = rt.latents(x)
        full, fewer = vq.encode(z, cbs, 3), vq.encode(z, cbs, 2)
        q3, q2 = vq.decode(full, cbs), vq.decode(fewer, cbs)
        by_rule = {rules[0]: np.square(z - q2).sum(0) - np.square(z - q3).sum(0),
                   rules[1]: np.square(q2).sum(0), rules[2]: np.square(cbs[1][fewer[1]]).sum(1)}
        for rule, score in by_rule.items():
            for share in SHARES:
                flags = top_share(score, records(z.shape[1]), share)
                y = rt.synthesize(np.where(flags, q3, q2), len(x))
                p, q = pesq_score(8000, ref8, resample(y, 16000, 8000)), stoi_score(x, y, 16000)
                if p is not None and q is not None:
                    scores.setdefault((rule, share), []).append((p, q))
    for rule in rules:
        row = [f"{np.mean(scores[rule, s], axis=0)[0]:.3f} / {np.mean(scores[rule, s], axis=0)[1]:.3f}"
               for s in SHARES if (rule, s) in scores]
        print(f"{rule}: " + ", ".join(f"f={s}: {r}" for s, r in zip(SHARES, row)))
    print(f"({len(scores[rules[0], 0.0])} clips)")


def bits(model, folder: str, n: int) -> None:
    rt = model.runtime
    totals: dict[str, list] = {}
    for _, x in clips(folder, n):
        z = rt.latents(x)
        lengths = records(z.shape[1])
        for name, stages, share in (("2", 2, 0), ("2.5", 3, 128), ("2.75", 3, 192), ("3", 3, 0)):
            if share:
                idx = partial_codes(z, rt.codebooks, stages, lengths, share)
            else:
                idx = vq.encode(z, rt.codebooks, stages).T
            slots = idx.shape[1]
            laid = np.zeros((len(lengths), max(lengths), slots), dtype=np.int64)
            pos = 0
            for i, length in enumerate(lengths):
                laid[i, :length] = idx[pos: pos + length]
                pos += length
            per_slot = np.zeros(slots)
            for ids, sym, w in entropy.weighed(model.prior.plan(lengths, stages, share),
                                                laid.reshape(-1)):
                p = w[np.arange(len(sym)), sym] / w.sum(axis=1)
                np.add.at(per_slot, ids % slots, -np.log2(p))
            t = totals.setdefault(name, [np.zeros(slots), 0])
            t[0] += per_slot
            t[1] += z.shape[1]
    for name, (b, frames) in totals.items():
        print(f"{name} stages: bits per frame per slot {np.round(b / frames, 2).tolist()}, "
              f"total {b.sum() / frames:.2f} ({frames} frames)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=["quality", "bits"])
    ap.add_argument("folder")
    ap.add_argument("clips", type=int)
    ap.add_argument("--model", default="speech-default")
    args = ap.parse_args()
    threads.configure(1)
    model = load_model(args.model)
    (quality if args.what == "quality" else bits)(model, args.folder, args.clips)


if __name__ == "__main__":
    main()
