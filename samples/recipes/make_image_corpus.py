#!/usr/bin/env python3
"""Collect a small photograph corpus from Debian wallpaper packages.

Sources: plasma-workspace-wallpapers (/usr/share/wallpapers/*/contents/images,
largest file per wallpaper), mate-backgrounds and lomiri-wallpapers
(/usr/share/backgrounds), plus the CC0/public-domain photos shipped with
scikit-image and matplotlib when installed, plus any --extra-dir. Only images
on a hand-checked list of real photographs are used from the system folders
(the rest are abstract renders/illustrations); --extra-dir images are all used
unless their colour variance is very low.

Train-only sources from Debian packages (downloaded with `apt-get download` into
--debs and unpacked with dpkg-deb into --deb-root, nothing installed; --no-debs
leaves them out): tuxtype-data (kcas*.jpg nature photos), python3-scipy (the
raccoon face.dat), gimp-help-en (tone-mapping tutorial photos, one per scene) and
supertuxkart-data (photo-derived textures, filtered). They never enter the test
split, and they do not change which of the sources above are test images.

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
import bz2
import glob
import hashlib
import importlib.util
import json
import os
import re
import shlex
import subprocess

import numpy as np
from PIL import Image

from debian import copyright_licence  # this folder
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


# -- train-only sources from Debian packages ------------------------------------------------
STK = "usr/share/games/supertuxkart/data"
GIMP_TM = "usr/share/gimp/2.0/help/en/images/tutorials/tone-mapping"
# package -> members unpacked (tar wildcards, relative to the package root)
DEB_MEMBERS = {
    "tuxtype-data": ["usr/share/tuxtype/images/kcas*.jpg"],
    "python3-scipy": ["usr/lib/python3/dist-packages/scipy/misc/face.dat"],
    "gimp-help-en": [GIMP_TM + "/*.jpg"],
    "supertuxkart-data": [STK + "/textures/*.jpg", STK + "/tracks/*.jpg"],
}
# Licence lines checked by hand where the copyright file has no matching stanza
# (gimp-help-en's copyright lives in gimp-help-common; tuxtype's is free-form).
LICENCES = {
    "tuxtype-data": "public domain (NOAA / U.S. Fish and Wildlife Service images, "
                    "see /usr/share/doc/tuxtype-data/copyright)",
    "gimp-help-en": "GFDL-1.2+ (GIMP user manual, see /usr/share/doc/gimp-help-common/copyright)",
}
# gimp-help tone-mapping tutorial: one camera photo per scene (the other files are
# dialogs, masks, screenshots or re-edits of the same scenes); name -> crop box or None
GIMP_PHOTOS = {
    "apple-orchard-truck-from-camera": None,
    "power-lines": None,
    "with-bilateral-smoothing-of-mask": None,
    "tree-exposed-for-sky-ground-is-dark": (0, 0, 384, 642),  # left half of a side-by-side
}
STK_SKIP = re.compile(r"_nm|normal|alpha|mask|^cs_|^stktex_|sky|_a$|_a_|^glow|^spec|gloss|"
                      r"lightmap|shadow|^flag|stkflag|logo|font|icon|particle", re.I)
# Looked through by eye (contact sheet): renders, screenshots, signs, atlases, cartoons.
STK_NOT_PHOTO = re.compile(r"screenshot|sshot|sign|welcome|danger|galaxy|jupiter|planet|konqi|"
                           r"duck|golfbal|cow$|deer|camel|painting|mathclass|aomap|ibl$|flag|"
                           r"lantern|windmill|hut\d|^house|crate_explose|nitro|well\.o|ceramic|"
                           r"bow_tile|^minigolf$|carpet|^lighthouse$|egypt2|towel|pipez|grate|"
                           r"vertpanel|tile3b|wall[13]b|bomber|sakura|column_diffuse|roof_3", re.I)
STK_MIN_SIDE, STK_MAX_SIDE = 256, 2048


def fetch_debs(debs: str, root: str) -> None:
    """apt-get download each package into debs (unless a .deb is already there) and unpack
    the members used here into root with dpkg-deb (no install; skipped when done)."""
    os.makedirs(debs, exist_ok=True)
    for pkg, members in DEB_MEMBERS.items():
        if not glob.glob(os.path.join(debs, f"{pkg}_*.deb")):
            subprocess.run(["apt-get", "download", pkg], cwd=debs, check=True)
        deb = sorted(glob.glob(os.path.join(debs, f"{pkg}_*.deb")))[-1]
        done = os.path.join(root, f".{os.path.basename(deb)}.unpacked")
        if os.path.exists(done):
            continue
        os.makedirs(root, exist_ok=True)
        pats = ["./" + m for m in members]
        if pkg not in LICENCES:  # the licence is read from the copyright file
            pats.append(f"./usr/share/doc/{pkg}/copyright")
        cmd = (f"dpkg-deb --fsys-tarfile {shlex.quote(deb)} | tar -x -C {shlex.quote(root)} --wildcards "
               + " ".join(shlex.quote(p) for p in pats))
        subprocess.run(["bash", "-o", "pipefail", "-c", cmd], check=True)
        open(done, "w").close()


def deb_version(debs: str, pkg: str) -> str:
    f = sorted(glob.glob(os.path.join(debs, f"{pkg}_*.deb")))[-1]
    return os.path.basename(f).split("_")[1].replace("%3a", ":")


def licence_line(root: str, pkg: str, rel: str) -> str:
    """License of the copyright stanza whose Files pattern matches rel (else Files: *)."""
    if pkg in LICENCES:
        return LICENCES[pkg]
    path = os.path.join(root, "usr/share/doc", pkg, "copyright")
    if not os.path.exists(path):
        return "unknown"
    with open(path, errors="replace") as fh:
        return copyright_licence(fh.read(), rel) or "see the package's copyright file"


def deb_sources(root: str) -> tuple[list[tuple], dict[str, list[str]]]:
    """Train-only candidates: (name, package, path inside package, crop box), and skips."""
    out, skipped = [], {}
    for f in sorted(glob.glob(os.path.join(root, "usr/share/tuxtype/images/kcas*.jpg"))):
        out.append(("tuxtype_" + _stem(f), "tuxtype-data", os.path.relpath(f, root), None))
    face = "usr/lib/python3/dist-packages/scipy/misc/face.dat"
    if os.path.exists(os.path.join(root, face)):
        out.append(("scipy_face", "python3-scipy", face, None))
    for f in sorted(glob.glob(os.path.join(root, GIMP_TM, "*.jpg"))):
        if _stem(f) in GIMP_PHOTOS:
            out.append(("gimp_" + _stem(f), "gimp-help-en", os.path.relpath(f, root),
                        GIMP_PHOTOS[_stem(f)]))
        else:
            skipped.setdefault("gimp-help-en: dialog/mask/screenshot/same scene", []).append(f)
    seen = set()
    files = sorted(glob.glob(os.path.join(root, STK, "textures/*.jpg"))) + \
        sorted(glob.glob(os.path.join(root, STK, "tracks/*/*.jpg")))
    for f in files:
        why = None
        digest = hashlib.sha1(open(f, "rb").read()).hexdigest()
        if STK_SKIP.search(_stem(f)):
            why = "name (normal map, mask, cs_/stktex_, sky, ...)"
        elif STK_NOT_PHOTO.search(_stem(f)):
            why = "not photographic (render, screenshot, sign, atlas; checked by eye)"
        elif digest in seen:
            why = "duplicate file"
        else:
            with Image.open(f) as im:
                if min(im.size) < STK_MIN_SIDE or max(im.size) > STK_MAX_SIDE:
                    why = f"size outside {STK_MIN_SIDE}-{STK_MAX_SIDE} px"
                elif im.mode not in ("RGB", "YCbCr", "CMYK"):
                    why = "not colour (" + im.mode + ")"
                elif looks_flat(im.convert("RGB")):
                    why = "flat (looks_flat)"
        seen.add(digest)
        if why:
            skipped.setdefault("supertuxkart-data: " + why, []).append(f)
            continue
        parts = os.path.relpath(f, os.path.join(root, STK)).split("/")
        name = "stk_" + "_".join(parts[1:-1] + [_stem(f)])
        out.append((name, "supertuxkart-data", os.path.relpath(f, root), None))
    return out, skipped


def _stem(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


def load_deb_image(root: str, rel: str, box) -> Image.Image:
    path = os.path.join(root, rel)
    if rel.endswith("face.dat"):  # scipy.misc.face: bz2-compressed raw RGB, 1024x768
        raw = np.frombuffer(bz2.decompress(open(path, "rb").read()), np.uint8)
        return Image.fromarray(raw.reshape(768, 1024, 3))
    im = Image.open(path).convert("RGB")
    return im.crop(box) if box else im


def add_deb_sources(out: str, debs: str, root: str, max_side: int, taken: set[str]) -> list[dict]:
    """Train rows for the Debian package sources (written to out/train)."""
    fetch_debs(debs, root)
    cands, skipped = deb_sources(root)
    rows = []
    for name, pkg, rel, box in cands:
        if name in taken:
            raise SystemExit(f"name clash: {name}")
        im = load_deb_image(root, rel, box)
        res = resize(im, min(1.0, max_side / max(im.size)))
        file = f"train/{name}.png"
        res.save(os.path.join(out, file), optimize=False, compress_level=6)
        rows.append({"file": file, "split": "train", "source": "/" + rel, "package": pkg,
                     "version": deb_version(debs, pkg), "licence": licence_line(root, pkg, rel),
                     "source_size": list(im.size), "size": list(res.size)})
    for why, files in sorted(skipped.items()):
        print(f"skipped {len(files)}: {why}")
    for pkg in DEB_MEMBERS:
        print(f"kept {sum(r['package'] == pkg for r in rows)}: {pkg}")
    return rows


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
    ap.add_argument("--debs", default="data/debs", help="cache of downloaded .deb files")
    ap.add_argument("--deb-root", default="data/debs-root/images",
                    help="scratch folder the packages are unpacked into")
    ap.add_argument("--no-debs", action="store_true",
                    help="leave out the train-only Debian package sources")
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
        if not args.no_debs:
            rows += add_deb_sources(args.out, args.debs, args.deb_root, args.max_side,
                                    {os.path.basename(r["file"])[:-4] for r in rows})
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
