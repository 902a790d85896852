#!/usr/bin/env python3
"""Collect real human speech from Debian packages into 16 kHz mono clips with speaker-disjoint splits.

Only the sources listed in the project's DATA.md are read (festvox-ru, the Asterisk prompt sets,
hedgewars voice packs, gcin-voice syllables, the nexuiz tutorial voice, alsa-utils' test words). Each package is
downloaded with `apt-get download` and unpacked with `dpkg -x` (no install), unless `--root`
points at a tree that already holds the unpacked files.

Output under --out:
  train/*.flac    clips of speakers used for training (plus `--perturb` speed-perturbed copies)
  val/*.flac      whole speakers held out for tuning (checkpoint choice, hyper-parameters)
  test/*.flac     other whole speakers held out for the reported numbers (never tuned on)
  manifest.jsonl  per clip: split, package, version, path in the package, licence line from the
                  package's copyright file, speaker id, language, native rate, band limit, duration
  summary.json    minutes per split / source, and the files skipped with the reason

With --pack FILE.npy the training clips of this corpus and of any `--mix DIR` folders (for
example the synthetic corpus of make_speech_corpus.py) are written as one pack (FILE.npy plus its
index FILE.json, as `vqcodec pack` writes), which `vqcodec train --data FILE.npy` memory-maps.
"""
from __future__ import annotations

import argparse
import glob
import io
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import zipfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf

from debian import copyright_licence  # this folder
from packing import pack_files  # this folder

SR = 16000
PACKAGES = ["festvox-ru", "asterisk-prompt-it-menardi-wav", "asterisk-prompt-fr-armelle",
            "asterisk-prompt-es-co", "hedgewars-data", "gcin-voice", "nexuiz-data", "alsa-utils"]
HEDGEWARS_SKIP = {"Robot"}  # an effect pack, not a voice
# Whole speakers held out. val: for tuning; test: for the reported numbers only.
HELD_OUT = {"hedgewars:British": "val", "hedgewars:Russian_pl": "val", "gcin:5": "val",
            "asterisk-es-co": "test", "hedgewars:Default_es": "test", "hedgewars:Pirate": "test",
            "nexuiz:tutorial": "test", "alsa-utils": "test"}
SILENCE_RMS = 1e-3  # clips quieter than this (about -60 dBFS) are skipped as silent


# -- sources ---------------------------------------------------------------------------------
def fetch_packages(root: Path) -> None:
    """apt-get download + dpkg -x every package into root (skipped when already unpacked)."""
    debs = root / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    for pkg in PACKAGES:
        if list(debs.glob(f"{pkg}_*.deb")):
            continue
        subprocess.run(["apt-get", "download", pkg], cwd=debs, check=True)
    for deb in sorted(debs.glob("*.deb")):
        subprocess.run(["dpkg", "-x", str(deb), str(root)], check=True)


def package_version(root: Path, pkg: str) -> str:
    debs = sorted((root / "debs").glob(f"{pkg}_*.deb"))
    return debs[0].name.split("_")[1].replace("%3a", ":") if debs else "unknown"


def licence_line(root: Path, pkg: str, relpath: str) -> str:
    """The License line of the copyright stanza whose Files pattern matches relpath."""
    path = root / "usr/share/doc" / pkg / "copyright"
    if not path.exists():
        return "unknown"
    text = path.read_text(errors="replace")
    return copyright_licence(text, relpath) or _free_form_licence(text)


def _free_form_licence(text: str) -> str:
    """A licence name from an old-style (not machine-readable) copyright file."""
    if "Redistribution and use" in text:  # the upstream terms; GPL may follow for packaging
        return "BSD-like"
    gpl = re.search(r"GNU General Public\s+License.{0,200}?version\s+(\d)", text, re.S)
    if gpl:
        return f"GPL-{gpl.group(1)}" + ("+" if "any later version" in text else "")
    return "see the package's copyright file"


def discover(root: Path) -> list[dict]:
    """Every source recording: dict(src, package, relpath, speaker, language, rate_hint, group)."""
    items = []

    def add(pkg, files, speaker, lang, group=None):
        for f in sorted(files):
            rel = str(Path(f).relative_to(root)) if str(f).startswith(str(root)) else str(f)
            items.append({"src": str(f), "package": pkg, "relpath": rel, "speaker": speaker,
                          "language": lang, "group": group})

    add("festvox-ru", glob.glob(str(root / "usr/share/festival/voices/russian/msu_ru_nsh_clunits/wav/ru_*.wav")),
        "festvox-ru:nsh", "ru")
    it = [f for f in glob.glob(str(root / "usr/share/asterisk/sounds/it_IT_f_Menardi/**/*.wav"), recursive=True)
          if "/silence/" not in f]
    add("asterisk-prompt-it-menardi-wav", it, "asterisk-it-menardi", "it")
    add("asterisk-prompt-fr-armelle", glob.glob(str(root / "usr/share/asterisk/sounds/fr/**/*.gsm"), recursive=True),
        "asterisk-fr-armelle", "fr")
    add("asterisk-prompt-es-co", glob.glob(str(root / "usr/share/asterisk/sounds/es/**/*.gsm"), recursive=True),
        "asterisk-es-co", "es")
    langs = {"Default_es": "es", "Default_pl": "pl", "Russian_pl": "pl", "Default_ru": "ru",
             "Russian": "ru", "Default_uk": "uk"}
    for pack in sorted(glob.glob(str(root / "usr/share/games/hedgewars/Data/Sounds/voices/*"))):
        name = Path(pack).name
        if name not in HEDGEWARS_SKIP:
            add("hedgewars-data", glob.glob(pack + "/*.ogg"), f"hedgewars:{name}", langs.get(name, "en"))
    for spk in ("3", "5"):  # two speakers; isolated syllables, joined into clips below
        add("gcin-voice", glob.glob(str(root / f"usr/share/gcin-voice/ogg/*/{spk}.ogg")),
            f"gcin:{spk}", "zh", group=f"gcin:{spk}")
    alsa = [f for f in glob.glob(str(root / "usr/share/sounds/alsa/*.wav")) if not f.endswith("Noise.wav")]
    add("alsa-utils", alsa, "alsa-utils", "en")
    pk3 = root / "usr/share/games/nexuiz/data/data.pk3"
    if pk3.exists():
        with zipfile.ZipFile(pk3) as z:
            names = [n for n in z.namelist() if n.startswith("sound/tutorial/") and n.endswith(".ogg")]
        add("nexuiz-data", [f"{pk3}::{n}" for n in names], "nexuiz:tutorial", "en")
    return items


# -- conversion ------------------------------------------------------------------------------
def read_16k(src: str, speed: float = 1.0) -> tuple[np.ndarray, int]:
    """Any source (wav/ogg/raw .gsm, or zip member 'a.pk3::path') -> (16 kHz mono float32, native rate)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = src
        if "::" in src:
            archive, member = src.split("::", 1)
            path = os.path.join(tmp, Path(member).name)
            with zipfile.ZipFile(archive) as z, open(path, "wb") as f:
                f.write(z.read(member))
        fmt = ["-t", "gsm", "-r", "8000", "-c", "1"] if path.endswith(".gsm") else []
        native = 8000 if path.endswith(".gsm") else sf.info(path).samplerate
        effects = ["speed", f"{speed:.4f}"] if speed != 1.0 else []
        out = subprocess.run(["sox", "-V1", *fmt, path, "-t", "wav", "-e", "float", "-b", "32", "-c", "1",
                              "-", *effects, "rate", "-v", str(SR)],
                             capture_output=True, check=True).stdout
    x, _ = sf.read(io.BytesIO(out), dtype="float32")
    return x, native


def trim_silence(x: np.ndarray, keep: int = SR // 10) -> np.ndarray:
    """Drop leading/trailing silence (20 ms frames below -50 dB of the peak), keeping 100 ms."""
    frames = np.abs(x[: len(x) // 320 * 320].reshape(-1, 320)).max(axis=1)
    loud = np.nonzero(frames > np.abs(x).max() * 10 ** (-50 / 20))[0]
    if not len(loud):
        return x[:0]
    return x[max(0, loud[0] * 320 - keep): min(len(x), (loud[-1] + 1) * 320 + keep)]


def _convert(job: dict) -> dict:
    try:
        x, native = read_16k(job["src"], job.get("speed", 1.0))
    except (subprocess.CalledProcessError, RuntimeError, OSError, ValueError) as exc:
        return {**job, "skip": f"unreadable ({str(exc).splitlines()[0][:80]})"}
    x = trim_silence(x)
    if len(x) < SR // 5 or np.sqrt(np.mean(x**2)) < SILENCE_RMS:
        return {**job, "skip": "silent or shorter than 0.2 s"}
    peak = np.abs(x).max()
    if peak > 0.99:
        x = x * (0.99 / peak)
    return {**job, "audio": x, "native_rate": native}


def join_syllables(items: list[dict], rng: random.Random, lo: int = 6, hi: int = 14) -> list[dict]:
    """Isolated syllables (gcin) -> clips of lo..hi syllables with 80-250 ms pauses."""
    rng.shuffle(items)
    out = []
    while items:
        take, items = items[: rng.randint(lo, hi)], items[hi:]
        parts = []
        for it in take:
            parts += [it["audio"], np.zeros(int(SR * rng.uniform(0.08, 0.25)), np.float32)]
        first = take[0]
        out.append({**first, "audio": np.concatenate(parts[:-1]),
                    "relpath": ";".join(t["relpath"] for t in take)})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--root", type=Path, default=Path("data/debs-root"),
                    help="where the packages are (or will be) unpacked")
    ap.add_argument("--no-fetch", action="store_true", help="use --root as it is (no apt-get)")
    ap.add_argument("--perturb", type=int, default=1,
                    help="speed-perturbed copies (0.9-1.1) of each training clip")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--pack", type=Path, help="write train clips (+ --mix folders) as FILE.npy + FILE.json")
    ap.add_argument("--mix", type=Path, action="append", default=[],
                    help="extra folder of training clips (e.g. the synthetic corpus's train/) for --pack")
    args = ap.parse_args()

    rng = random.Random(args.seed)
    if not args.no_fetch:
        fetch_packages(args.root)
    items = discover(args.root)
    if not items:
        sys.exit(f"no source recordings under {args.root}")
    jobs = []
    for it in items:
        split = HELD_OUT.get(it["speaker"], "train")
        jobs.append({**it, "split": split, "speed": 1.0})
        if split == "train" and it["group"] is None:
            for _ in range(args.perturb):
                jobs.append({**it, "split": split, "speed": round(rng.uniform(0.9, 1.1), 3)})
    with ProcessPoolExecutor(args.workers) as pool:
        done = list(pool.map(_convert, jobs, chunksize=8))
    skipped = [{"src": d["src"], "why": d["skip"]} for d in done if "skip" in d]
    good = [d for d in done if "skip" not in d]
    for s in skipped:
        print(f"warning: skipped {s['src']}: {s['why']}", file=sys.stderr)
    grouped = [d for d in good if d["group"]]
    clips = [d for d in good if not d["group"]]
    for group in sorted({d["group"] for d in grouped}):
        clips += join_syllables([d for d in grouped if d["group"] == group], rng)

    versions = {p: package_version(args.root, p) for p in PACKAGES}
    licences: dict[tuple, str] = {}
    summary: dict = {"minutes": {}, "speakers": {}, "skipped": skipped}
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "manifest.jsonl", "w") as man:
        for n, c in enumerate(sorted(clips, key=lambda c: (c["split"], c["speaker"], c["relpath"], c["speed"]))):
            split_dir = args.out / c["split"]
            split_dir.mkdir(exist_ok=True)
            stem = f"{c['speaker'].replace(':', '-')}_{n:05d}"
            if c["speed"] != 1.0:
                stem += f"_sp{c['speed']:.3f}"
            sf.write(split_dir / f"{stem}.flac", c["audio"], SR, subtype="PCM_16")
            key = (c["package"], c["relpath"].split(";")[0].split("::")[-1])
            if key not in licences:
                licences[key] = licence_line(args.root, c["package"], key[1].lstrip("/"))
            seconds = len(c["audio"]) / SR
            man.write(json.dumps({
                "file": f"{c['split']}/{stem}.flac", "split": c["split"], "package": c["package"],
                "version": versions[c["package"]], "path": c["relpath"], "licence": licences[key],
                "speaker": c["speaker"], "language": c["language"], "native_rate": c["native_rate"],
                "band_limit_hz": min(c["native_rate"], SR) // 2, "speed": c["speed"],
                "seconds": round(seconds, 3)}) + "\n")
            m = summary["minutes"].setdefault(c["split"], {})
            m[c["package"]] = round(m.get(c["package"], 0) + seconds / 60, 2)
            summary["speakers"].setdefault(c["split"], set()).add(c["speaker"])
    summary["speakers"] = {k: sorted(v) for k, v in summary["speakers"].items()}
    summary["skipped_count"] = len(skipped)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    for split, per in summary["minutes"].items():
        print(f"{split}: {sum(per.values()):.1f} min, {len(summary['speakers'][split])} speakers  {per}")
    print(f"skipped {len(skipped)} files")
    if args.pack:
        pack([args.out / "train", *args.mix], args.pack)


def pack(folders: list[Path], out: Path) -> None:
    """Training clips of several folders -> one pack (FILE.npy + FILE.json index)."""
    pack_files("speech", folders, out, SR)


if __name__ == "__main__":
    main()
