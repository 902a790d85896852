#!/usr/bin/env python3
"""Telephone-band codebooks for the speech model: how much of telephone speech's loss is the
codebooks' (docs/RESULTS.md, eighteenth session), and the first step of the model's telephone
code set (vqcodec/models/codesets.py; train_speech_real.sh, phase 9).

  bash samples/recipes/make_val_gsm.sh                      # data/real/valgsm
  python samples/recipes/nb_codebooks.py [--base MODEL] [--every 7] [--clips 80]
      [--codec-stages 1,2.3125,3] [--out BOOKS.npy] [--init-out INIT.safetensors]

1. Every `--every`-th training clip (data/real/train: training speakers only) goes through
   8 kHz GSM 06.10 coding (make_val_gsm.sh) into a temporary folder.
2. The bundled encoder's latents of those clips.
3. Residual k-means (Lloyd, 12 rounds a stage, empty codes reseeded at the worst-coded
   latents), warm-started from the bundled codebooks, one stage after the other on what the
   stages before left. Saved to --out (3, 1024, 64).
4. The autoencoder alone (runtime latents, beam-search codes, synthesis; no level control, no
   postfilter, no entropy coding) on every n-th clip of data/real/valgsm and data/real/val, with
   the bundled codebooks and with the new ones: PESQ-nb / STOI per stage count.
5. With --codec-stages: `vqcodec eval speech data/real/valgsm --no-peers` with the new codebooks
   swapped into the bundled model (level control, partial stage, postfilter). Its rates are not
   meaningful: the prior still models the wideband codes.
6. With --init-out: the base model with these codebooks in place of its own, for
   `vqcodec train speech --init INIT --steps 0` to train a prior on their indices (the
   donor of code_set.py).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from vqcodec import threads  # noqa: E402
from vqcodec.eval.speech_metrics import pesq_score, stoi_score  # noqa: E402
from vqcodec.models import modelfile  # noqa: E402
from vqcodec.runtime import vq  # noqa: E402
from vqcodec.runtime.resample import resample  # noqa: E402
from vqcodec.train.data import AUDIO_EXT, find_files, load_mono  # noqa: E402

FRAME = 320  # the bundled model's samples per latent frame


def latents(rt, path: Path) -> np.ndarray | None:
    x = load_mono(str(path), 16000)
    x = x[: len(x) // FRAME * FRAME]
    return rt.latents(x) if len(x) >= 10 * FRAME else None


def lloyd(x: np.ndarray, books: np.ndarray, rounds: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """k-means from `books` on (N, D) `x`; returns the codebook and each row's code."""
    c = books.copy()
    for _ in range(rounds):
        idx = np.concatenate([vq.nearest_distances(x[i: i + 8192], c).argmin(1)
                              for i in range(0, len(x), 8192)])
        count = np.bincount(idx, minlength=len(c))
        sums = np.zeros(c.shape, dtype=np.float64)
        np.add.at(sums, idx, x)
        live = count > 0
        c[live] = (sums[live] / count[live, None]).astype(np.float32)
        dead = np.flatnonzero(~live)
        if len(dead):
            err = np.square(x - c[idx]).sum(1)
            c[dead] = x[np.argsort(-err)[: len(dead)]]
    return c, idx


def autoencoder_scores(rt, folder: str, books: list[np.ndarray], clips: int) -> dict:
    files = find_files(folder, AUDIO_EXT)
    files = files[:: max(1, len(files) // clips)][:clips]
    out: dict[int, list] = {s: [] for s in range(1, len(books) + 1)}
    for f in files:
        x = load_mono(str(f), 16000)
        x = x[: len(x) // FRAME * FRAME]
        if len(x) < 10 * FRAME:
            continue
        z, ref8 = rt.latents(x), resample(x, 16000, 8000)
        for s in out:
            y = rt.synthesize(vq.decode(vq.encode(z, books, s), books), len(x))
            p, q = pesq_score(8000, ref8, resample(y, 16000, 8000)), stoi_score(x, y, 16000)
            if p is not None and q is not None:
                out[s].append((p, q))
    return {s: [round(float(v), 4) for v in np.mean(r, axis=0)] + [len(r)] for s, r in out.items()}


def codec_scores(folder: str, books: np.ndarray, stages: str) -> list[dict]:
    """`vqcodec eval speech FOLDER --no-peers` in this process, the bundled model's codebooks
    replaced by `books` once it is loaded."""
    from typer.testing import CliRunner

    from cli.main import app

    load = modelfile.load_model

    def swapped(*args, **kwargs):
        m = load(*args, **kwargs)
        if m.kind == "speech" and not getattr(m, "telephone_books", False):
            for s, c in enumerate(m.runtime.codebooks):
                c[:] = books[s]
            m._sets = [m]  # these codebooks alone: not the model's own telephone set
            m.telephone_books = True
        return m

    for module in list(sys.modules.values()):
        if getattr(module, "load_model", None) is load:
            module.load_model = swapped
    res = CliRunner().invoke(app, ["eval", "speech", folder, "--no-peers", "--json", "-q",
                                   "--stages", stages, "-j", "1"])
    if res.exit_code:
        sys.exit(f"eval failed: {res.output.strip()}")
    return [{k: a[k] for k in ("codec", "pesq_nb", "stoi", "kbps_pooled")}
            for a in json.loads(res.stdout)["averages"]]


def save_init(base, books: np.ndarray, out: str) -> None:
    """`base` with `books` as its codebooks (its prior too, which `train --steps 0` replaces)."""
    import torch

    net = base.net
    with torch.no_grad():
        for s, q in enumerate(net.quantizer.stages):
            q.codebook.copy_(torch.from_numpy(books[s]))
    modelfile.save_model(out, "speech", net, base.prior, {})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train", default="data/real/train")
    ap.add_argument("--every", type=int, default=7, help="every n-th training clip")
    ap.add_argument("--valgsm", default="data/real/valgsm")
    ap.add_argument("--val", default="data/real/val")
    ap.add_argument("--clips", type=int, default=80, help="clips scored per folder (0: none)")
    ap.add_argument("--codec-stages", help="also the whole codec on --valgsm at these stages")
    ap.add_argument("--out", default="runs/nb_codebooks.npy")
    ap.add_argument("--base", default="speech-default", help="the model (file or bundled name)")
    ap.add_argument("--init-out", help="write the base model with the new codebooks here")
    args = ap.parse_args()
    threads.configure(None)
    base = modelfile.load_model(args.base)
    rt = base.runtime
    wide = [c.copy() for c in rt.codebooks]
    with tempfile.TemporaryDirectory() as tmp:
        picked, coded = Path(tmp) / "wide", Path(tmp) / "gsm"
        picked.mkdir()
        for f in find_files(args.train, AUDIO_EXT)[:: args.every]:
            (picked / Path(f).name).symlink_to(Path(f).resolve())
        subprocess.run(["bash", str(ROOT / "samples/recipes/make_val_gsm.sh"), str(picked),
                        str(coded)], check=True)
        zs = [z for f in find_files(str(coded), AUDIO_EXT) if (z := latents(rt, f)) is not None]
    rest = np.ascontiguousarray(np.concatenate(zs, axis=1).T)
    print(f"{len(zs)} clips, {len(rest)} latent frames", flush=True)
    narrow = []
    for book in wide:
        c, idx = lloyd(rest, book)
        narrow.append(c)
        rest = rest - c[idx]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    np.save(args.out, np.stack(narrow))
    if args.init_out:
        save_init(base, np.stack(narrow), args.init_out)
    for name, books in (("bundled codebooks", wide), ("telephone codebooks", narrow)):
        for folder in (args.valgsm, args.val) if args.clips else ():
            scores = autoencoder_scores(rt, folder, books, args.clips)
            print(f"{name:20s} {folder:20s} " + "  ".join(
                f"{s} st {p:.3f} / {q:.3f}" for s, (p, q, _) in scores.items()), flush=True)
    if args.codec_stages:
        for row in codec_scores(args.valgsm, np.stack(narrow), args.codec_stages):
            print(f"codec, telephone codebooks, {row['codec']}: PESQ-nb {row['pesq_nb']:.4f} "
                  f"STOI {row['stoi']:.4f} ({row['kbps_pooled']:.3f} kbit/s, wideband prior)")


if __name__ == "__main__":
    main()
