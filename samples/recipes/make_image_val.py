"""The image validation set: 12 photos that no bundled model was trained on, for tuning.

tuxtype-data's 12 nature photos (`usr/share/tuxtype/images/kcas*.jpg`, 1280x1024, public domain:
U.S. government agencies, see the package's copyright file) are in ../shared/DATA.md's list.
`image-default` was trained on the wallpaper photos alone (make_image_corpus.py --no-debs), so
these are unseen by it; they are not in the test split either. Each is scaled to cover 768x512
(Lanczos) and centre-cropped, as the test crops are. The fourteenth session tuned the detail
layer (vqcodec/codec/detail.py) on them; the test photos were run once, at the end.

    python samples/recipes/make_image_val.py --out data/images/val
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import tempfile

from PIL import Image

PACKAGE = "tuxtype-data"
PATTERN = "usr/share/tuxtype/images/kcas*.jpg"


def crop(path: str, width: int, height: int) -> Image.Image:
    im = Image.open(path).convert("RGB")
    scale = max(width / im.width, height / im.height)
    im = im.resize((round(im.width * scale), round(im.height * scale)), Image.LANCZOS)
    left, top = (im.width - width) // 2, (im.height - height) // 2
    return im.crop((left, top, left + width, top + height))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--crop", default="768x512", help="WxH")
    args = ap.parse_args()
    width, height = map(int, args.crop.split("x"))
    os.makedirs(args.out, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["apt-get", "download", PACKAGE], cwd=tmp, check=True,
                       stdout=subprocess.DEVNULL)
        deb = glob.glob(os.path.join(tmp, f"{PACKAGE}_*.deb"))[0]
        subprocess.run(["dpkg-deb", "-x", deb, os.path.join(tmp, "root")], check=True)
        rows = []
        for src in sorted(glob.glob(os.path.join(tmp, "root", PATTERN))):
            name = os.path.splitext(os.path.basename(src))[0] + ".png"
            try:
                crop(src, width, height).save(os.path.join(args.out, name))
            except OSError as exc:
                print(f"skipped {src}: {exc}")
                continue
            rows.append({"file": name, "package": PACKAGE, "version": os.path.basename(deb).split("_")[1],
                         "path": os.path.relpath(src, os.path.join(tmp, "root")),
                         "licence": "public domain (NOAA, U.S. Fish and Wildlife Service; see /usr/share/doc/tuxtype-data/copyright)"})
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(rows, f, indent=1)
    print(f"{len(rows)} validation photos in {args.out}")


if __name__ == "__main__":
    main()
