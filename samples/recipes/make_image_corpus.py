#!/usr/bin/env python3
"""Collect a small photograph corpus from Debian wallpaper packages.

Sources: plasma-workspace-wallpapers (/usr/share/wallpapers/*/contents/images,
largest file per wallpaper), mate-backgrounds and lomiri-wallpapers
(/usr/share/backgrounds), plus the CC0/public-domain photos shipped with
scikit-image and matplotlib when installed, plus any --extra-dir. Only images
on a hand-checked list of real photographs are used from the system folders
(the rest are abstract renders/illustrations); --extra-dir images are all used
unless their colour variance is very low.

Split per source image (seeded): ~80% train, ~20% test. Output under --out:
  train/*.png      full images, downscaled so the long side is <= 1536
  test/*.png       centre crops of --crop size (default 768x512) = benchmark set
  manifest.json    source path, Debian package, size and split of each image
With --pack FILE.npy the train images are also written as a pack (one flat uint8
array and FILE.json, the index of the images), as `vqcodec pack` writes; training
cuts its random crops from it.
"""
from __future__ import annotations

import argparse
import glob
import importlib.util
import json
import os
import re
import subprocess

import numpy as np
from PIL import Image

from packing import pack_files  # this folder

Image.MAX_IMAGE_PIXELS = None
EXTS = (".jpg", ".jpeg", ".png", ".webp")
# Visually checked photographs (file stem or wallpaper folder name).
PHOTOS = {
    # plasma-workspace-wallpapers
    "BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow",
    "FallenLeaf", "Grey", "Kite", "OneStandsOut", "Path", "summer_1am",
    # mate-backgrounds (nature/)
    "Aqua", "Blinds", "Dune", "FreshFlower", "Garden", "GreenMeadow", "LadyBird",
    "RainDrops", "Storm", "TwoWings", "Wood", "YellowFlower",
    # lomiri-wallpapers-16.04 / -20.04
    "Bridge_by_Sander_Klootwijk", "Dragonfly_by_Bolly", "Picture_0B_by_freespace",
    "Picture_1A_by_freespace", "Wine_by_Jakkub_Mede", "aitzgorri_by_Aitzol_Berasategi",
    "friends_by_Aitzol_Berasategi", "life_by_Aitzol_Berasategi",
    "picosdeeuropa_by_Aitzol_Berasategi", "seeding_by_Clements_Engelhardt",
    "sunset_by_Aitzol_Berasategi", "Kleiber_by_Lukas_Baubkus", "greentock_by_Peter_Nerlich",
    # scikit-image / matplotlib sample data (CC0 or public domain)
    "astronaut", "chelsea", "coffee", "rocket", "grace_hopper",
}


def _module_dir(name: str, sub: str) -> list[str]:
    """Data folder of an installed Python package (venv or Debian's python3-*)."""
    dirs = glob.glob(f"/usr/lib/python3*/dist-packages/{name}/{sub}")
    spec = importlib.util.find_spec(name)
    if spec and spec.origin:
        dirs.append(os.path.join(os.path.dirname(spec.origin), sub))
    return dirs


def find_sources(extra_dirs: list[str]) -> dict[str, tuple[str, bool]]:
    """Map source id -> (largest image path, is_extra)."""
    groups: dict[str, list[str]] = {}
    for d in glob.glob("/usr/share/wallpapers/*/contents/images"):
        groups.setdefault(d.split("/")[4], []).extend(glob.glob(d + "/*"))
    roots = ["/usr/share/backgrounds"] + _module_dir("skimage", "data") + \
        _module_dir("matplotlib", "mpl-data/sample_data")
    for root in roots:
        for f in glob.glob(root + "/**/*", recursive=True):
            key = re.sub(r"_\d+x\d+$", "", os.path.splitext(os.path.basename(f))[0])
            groups.setdefault(key, []).append(f)
    out: dict[str, tuple[str, bool]] = {}
    for key, files in groups.items():
        files = sorted({os.path.realpath(f) for f in files if f.lower().endswith(EXTS)})
        if key in PHOTOS and files:
            out[key] = (max(files, key=_pixels), False)
    for d in extra_dirs:
        for f in sorted(glob.glob(os.path.join(d, "**", "*"), recursive=True)):
            if f.lower().endswith(EXTS):
                out.setdefault(os.path.splitext(os.path.basename(f))[0], (f, True))
    return out


def _pixels(path: str) -> int:
    with Image.open(path) as im:
        return im.size[0] * im.size[1]


def looks_flat(im: Image.Image) -> bool:
    """Low colour variance / little fine detail: probably not a photograph."""
    a = np.asarray(im.resize((256, 256)), dtype=np.float32)
    detail = np.abs(np.diff(a, axis=1)).mean()
    return a.std(axis=(0, 1)).mean() < 12 or detail < 1.0


def package_of(path: str) -> str:
    try:
        r = subprocess.run(["dpkg", "-S", os.path.realpath(path)], capture_output=True, text=True)
        return r.stdout.split(":")[0] if r.returncode == 0 else ""
    except OSError:
        return ""


def licence_of(path: str) -> str:
    """Licence/author from a Plasma wallpaper's metadata.json, else ''."""
    meta = os.path.join(path.split("/contents/")[0], "metadata.json")
    if "/contents/" not in path or not os.path.exists(meta):
        return ""
    with open(meta, encoding="utf-8") as fh:
        plugin = json.load(fh).get("KPlugin", {})
    authors = ", ".join(a.get("Name", "") for a in plugin.get("Authors", []))
    return f"{plugin.get('License', '')} ({authors})"


def resize(im: Image.Image, scale: float) -> Image.Image:
    size = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
    return im if scale == 1 else im.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def centre_crop(im: Image.Image, w: int, h: int) -> Image.Image:
    """Downscale so the image covers w x h, then take the centre crop."""
    im = resize(im, max(w / im.width, h / im.height))
    x, y = (im.width - w) // 2, (im.height - h) // 2
    return im.crop((x, y, x + w, y + h))


def build(out: str, crop: tuple[int, int], seed: int, extra: list[str], test_frac: float,
          max_side: int) -> list[dict]:
    """Write train/ and test/ PNGs and return the manifest rows."""
    rows, sizes = [], {}
    for key, (path, is_extra) in sorted(find_sources(extra).items()):
        with Image.open(path) as im:
            if is_extra and looks_flat(im.convert("RGB")):
                print(f"skip (flat): {path}")
                continue
            sizes[key] = (path, im.size)
    # only sources big enough for a crop without upscaling can be test images
    eligible = sorted(k for k, (_, (w, h)) in sizes.items() if w >= crop[0] and h >= crop[1])
    order = np.random.default_rng(seed).permutation(len(eligible))
    test = {eligible[i] for i in order[: round(test_frac * len(sizes))]}
    for split in ("train", "test"):
        os.makedirs(os.path.join(out, split), exist_ok=True)
    for key, (path, _) in sorted(sizes.items()):
        im = Image.open(path).convert("RGB")
        split = "test" if key in test else "train"
        if split == "test":
            res = centre_crop(im, *crop)
        else:
            res = resize(im, min(1.0, max_side / max(im.size)))
        name = f"{split}/{key}.png"
        res.save(os.path.join(out, name), optimize=False, compress_level=6)
        rows.append({"file": name, "split": split, "source": path, "package": package_of(path),
                     "licence": licence_of(path),
                     "source_size": list(im.size), "size": list(res.size)})
    return rows


def pack(out: str, rows: list[dict], path: str) -> None:
    """The train images, whole -> one pack (path .npy + .json index, as `vqcodec pack` writes)."""
    pack_files("image", [os.path.join(out, r["file"]) for r in rows if r["split"] == "train"], path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--crop", default="768x512", help="test crop WxH")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--test-frac", type=float, default=0.2)
    ap.add_argument("--max-side", type=int, default=1536, help="long side of train images")
    ap.add_argument("--extra-dir", action="append", default=[], help="more photo folders")
    ap.add_argument("--pack", metavar="FILE.npy", help="also write the train images as a pack")
    ap.add_argument("--pack-only", action="store_true", help="reuse the images already in --out")
    args = ap.parse_args()
    crop = tuple(int(v) for v in args.crop.lower().split("x"))
    mpath = os.path.join(args.out, "manifest.json")
    if args.pack_only:
        with open(mpath) as fh:
            rows = json.load(fh)
    else:
        rows = build(args.out, crop, args.seed, args.extra_dir, args.test_frac, args.max_side)
        with open(mpath, "w") as fh:
            json.dump(rows, fh, indent=1)
    for split in ("train", "test"):
        sel = [r for r in rows if r["split"] == split]
        mpx = sum(r["size"][0] * r["size"][1] for r in sel) / 1e6
        print(f"{split}: {len(sel)} images, {mpx:.1f} Mpixel")
    if args.pack:
        pack(args.out, rows, args.pack)


if __name__ == "__main__":
    main()
