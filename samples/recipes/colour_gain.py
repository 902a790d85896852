#!/usr/bin/env python3
"""What the colour correction map buys: every image of a folder compressed at every level with
and without it (`compress --no-colour-correction`), scored by the real file size, PSNR and
MS-SSIM against the original, and the flat-colour error (vqcodec.eval.flat) per level.

  python samples/recipes/colour_gain.py data/images/test [--model M] [--json out.json]

Prints, per level, the means over the images and the mean paired difference (with - without);
the tile size and step were chosen on training photos (data/images2/train), not on these.
"""
from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from vqcodec import api  # noqa: E402
from vqcodec.codec import container  # noqa: E402
from vqcodec.eval.flat import colours  # noqa: E402
from vqcodec.eval.metrics import ms_ssim, psnr  # noqa: E402
from vqcodec.media import IMAGE_SUFFIXES, read_image  # noqa: E402


def roundtrip(rgb: np.ndarray, model: str | None, level: int, corrected: bool) -> tuple[int, np.ndarray]:
    blob = api.compress(rgb, model, quality=level, colour=corrected)
    stream = io.BytesIO(blob)
    out, _ = api.decompress_image_from(stream, container.read_header(stream), model)
    return len(blob), out


def flat(model: str | None, level: int, corrected: bool) -> float:
    errs = []
    for c in colours():
        img = np.broadcast_to(c, (64, 64, 3)).copy()
        errs.append(float(np.abs(roundtrip(img, model, level, corrected)[1].astype(np.float64) - c).mean()))
    return float(np.mean(errs))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder")
    ap.add_argument("--model", default=None)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    files = sorted(p for p in Path(a.folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    levels = api.get_model(a.model, "image").config.stages
    rows = []
    for level in range(1, levels + 1):
        for f in files:
            rgb, _ = read_image(str(f))
            row = {"image": f.name, "level": level}
            for corrected in (False, True):
                n, out = roundtrip(rgb, a.model, level, corrected)
                tag = "with" if corrected else "without"
                row[f"bpp_{tag}"] = n * 8 / (rgb.shape[0] * rgb.shape[1])
                row[f"psnr_{tag}"] = psnr(rgb, out)
                row[f"msssim_{tag}"] = ms_ssim(rgb, out)
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
    summary = []
    for level in range(1, levels + 1):
        r = [x for x in rows if x["level"] == level]
        s = {"level": level, "images": len(r)}
        for key in ("bpp", "psnr", "msssim"):
            w, wo = np.array([x[f"{key}_with"] for x in r]), np.array([x[f"{key}_without"] for x in r])
            s[f"{key}_without"], s[f"{key}_with"] = float(wo.mean()), float(w.mean())
            s[f"{key}_gain"] = float((w - wo).mean())
        s["bpp_gain_percent"] = 100 * s["bpp_gain"] / s["bpp_without"]
        s["flat_error_without"], s["flat_error_with"] = flat(a.model, level, False), flat(a.model, level, True)
        summary.append(s)
        print(f"level {level}: {s['bpp_without']:.4f} -> {s['bpp_with']:.4f} bpp "
              f"({s['bpp_gain_percent']:+.1f} %), PSNR {s['psnr_without']:.2f} -> {s['psnr_with']:.2f} dB "
              f"({s['psnr_gain']:+.2f}), MS-SSIM {s['msssim_without']:.4f} -> {s['msssim_with']:.4f}, "
              f"flat colours {s['flat_error_without']:.2f} -> {s['flat_error_with']:.2f} levels")
    if a.json:
        Path(a.json).write_text(json.dumps({"images": [f.name for f in files], "summary": summary,
                                            "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
