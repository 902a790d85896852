#!/usr/bin/env python3
"""PESQ-nb and STOI of a speech autoencoder (a training checkpoint or a model file) on held-out
clips, per stage count: the quick check used to choose among checkpoints on the validation
speakers, before anything runs on the test speakers.

  python samples/recipes/val_checkpoint.py runs/speech/speech-default.safetensors.ckpt data/real/val 24

The autoencoder alone (no entropy coding), every n-th clip of the folder so that N clips spread
over all its speakers; clips shorter than 0.2 s are left out.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from vqcodec.eval.speech_metrics import pesq_score, stoi_score  # noqa: E402
from vqcodec.runtime.resample import resample  # noqa: E402
from vqcodec.train.data import AUDIO_EXT, find_files, load_mono  # noqa: E402


def load_net(src: str):
    if src.endswith(".ckpt"):
        from vqcodec.networks.config import SpeechModelConfig
        from vqcodec.networks.speech_model import SpeechVQVAE

        net = SpeechVQVAE(SpeechModelConfig())
        net.load_state_dict(torch.load(src, weights_only=True, map_location="cpu")["net"])
        return net.eval()
    from vqcodec.models.modelfile import load_model

    return load_model(src).net.eval()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", help="a run's .ckpt (default configuration) or a model file")
    ap.add_argument("folder")
    ap.add_argument("clips", type=int, nargs="?", default=24)
    ap.add_argument("--unquantized", action="store_true",
                    help="also the decoder fed the encoder's latents unquantized: the ceiling "
                         "that better codebooks alone could reach")
    args = ap.parse_args()
    torch.set_num_threads(1)
    net = load_net(args.model)
    files = find_files(args.folder, AUDIO_EXT)
    files = files[:: max(1, len(files) // args.clips)][: args.clips]
    scores: dict[int, list[tuple[float, float]]] = {s: [] for s in range(1, net.cfg.stages + 1)}
    if args.unquantized:
        scores[0] = []  # 0: no quantizer
    for f in files:
        x = load_mono(f, 16000)
        x = x[: len(x) // 320 * 320]
        if len(x) < 3200:
            continue
        ref8 = resample(x, 16000, 8000)
        for s in scores:
            with torch.no_grad():
                wave = torch.from_numpy(x)[None]
                if s == 0:
                    y = net.synthesize(net.encoder(net.features(wave)), len(x))[0].numpy()
                else:
                    y = net.decode(net.encode(wave, s))[0].numpy()
            p, q = pesq_score(8000, ref8, resample(y, 16000, 8000)), stoi_score(x, y, 16000)
            if p is not None and q is not None:
                scores[s].append((p, q))
    for s, v in scores.items():
        a = np.array(v)
        name = f"stages {s}" if s else "unquantized"
        print(f"{name}: PESQ-nb {a[:, 0].mean():.3f} STOI {a[:, 1].mean():.3f} (n={len(a)})")


if __name__ == "__main__":
    main()
