#!/usr/bin/env python3
"""Synthesise a varied 16 kHz mono speech corpus for codec training.

Engines: espeak-ng (many accents/variants, plus de/es/it/pt-br), flite and
festival (text2wave). Text comes from the fortune files, else from plain-text
docs under /usr/share/doc. About 40% of training clips get mild augmentation
(synthetic room reverb, white/pink/brown noise at 15-40 dB SNR, band-limiting);
every clip is peak-normalised to a random level in [0.3, 0.95].

Output under --out:
  train/*.flac       2-8 s synthetic clips (about --minutes in total)
  val_synth/*.flac   clean clips from held-out voices and held-out sentences
  val_real/*.wav     real human speech from /usr/share/sounds/alsa (alsa-utils)
  manifest.jsonl     one JSON line per clip (engine, voice, params, text, ...)
With --pack FILE.npy the training audio is also written as a pack (one flat
int16 array and FILE.json, the index of its clips), as `vqcodec pack` writes.
"""
from __future__ import annotations

import argparse
import glob
import gzip
import json
import multiprocessing
import os
import re
import subprocess
import tempfile
import time
import zlib
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

from packing import pack_files  # this folder

SR = 16000
STOPWORDS = {
    "en": "the and of to is in that it you for with not be are this have",
    "de": "der die und das ist nicht ich sie es ein zu den mit sich auch",
    "es": "el la de que y en los se las por un una es con para del",
    "it": "il di che la e non un per una sono si le del della con",
    "pt": "o de que a e do da em um para com não uma os no se",
}
EN_ACCENTS = ["en-us", "en-gb", "en-gb-x-rp", "en-gb-scotland", "en-gb-x-gbclan",
              "en-gb-x-gbcwmd", "en-us-nyc", "en-029"]
ESPEAK_VARIANTS = ([f"m{i}" for i in range(1, 8)] + [f"f{i}" for i in range(1, 6)]
                   + ["Alex", "Andy", "Annie", "Denis", "Ed", "Gene", "Jacky", "Lee",
                      "Linda", "Michael", "Mike", "Paul", "Robert", "Steph", "Storm",
                      "Zac", "anika", "grandma", "grandpa", "klatt2", "klatt3", "croak"])
OTHER_LANGS = {"de": "de", "es": "es", "it": "it", "pt": "pt-br"}
VAL_VARIANTS = {"m6", "f4", "Annie"}          # espeak variants used only in val
VAL_ACCENTS = {"en-029"}                      # espeak accent used only in val
FLITE_TRAIN, FLITE_VAL = ["kal", "kal16", "rms", "slt"], ["awb"]
FESTIVAL_EN = ["kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts"]
FESTIVAL_IT = ["lp_diphone", "pc_diphone"]
ENGINE_WEIGHTS = {"espeak": 0.55, "flite": 0.25, "festival": 0.20}


def _clean(sentence: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s',]|[\d_]", " ", sentence)).strip(" ,'")


def _language(text: str) -> str | None:
    words = re.findall(r"\w+", text.lower())
    if len(words) < 30:
        return None
    score = {k: sum(w in set(v.split()) for w in words) / len(words) for k, v in STOPWORDS.items()}
    best = max(score, key=score.get)
    return best if score[best] > 0.08 else None


def load_sentences() -> dict[str, list[str]]:
    """Sentences of 5-25 words per language ('en', 'de', ...) from fortunes or docs."""
    files = sorted(f for f in glob.glob("/usr/share/games/fortunes/**/*", recursive=True)
                   if os.path.isfile(f) and not os.path.islink(f) and "/off" not in f
                   and not f.endswith((".dat", ".u8")))
    files = files or sorted(glob.glob("/usr/share/doc/**/README*", recursive=True)
                            + glob.glob("/usr/share/doc/**/*.txt*", recursive=True))[:3000]
    out: dict[str, set[str]] = defaultdict(set)
    for path in files:
        opener = gzip.open if path.endswith(".gz") else open
        try:
            with opener(path, "rt", encoding="utf-8", errors="ignore") as fh:
                raw = fh.read(2_000_000)
        except OSError:
            continue
        raw = re.sub(r".\x08", "", raw)                       # overstrike
        lang = _language(raw)
        if lang is None:
            continue
        for entry in re.split(r"\n%\n", raw):
            lines = [ln for ln in entry.splitlines() if not ln.strip().startswith("--")]
            for sent in re.split(r"(?<=[.!?])\s+", " ".join(lines)):
                s = _clean(sent)
                words = s.split()
                if (5 <= len(words) <= 25 and sum(len(w) == 1 for w in words) <= 2
                        and sum(c.isupper() for c in s) < 0.3 * len(s)):
                    out[lang].add(s)
    return {k: sorted(v) for k, v in out.items()}


def is_val_text(s: str) -> bool:
    return zlib.crc32(s.encode()) % 10 == 0


def _read(path: str) -> np.ndarray:
    x, sr = sf.read(path, dtype="float32", always_2d=True)
    x = x.mean(1)
    return AF.resample(torch.from_numpy(x), sr, SR).numpy() if sr != SR else x


def synth(spec: dict, text: str, tmp: str) -> np.ndarray:
    """Run one engine on one text; returns float32 audio at 16 kHz."""
    wav, txt = os.path.join(tmp, "o.wav"), os.path.join(tmp, "t.txt")
    eng, p = spec["engine"], spec["params"]
    enc = "latin-1" if eng == "festival" else "utf-8"   # festival is not UTF-8 aware
    with open(txt, "w", encoding=enc, errors="ignore") as fh:
        fh.write(text + "\n")
    if eng == "espeak":
        cmd = ["espeak-ng", "-v", spec["voice"], "-p", str(p["pitch"]), "-s", str(p["speed"]),
               "-a", str(p["amp"]), "-w", wav, "-f", txt]
    elif eng == "flite":
        cmd = ["flite", "-voice", spec["voice"], "--setf", f"duration_stretch={p['stretch']}",
               "-f", txt, "-o", wav]
    else:
        cmd = ["text2wave", "-eval", f"(voice_{spec['voice']})", "-eval",
               f"(Parameter.set 'Duration_Stretch {p['stretch']})", "-o", wav, txt]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    x = _read(wav)
    if "perturb" in p:                           # speed perturbation shifts pitch too
        x = AF.resample(torch.from_numpy(x), SR, int(SR * p["perturb"])).numpy()
    return x


def trim(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    env = np.abs(x)
    idx = np.flatnonzero(env > 0.02 * (env.max() + 1e-9))
    if idx.size == 0:
        return x
    a, b = (int(rng.uniform(0.05, 0.25) * SR) for _ in range(2))
    return x[max(0, idx[0] - a): idx[-1] + b]


def _noise(n: int, kind: str, rng: np.random.Generator) -> np.ndarray:
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.maximum(np.fft.rfftfreq(n, 1 / SR), 20.0)
    spec *= {"white": 1.0, "pink": f ** -0.5, "brown": f ** -1.0}[kind]
    y = np.fft.irfft(spec, n)
    return y / (y.std() + 1e-12)


def augment(x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Mild reverb / noise / band-limit; at least one of them is applied."""
    info: dict = {}
    ops = [op for op in ("reverb", "noise", "bandlimit") if rng.random() < 0.5] or \
        [str(rng.choice(["reverb", "noise", "bandlimit"]))]
    if "reverb" in ops:
        rt60, wet = rng.uniform(0.1, 0.5), rng.uniform(0.1, 0.4)
        t = np.arange(int(rt60 * SR)) / SR
        ir = rng.standard_normal(t.size) * np.exp(-6.9 * t / rt60)
        ir[0] = 0.0
        rev = AF.fftconvolve(torch.from_numpy(x), torch.from_numpy(ir.astype(np.float32))).numpy()
        rev = rev[: x.size] * (np.std(x) / (np.std(rev) + 1e-9))
        x = (1 - wet) * x + wet * rev
        info["reverb"] = {"rt60": round(rt60, 3), "wet": round(wet, 3)}
    if "bandlimit" in ops:
        fc = int(rng.uniform(3400, 7000) // 100 * 100)
        y = AF.resample(torch.from_numpy(x), SR, 2 * fc)
        x = AF.resample(y, 2 * fc, SR).numpy()[: x.size]
        info["lowpass_hz"] = fc
    if "noise" in ops:
        snr, kind = rng.uniform(15, 40), str(rng.choice(["white", "pink", "brown"]))
        x = x + _noise(x.size, kind, rng) * np.sqrt(np.mean(x ** 2) / 10 ** (snr / 10))
        info["noise"] = {"kind": kind, "snr_db": round(snr, 1)}
    return x.astype(np.float32), info


def make_spec(rng: np.random.Generator, split: str) -> dict:
    """Draw engine, voice, language and prosody parameters for one clip."""
    val = split != "train"
    if val:                                         # held-out voices: espeak + flite awb
        eng = "espeak" if rng.random() < 0.75 else "flite"
    else:
        eng = str(rng.choice(list(ENGINE_WEIGHTS), p=list(ENGINE_WEIGHTS.values())))
    lang, params = "en", {}
    if eng == "espeak":
        val_variants = [v for v in ESPEAK_VARIANTS if v in VAL_VARIANTS]
        train_variants = [v for v in ESPEAK_VARIANTS if v not in VAL_VARIANTS]
        if not val and rng.random() < 0.25:
            lang = str(rng.choice(list(OTHER_LANGS)))
            base, variants = OTHER_LANGS[lang], train_variants
        elif val and rng.random() < 0.4:            # held-out accent, any variant
            base, variants = str(rng.choice(sorted(VAL_ACCENTS))), ESPEAK_VARIANTS
        else:                                       # val: train accent, held-out variant
            base = str(rng.choice([a for a in EN_ACCENTS if a not in VAL_ACCENTS]))
            variants = val_variants if val else train_variants
        voice = f"{base}+{rng.choice(variants)}"
        params = {"pitch": int(rng.integers(15, 86)), "speed": int(rng.integers(125, 211)),
                  "amp": int(rng.integers(60, 181))}
    elif eng == "flite":
        voice = str(rng.choice(FLITE_VAL if val else FLITE_TRAIN))
        params = {"stretch": round(rng.uniform(0.8, 1.25), 2)}
    else:
        lang = "it" if rng.random() < 0.15 else "en"
        voice = str(rng.choice(FESTIVAL_IT if lang == "it" else FESTIVAL_EN))
        params = {"stretch": round(rng.uniform(0.8, 1.25), 2)}
    if eng != "espeak":
        params["perturb"] = round(rng.uniform(0.88, 1.12), 3)
    return {"engine": eng, "voice": voice, "lang": lang, "params": params}


_SENTENCES: dict[str, dict[str, list[str]]] = {}


def _init_worker(sentences: dict[str, list[str]]) -> None:
    """Split the sentences once per worker into train / held-out (val) pools."""
    torch.set_num_threads(1)
    for split in ("train", "val"):
        _SENTENCES[split] = {k: [s for s in v if is_val_text(s) == (split == "val")]
                             for k, v in sentences.items()}


def make_clip(job: tuple[int, int, str]) -> tuple[np.ndarray, dict]:
    """Synthesise one 2-8 s clip; deterministic in (seed, index, split)."""
    index, seed, split = job
    rng = np.random.default_rng([seed, index, zlib.crc32(split.encode())])
    spec = make_spec(rng, split)
    sentences = _SENTENCES["train" if split == "train" else "val"]
    pool = sentences.get(spec["lang"]) or sentences["en"]
    pick = lambda: pool[int(rng.integers(len(pool)))]  # noqa: E731
    texts, audio = [], np.zeros(0, np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(12):
            text = pick()
            x = trim(synth(spec, text, tmp), rng)
            gap = np.zeros(int(rng.uniform(0.15, 0.4) * SR) if audio.size else 0, np.float32)
            if audio.size + gap.size + x.size > 8 * SR:
                if audio.size >= 2 * SR:
                    break
                continue
            audio, texts = np.concatenate([audio, gap, x]), texts + [text]
            if audio.size >= 2 * SR and rng.random() < 0.7:
                break
    if audio.size < 2 * SR:                        # rare: pad with silence
        audio = np.pad(audio, (0, 2 * SR - audio.size))
    aug: dict = {}
    if split == "train" and rng.random() < 0.4:
        audio, aug = augment(audio, rng)
    peak = float(rng.uniform(0.3, 0.95))
    audio = (audio * peak / (np.abs(audio).max() + 1e-9)).astype(np.float32)
    meta = dict(spec, text=" / ".join(texts), augment=aug, peak=round(peak, 3),
                seconds=round(audio.size / SR, 3))
    return audio, meta


def write_real_val(out: str) -> list[dict]:
    os.makedirs(os.path.join(out, "val_real"), exist_ok=True)
    rows = []
    for path in sorted(glob.glob("/usr/share/sounds/alsa/*.wav")):
        x, name = _read(path), os.path.basename(path)
        if name == "Noise.wav":                      # the only non-speech file
            continue
        sf.write(os.path.join(out, "val_real", name), x, SR, subtype="PCM_16")
        rows.append({"split": "val_real", "file": f"val_real/{name}", "source": path,
                     "seconds": round(x.size / SR, 3)})
    return rows


def run_split(out: str, split: str, seconds: float | None, count: int | None, seed: int,
              sentences: dict[str, list[str]], workers: int) -> list[dict]:
    """Generate clips in index order until the time/count target is met."""
    os.makedirs(os.path.join(out, split), exist_ok=True)
    for old in glob.glob(os.path.join(out, split, "*.flac")):
        os.remove(old)
    rows: list[dict] = []
    done = lambda: (seconds is not None and sum(r["seconds"] for r in rows) >= seconds) or \
        (count is not None and len(rows) >= count)  # noqa: E731
    ctx = multiprocessing.get_context("spawn")      # fork after torch use can deadlock
    with ProcessPoolExecutor(workers, ctx, _init_worker, (sentences,)) as ex:
        index = 0
        while not done():
            jobs = [(i, seed, split) for i in range(index, index + 4 * workers)]
            index += len(jobs)
            for audio, meta in ex.map(make_clip, jobs):
                if done():
                    break
                name = f"{split}/{len(rows):05d}_{meta['engine']}.flac"
                sf.write(os.path.join(out, name), audio, SR, subtype="PCM_16")
                rows.append(dict(meta, split=split, file=name))
    return rows


def pack(out: str, rows: list[dict], path: str) -> None:
    """Train clips -> one pack (path .npy + .json index, as `vqcodec pack` writes)."""
    pack_files("speech", [os.path.join(out, r["file"]) for r in rows], path, SR)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--minutes", type=float, default=60.0, help="training speech, minutes")
    ap.add_argument("--val-clips", type=int, default=30, help="held-out synthetic val clips")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--pack", metavar="FILE.npy", help="also write train audio as a pack")
    ap.add_argument("--pack-only", action="store_true",
                    help="skip synthesis; pack the first --minutes of the corpus in --out")
    args = ap.parse_args()
    mpath = os.path.join(args.out, "manifest.jsonl")
    if args.pack_only:
        with open(mpath) as fh:
            rows = [r for r in map(json.loads, fh) if r["split"] == "train"]
        total = np.cumsum([r["seconds"] for r in rows])     # --minutes caps the pack
        rows = rows[: max(1, int(np.searchsorted(total, args.minutes * 60, "right")))]
        return pack(args.out, rows, args.pack or ap.error("--pack is required"))
    t0 = time.time()
    sentences = load_sentences()
    print("sentences:", {k: len(v) for k, v in sentences.items()})
    rows = write_real_val(args.out)
    rows += run_split(args.out, "val_synth", None, args.val_clips, args.seed, sentences, args.workers)
    train = run_split(args.out, "train", args.minutes * 60, None, args.seed, sentences, args.workers)
    with open(mpath, "w") as fh:
        fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows + train)
    for split in ("train", "val_synth", "val_real"):
        sel = [r for r in rows + train if r["split"] == split]
        by: dict[str, float] = defaultdict(float)
        for r in sel:
            by[r.get("engine", "human")] += r["seconds"]
        detail = ", ".join(f"{k} {v:.0f}s" for k, v in sorted(by.items()))
        print(f"{split}: {len(sel)} clips, {sum(by.values()) / 60:.1f} min ({detail})")
    print(f"augmented train clips: {sum(bool(r['augment']) for r in train)}; "
          f"elapsed {time.time() - t0:.0f}s")
    if args.pack:
        pack(args.out, train, args.pack)


if __name__ == "__main__":
    main()
