"""BD-rate of a variant of the detail layer against the one in the code, on a folder of photos.

The fourteenth session chose the detail layer's settings (vqcodec/codec/detail.py) this way on
the 12 validation photos (make_image_val.py). Each photo is coded once at level 1 with the
bundled model (its file size and decoding are the base of every detail level), then the detail
layer codes it at each step of the levels, as the module stands and with each variant's
settings (module constants), and the curves (bpp with the base's bytes, PSNR, MS-SSIM) are
compared by Bjontegaard delta rate (negative: the variant needs fewer bits).

    python samples/recipes/detail_choices.py data/images/val --variant DEBLOCK=0 \
        --variant "WEIGHTS=1 + 0 * ZU" --variant ROUNDING=0.35
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from vqcodec import api  # noqa: E402
from vqcodec.codec import detail  # noqa: E402
from vqcodec.codec.params import DETAIL_STEPS, DETAIL_UNIT  # noqa: E402
from vqcodec.eval.bdrate import bd_rate  # noqa: E402
from vqcodec.eval.images import list_images  # noqa: E402
from vqcodec.eval.metrics import ms_ssim, psnr  # noqa: E402
from vqcodec.media import read_image  # noqa: E402


def bases(folder: str) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """(photo, its level-1 decoding, level-1 file bytes) for each photo."""
    out = []
    for path in list_images(folder):
        rgb = np.array(read_image(str(path))[0])
        stream = api.compress(rgb, quality=1)
        out.append((rgb, api.decompress(stream), len(stream)))
    return out


def curve(photos) -> list[tuple[float, float, float]]:
    """Mean (bpp, PSNR, MS-SSIM) at each detail step, the detail bytes added to the base's."""
    points = []
    for step in DETAIL_STEPS:
        rows = []
        for rgb, base, nbytes in photos:
            data, rec = detail.encode(rgb, base.copy(), step / DETAIL_UNIT, 3)
            rows.append(((nbytes + len(data)) * 8 / rgb.shape[0] / rgb.shape[1],
                         psnr(rgb, rec), ms_ssim(rgb, rec)))
        points.append(tuple(float(v) for v in np.mean(rows, axis=0)))
    return points


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder")
    ap.add_argument("--variant", action="append", default=[],
                    help="NAME=EXPRESSION: a module constant of vqcodec.codec.detail, evaluated "
                         "in the module (numpy as np, ZU, ZV, ... available); several joined by "
                         "';' make one variant; repeat for more")
    args = ap.parse_args()
    photos = bases(args.folder)
    ref = curve(photos)
    print("as in the code:", " ".join(f"{b:.4f}/{p:.2f}/{s:.4f}" for b, p, s in ref))
    for variant in args.variant:
        importlib.reload(detail)
        for part in variant.split(";"):  # "A=1; B=2" changes both
            name, expr = part.split("=", 1)
            setattr(detail, name.strip(), eval(expr, vars(detail)))
        pts = curve(photos)
        bd_p = bd_rate([(b, p) for b, p, _ in ref], [(b, p) for b, p, _ in pts])
        bd_s = bd_rate([(b, s) for b, _, s in ref], [(b, s) for b, _, s in pts])
        print(f"{variant}: BD-rate {bd_p:+.2f} % PSNR, {bd_s:+.2f} % MS-SSIM  "
              + " ".join(f"{b:.4f}/{p:.2f}/{s:.4f}" for b, p, s in pts))
    importlib.reload(detail)


if __name__ == "__main__":
    main()
