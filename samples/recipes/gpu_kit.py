#!/usr/bin/env python3
"""Carry a training pack to a lent GPU machine, which takes at most 64 MiB of working tree per
call (the raw 16 kHz speech pack is 620 MB, the photo pack 325 MB).

  build:  python samples/recipes/gpu_kit.py build data/speech_mix.npy data/real/val
          python samples/recipes/gpu_kit.py build data/images2/train.npy
          writes .gpu/ (speech as Ogg Opus in parts, about 40 MB for 5.4 h at 14-17 kbit/s;
          images as JPEG 4:4:4 quality 90, about 36 MB for 108 Mpixel) and .whl/ (the wheels the
          GPU machine lacks: constriction, soundfile, cffi, pycparser)
  unpack: python samples/recipes/gpu_kit.py unpack .gpu /tmp/data   (on the GPU machine)
          writes /tmp/data/train.npy + .json (and val.npy + .json), the packs `vqcodec train`
          memory-maps, decoding the parts on every core

Both codings are lossy, far above the rates the codec works at (about 1 kbit/s, 0.1 bpp), and
the only way the corpora fit. A speech part is one Ogg stream of consecutive samples of the pack,
so clip boundaries stay where the index says, and is cut or zero-padded to its exact length; an
image keeps its shape, so the index is the pack's own. `samples/recipes/gpu_speech.sh` and
`gpu_images.sh` are the one command the GPU machine runs. Build one kit per call: both together
would not fit.
"""
from __future__ import annotations

import argparse
import io
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
JPEG_QUALITY = 90  # 4:4:4; about 2.6 bits per pixel on the photo pack (36 MB for 108 Mpixel)
IMAGES_PER_PART = 12
COMPLETE = "COMPLETE"  # written by unpack after the last pack: a half-unpacked folder lacks it
CARRY_LIMIT = 64 << 20  # what one GPU call takes along: tracked files and carried folders
WHEELS = ["constriction==0.5.0", "soundfile==0.14.0", "cffi==2.0.0", "pycparser==2.23"]


def _map(fn, items: list, jobs: int) -> list:
    """fn over items, on `jobs` processes (in this one for 1)."""
    if jobs <= 1:
        return [fn(i) for i in items]
    with ProcessPoolExecutor(jobs) as pool:
        return list(pool.map(fn, items))


def _encode_audio_part(args: tuple[str, int, int, str, float]) -> str:
    import soundfile as sf

    npy, start, stop, out, level = args
    x = np.load(npy, mmap_mode="r")[start:stop]
    with sf.SoundFile(out, "w", RATE, 1, format="OGG", subtype="OPUS",
                      compression_level=level) as f:
        for i in range(0, len(x), RATE * 60):
            f.write(np.asarray(x[i: i + RATE * 60]))
    return out


def _encode_image_part(args: tuple[str, list[dict], str, int]) -> list[int]:
    """Examples as JPEGs (4:4:4) one after another in one file; returns their byte lengths."""
    from PIL import Image

    npy, examples, out, quality = args
    a = np.load(npy, mmap_mode="r")
    lengths = []
    with open(out, "wb") as f:
        for e in examples:
            x = np.asarray(a[e["start"]: e["start"] + e["size"]]).reshape(e["shape"])
            buf = io.BytesIO()
            Image.fromarray(x).save(buf, "JPEG", quality=quality, subsampling=0)
            lengths.append(f.write(buf.getvalue()))
    return lengths


def encode_pack(npy: Path, name: str, out: Path, jobs: int, level: float = LEVEL,
                quality: int = JPEG_QUALITY) -> dict:
    """The pack `npy` (+ .json) as out/NAME.json and out/NAME.NNN.ogg (speech) or .jpgs
    (images) parts."""
    index = json.loads(npy.with_suffix(".json").read_text())
    if index.get("kind") == "image":
        examples = index["examples"]
        groups = [examples[i: i + IMAGES_PER_PART]
                  for i in range(0, len(examples), IMAGES_PER_PART)]
        parts = [(str(npy), g, str(out / f"{name}.{i:03d}.jpgs"), quality)
                 for i, g in enumerate(groups)]
        lengths = _map(_encode_image_part, parts, jobs)
        kit = {"pack": index, "parts": [{"file": Path(p[2]).name, "jpeg_bytes": n}
                                        for p, n in zip(parts, lengths)]}
        size = sum(map(sum, lengths))
        print(f"{name}: {len(examples)} images, {index['total'] / 3e6:.1f} Mpixel in {len(parts)} "
              f"parts, {size / 1e6:.1f} MB ({size * 8 / (index['total'] / 3):.2f} bits per pixel)")
    else:
        total = len(np.load(npy, mmap_mode="r"))
        step = PART_SECONDS * RATE
        bounds = [(s, min(total, s + step)) for s in range(0, total, step)]
        parts = [(str(npy), a, b, str(out / f"{name}.{i:03d}.ogg"), level)
                 for i, (a, b) in enumerate(bounds)]
        _map(_encode_audio_part, parts, jobs)
        kit = {"pack": index, "parts": [{"file": Path(p[3]).name, "samples": p[2] - p[1]}
                                        for p in parts]}
        size = sum(Path(p[3]).stat().st_size for p in parts)
        print(f"{name}: {total / RATE / 3600:.2f} h in {len(parts)} parts, {size / 1e6:.1f} MB "
              f"({size * 8 / (total / RATE) / 1000:.1f} kbit/s)")
    (out / f"{name}.json").write_text(json.dumps(kit))
    return kit


def _decode_part(args: tuple[str, dict]) -> np.ndarray:
    path, part = args
    if "jpeg_bytes" in part:
        from PIL import Image

        data = Path(path).read_bytes()
        ends = np.cumsum(part["jpeg_bytes"])
        images = [Image.open(io.BytesIO(data[e - n: e])).convert("RGB")
                  for n, e in zip(part["jpeg_bytes"], ends)]
        return np.concatenate([np.asarray(im).reshape(-1) for im in images])
    import soundfile as sf

    y, rate = sf.read(path, dtype="int16")
    if rate != RATE:
        raise ValueError(f"{path}: {rate} Hz, expected {RATE}")
    y = y[: part["samples"]]
    return np.pad(y, (0, part["samples"] - len(y)))


def unpack(kit_dir: Path, out: Path, jobs: int) -> None:
    """Every pack of the kit in `kit_dir` into `out`; `out/COMPLETE` once all are there."""
    out.mkdir(parents=True, exist_ok=True)
    (out / COMPLETE).unlink(missing_ok=True)
    for kit_file in sorted(kit_dir.glob("*.json")):
        kit = json.loads(kit_file.read_text())
        parts = [(str(kit_dir / p["file"]), p) for p in kit["parts"]]
        flat = np.concatenate(_map(_decode_part, parts, jobs))
        if len(flat) != kit["pack"].get("total", len(flat)):
            raise SystemExit(f"{kit_file}: decoded {len(flat)} values, the index says "
                             f"{kit['pack']['total']}")
        name = kit_file.stem
        with open(out / f"{name}.npy.tmp", "wb") as f:
            np.save(f, flat)
        (out / f"{name}.json.tmp").write_text(json.dumps(kit["pack"]))
        os.replace(out / f"{name}.npy.tmp", out / f"{name}.npy")
        os.replace(out / f"{name}.json.tmp", out / f"{name}.json")
        print(f"{name}: {len(kit['parts'])} parts -> {out / name}.npy")
    (out / COMPLETE).write_text("every pack of the kit unpacked\n")


def build(train: Path, val: Path | None, out: Path, wheels: Path, jobs: int, level: float,
          quality: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    encode_pack(train, "train", out, jobs, level, quality)
    if val is not None:
        with tempfile.TemporaryDirectory() as tmp:
            val_pack = val
            if val.is_dir():  # a folder of clips: packed first, as `vqcodec pack` does
                from packing import pack_files

                val_pack = Path(tmp) / "val.npy"
                kind = json.loads(train.with_suffix(".json").read_text()).get("kind", "speech")
                pack_files(kind, [val], val_pack)
            encode_pack(val_pack, "val", out, jobs, level, quality)
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
    b.add_argument("val", type=Path, nargs="?", help="a folder of validation files, or a pack")
    b.add_argument("--out", type=Path, default=Path(".gpu"))
    b.add_argument("--wheels", type=Path, default=Path(".whl"))
    b.add_argument("--level", type=float, default=LEVEL,
                   help="Opus compression level, 0..1 (higher: fewer bits)")
    b.add_argument("--quality", type=int, default=JPEG_QUALITY, help="JPEG quality of images")
    u = sub.add_parser("unpack")
    u.add_argument("kit", type=Path)
    u.add_argument("out", type=Path)
    for p in (b, u):
        p.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    if args.cmd == "build":
        build(args.train, args.val, args.out, args.wheels, args.jobs, args.level, args.quality)
    else:
        unpack(args.kit, args.out, args.jobs)


if __name__ == "__main__":
    main()
