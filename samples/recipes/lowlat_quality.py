#!/usr/bin/env python3
"""The quality cost of the low-latency synthesis schedule: the same streams decoded with each
chunk's end synthesised from padded right context (what `compress --stream` streams ask for)
against today's full-context decode, scored by PESQ-nb and STOI against the original clips.

  python samples/recipes/lowlat_quality.py data/real/val               # chosen schedule
  python samples/recipes/lowlat_quality.py data/real/val --grid --every 3   # pad variants

Each clip (16 kHz mono, clips under 0.2 s left out) is encoded once per chunk length with the
bundled speech model (or --model) at its default stages; the indices are then decoded:
  full-stream: full-context schedule, records pushed one at a time (as `decompress -` reads a
               live stream: what --stream users heard before the low-latency schedule)
  full-file:   full-context schedule, records in batches of 16 (as `decompress file.vqc`)
  low-latency: the format's low-latency schedule (or each --grid variant of `ChunkEnds`)
Prints means, and the mean paired difference to full-stream with a 95 % interval; --json
writes every number. Every schedule is decoded with the pitch postfilter unless
--no-postfilter (the figures recorded before the twelfth session had none).
"""
from __future__ import annotations

import argparse
import dataclasses
import io
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from vqcodec import api  # noqa: E402
from vqcodec.codec import container  # noqa: E402
from vqcodec.codec.params import FULL_CONTEXT, LOW_LATENCY  # noqa: E402
from vqcodec.codec.speech import (LOW_LATENCY_ENDS, ChunkEnds, SpeechDecoderStream,  # noqa: E402
                                  SpeechEncoderStream)
from vqcodec.eval.speech_metrics import pesq_score, stoi_score  # noqa: E402
from vqcodec.runtime.resample import resample  # noqa: E402
from vqcodec.train.data import AUDIO_EXT, find_files, load_mono  # noqa: E402

GRID = [ChunkEnds(pad, frames, xfade) for pad in ("edge", "zero") for frames in (2, 4)
        for xfade in (80, 320)]


def encode(model, x: np.ndarray, chunk_frames: int) -> bytes:
    enc = SpeechEncoderStream(model, 16000, 1, chunk_frames=chunk_frames, batch_chunks=1)
    return enc.push(x[:, None]) + enc.finish()


def decode(model, blob: bytes, schedule: int, batch: int, ends: ChunkEnds,
           postfilter: bool = True) -> np.ndarray:
    f = io.BytesIO(blob)
    header = container.read_header(f)
    header = dataclasses.replace(header, params=dataclasses.replace(header.params, schedule=schedule))
    dec = SpeechDecoderStream(model, header, ends=ends, postfilter=postfilter)
    recs = list(container.audio_records(f, header.params, dec.max_records))
    out = [dec.push(recs[i: i + batch]) for i in range(0, len(recs), batch)]
    return np.concatenate(out)[:, 0]


def scores(x: np.ndarray, y: np.ndarray, ref8: np.ndarray) -> tuple[float | None, float | None]:
    return pesq_score(8000, ref8, resample(y, 16000, 8000)), stoi_score(x, y, 16000)


def summary(rows: list[dict], name: str, base: str = "full-stream") -> dict:
    ok = [r for r in rows if None not in (r[name][0], r[name][1], r[base][0], r[base][1])]
    a = np.array([r[name] for r in ok], dtype=np.float64)
    b = np.array([r[base] for r in ok], dtype=np.float64)
    d = a - b
    ci = 1.96 * d.std(axis=0, ddof=1) / np.sqrt(len(d)) if len(d) > 1 else np.zeros(2)
    return {"clips": len(ok), "pesq_nb": round(a[:, 0].mean(), 4), "stoi": round(a[:, 1].mean(), 4),
            "pesq_diff": round(d[:, 0].mean(), 4), "pesq_diff_ci95": round(ci[0], 4),
            "stoi_diff": round(d[:, 1].mean(), 4), "stoi_diff_ci95": round(ci[1], 4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder")
    ap.add_argument("--model", default=None, help="speech model (default: the bundled one)")
    ap.add_argument("--chunk-ms", type=int, nargs="+", default=[200, 100])
    ap.add_argument("--every", type=int, default=1, help="every n-th clip of the folder")
    ap.add_argument("--grid", action="store_true", help="score the ChunkEnds variants too")
    ap.add_argument("--json", default=None, help="write the per-clip numbers here")
    ap.add_argument("--no-postfilter", action="store_true",
                    help="decode without the pitch postfilter, as the tables recorded before the "
                         "twelfth session were")
    args = ap.parse_args()
    pf = not args.no_postfilter
    model = api.get_model(args.model, "speech")
    files = find_files(args.folder, AUDIO_EXT)[:: args.every]
    variants = {"low-latency": LOW_LATENCY_ENDS}
    if args.grid:
        variants.update({f"{e.pad}-{e.frames}f-x{e.xfade}": e for e in GRID})
    result: dict = {"folder": args.folder, "model": model.name, "variants": {
        k: dataclasses.asdict(v) for k, v in variants.items()}}
    t0 = time.time()
    for chunk_ms in args.chunk_ms:
        rows, seconds = [], 0.0
        for path in files:
            x = load_mono(path, 16000)
            if len(x) < 3200:
                continue
            seconds += len(x) / 16000
            blob = encode(model, x, chunk_ms // 20)
            ref8 = resample(x, 16000, 8000)
            row = {"file": Path(path).name,
                   "full-stream": scores(x, decode(model, blob, FULL_CONTEXT, 1, LOW_LATENCY_ENDS, pf), ref8),
                   "full-file": scores(x, decode(model, blob, FULL_CONTEXT, 16, LOW_LATENCY_ENDS, pf), ref8)}
            for name, ends in variants.items():
                row[name] = scores(x, decode(model, blob, LOW_LATENCY, 1, ends, pf), ref8)
            rows.append(row)
        table = {name: summary(rows, name) for name in ["full-stream", "full-file", *variants]}
        result[f"chunk_{chunk_ms}ms"] = {"clips": len(rows), "seconds": round(seconds, 1),
                                         "summary": table, "rows": rows}
        print(f"chunk {chunk_ms} ms: {len(rows)} clips, {seconds / 60:.1f} min "
              f"({time.time() - t0:.0f} s so far)")
        for name, s in table.items():
            print(f"  {name:18s} PESQ-nb {s['pesq_nb']:.3f} ({s['pesq_diff']:+.3f} "
                  f"+-{s['pesq_diff_ci95']:.3f})  STOI {s['stoi']:.4f} ({s['stoi_diff']:+.4f} "
                  f"+-{s['stoi_diff_ci95']:.4f})  n={s['clips']}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
