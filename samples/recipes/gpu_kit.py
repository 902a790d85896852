#!/usr/bin/env python3
"""Carry the speech training data to a lent GPU machine, which takes at most 64 MiB of working
tree per call (the raw 16 kHz pack is 620 MB).

  build:  python samples/recipes/gpu_kit.py build data/speech_mix.npy data/real/val
          writes .gpu/ (the packs as Ogg Opus in parts, about 40 MB for 5.4 h at 16 kbit/s)
          and .whl/ (the wheels the GPU machine lacks: constriction, soundfile, cffi, pycparser)
  unpack: python samples/recipes/gpu_kit.py unpack .gpu /tmp/data   (on the GPU machine)
          writes /tmp/data/train.npy + .json and val.npy + .json, the packs `vqcodec train`
          memory-maps, decoding the parts on every core

Opus is lossy: the decoded training speech is Opus at about 16 kbit/s (wideband), transparent
enough for targets whose codec runs at 1 kbit/s, and the only way 5.4 hours fit. Each part is
one Ogg stream of consecutive samples of the pack, so clip boundaries stay where the index says;
a decoded part is cut or zero-padded to its exact length. `samples/recipes/gpu_speech.sh` is the
one command the GPU machine runs.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

RATE = 16000
LEVEL = 0.96  # libsndfile's Opus compression level: about 16.7 kbit/s on this speech (measured)
PART_SECONDS = 1200  # one part per 20 minutes: the GPU machine decodes them side by side
CARRY_LIMIT = 64 << 20  # what one GPU call takes along: tracked files and carried folders
WHEELS = ["constriction==0.5.0", "soundfile==0.14.0", "cffi==2.0.0", "pycparser==2.23"]


def _map(fn, items: list, jobs: int) -> list:
    """fn over items, on `jobs` processes (in this one for 1)."""
    if jobs <= 1:
        return [fn(i) for i in items]
    with ProcessPoolExecutor(jobs) as pool:
        return list(pool.map(fn, items))


def _encode_part(args: tuple[str, int, int, str, float]) -> str:
    import soundfile as sf

    npy, start, stop, out, level = args
    x = np.load(npy, mmap_mode="r")[start:stop]
    with sf.SoundFile(out, "w", RATE, 1, format="OGG", subtype="OPUS",
                      compression_level=level) as f:
        for i in range(0, len(x), RATE * 60):
            f.write(np.asarray(x[i: i + RATE * 60]))
    return out


def encode_pack(npy: Path, name: str, out: Path, jobs: int, level: float = LEVEL) -> dict:
    """The pack `npy` (+ .json) as out/NAME.json and out/NAME.NNN.ogg parts."""
    index = json.loads(npy.with_suffix(".json").read_text())
    total = len(np.load(npy, mmap_mode="r"))
    step = PART_SECONDS * RATE
    bounds = [(s, min(total, s + step)) for s in range(0, total, step)]
    parts = [(str(npy), a, b, str(out / f"{name}.{i:03d}.ogg"), level)
             for i, (a, b) in enumerate(bounds)]
    _map(_encode_part, parts, jobs)
    kit = {"pack": index, "parts": [{"file": Path(p[3]).name, "samples": p[2] - p[1]} for p in parts]}
    (out / f"{name}.json").write_text(json.dumps(kit))
    size = sum(Path(p[3]).stat().st_size for p in parts)
    print(f"{name}: {total / RATE / 3600:.2f} h in {len(parts)} parts, {size / 1e6:.1f} MB "
          f"({size * 8 / (total / RATE) / 1000:.1f} kbit/s)")
    return kit


def _decode_part(args: tuple[str, int]) -> np.ndarray:
    import soundfile as sf

    path, samples = args
    y, rate = sf.read(path, dtype="int16")
    if rate != RATE:
        raise ValueError(f"{path}: {rate} Hz, expected {RATE}")
    y = y[:samples]
    return np.pad(y, (0, samples - len(y)))


def unpack(kit_dir: Path, out: Path, jobs: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for kit_file in sorted(kit_dir.glob("*.json")):
        kit = json.loads(kit_file.read_text())
        parts = [(str(kit_dir / p["file"]), p["samples"]) for p in kit["parts"]]
        audio = np.concatenate(_map(_decode_part, parts, jobs))
        name = kit_file.stem
        np.save(out / f"{name}.npy", audio)
        (out / f"{name}.json").write_text(json.dumps(kit["pack"]))
        print(f"{name}: {len(audio) / RATE / 3600:.2f} h -> {out / name}.npy")


def build(train: Path, val: Path, out: Path, wheels: Path, jobs: int, level: float) -> None:
    out.mkdir(parents=True, exist_ok=True)
    encode_pack(train, "train", out, jobs, level)
    with tempfile.TemporaryDirectory() as tmp:
        val_pack = val
        if val.is_dir():  # a folder of clips: packed first, as `vqcodec pack` does
            from packing import pack_files

            val_pack = Path(tmp) / "val.npy"
            pack_files("speech", [val], val_pack)
        encode_pack(val_pack, "val", out, jobs, level)
    wheels.mkdir(exist_ok=True)
    platforms = [a for p in ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64",
                             "manylinux2014_x86_64") for a in ("--platform", p)]
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                    "--only-binary=:all:", "--python-version", "3.12", "--implementation", "cp",
                    *platforms, "-d", str(wheels), *WHEELS], check=True)
    for w in ("constriction", "soundfile", "cffi", "pycparser"):
        if not list(wheels.glob(f"{w}-*.whl")):
            raise SystemExit(f"no {w} wheel in {wheels}")
    size = sum(f.stat().st_size for d in (out, wheels) for f in d.iterdir())
    tracked = subprocess.run(["git", "ls-files", "-z"], capture_output=True, check=True).stdout
    tree = sum(os.path.getsize(f) for f in tracked.decode().split("\0") if f and os.path.isfile(f))
    print(f"kit: {size / 1e6:.1f} MB in {out} and {wheels}; with the checkout's "
          f"{tree / 1e6:.1f} MB, {(size + tree) / 2**20:.1f} MiB travel")
    if size + tree > CARRY_LIMIT:
        print(f"warning: more than {CARRY_LIMIT >> 20} MiB: a GPU call would refuse it; build "
              "with fewer hours of speech or a higher --level", file=sys.stderr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("train", type=Path, help="the training pack (.npy, its .json beside it)")
    b.add_argument("val", type=Path, help="a folder of validation clips, or a pack")
    b.add_argument("--out", type=Path, default=Path(".gpu"))
    b.add_argument("--wheels", type=Path, default=Path(".whl"))
    b.add_argument("--level", type=float, default=LEVEL,
                   help="Opus compression level, 0..1 (higher: fewer bits)")
    u = sub.add_parser("unpack")
    u.add_argument("kit", type=Path)
    u.add_argument("out", type=Path)
    for p in (b, u):
        p.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    if args.cmd == "build":
        build(args.train, args.val, args.out, args.wheels, args.jobs, args.level)
    else:
        unpack(args.kit, args.out, args.jobs)


if __name__ == "__main__":
    main()
