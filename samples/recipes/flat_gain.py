#!/usr/bin/env python3
"""What the flat block map buys (format version 5, vqcodec/codec/flat.py): every image of a
folder compressed with and without it (both with the colour correction map), scored by the real
file size, PSNR, MS-SSIM and the error inside the flat blocks.

  python samples/recipes/flat_gain.py FOLDER [--model M] [--level L] [--json out.json]
  python samples/recipes/flat_gain.py --screens DIR [--count 8]   # write screen-like images

`--screens` draws synthetic screen content (flat panels and backgrounds, text, thin lines, a
smooth gradient standing in for a picture; 768x512, fixed seeds) into DIR, for measuring
where flat blocks occur; the photos of data/images/test have almost none.
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
from vqcodec.codec import container, flat  # noqa: E402
from vqcodec.codec.image import compress_image  # noqa: E402
from vqcodec.eval.metrics import ms_ssim, psnr  # noqa: E402
from vqcodec.media import IMAGE_SUFFIXES, read_image  # noqa: E402


def screens(folder: Path, count: int) -> None:
    """`count` screen-like 768x512 PNGs in `folder`."""
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    for seed in range(count):
        rng = np.random.default_rng(seed)
        pick = lambda: tuple(int(v) for v in rng.integers(0, 256, 3))  # noqa: E731
        im = Image.new("RGB", (768, 512), pick() if seed % 2 else (255, 255, 255))
        d = ImageDraw.Draw(im)
        d.rectangle([0, 0, 767, 31], fill=pick())  # a title bar
        for _ in range(int(rng.integers(3, 7))):  # panels, with text and rules
            x0, y0 = int(rng.integers(0, 600)), int(rng.integers(40, 400))
            x1, y1 = x0 + int(rng.integers(80, 300)), y0 + int(rng.integers(40, 200))
            d.rectangle([x0, y0, x1, y1], fill=pick(), outline=pick())
            for k in range(int(rng.integers(1, 6))):
                d.text((x0 + 6, y0 + 6 + 12 * k), "vqcodec flat block %d.%d" % (seed, k), fill=pick())
            d.line([x0, y1 - 4, x1, y1 - 4], fill=pick(), width=1)
        gx, gy = int(rng.integers(0, 500)), int(rng.integers(40, 300))
        ramp = np.linspace(0, 1, 200)[None, :, None] * np.linspace(0.3, 1, 150)[:, None, None]
        picture = (ramp * np.array(pick()) + (1 - ramp) * np.array(pick())).astype(np.uint8)
        im.paste(Image.fromarray(picture), (gx, gy))  # a smooth picture: no flat blocks
        im.save(folder / f"screen{seed}.png")


def roundtrip(model, rgb: np.ndarray, channels: int, level: int | None,
              flat_blocks: bool) -> tuple[int, np.ndarray]:
    blob = compress_image(model, rgb, channels, quality=level, flat_blocks=flat_blocks)[0]
    stream = io.BytesIO(blob)
    out, _ = api.decompress_image_from(stream, container.read_header(stream), model.path)
    return len(blob), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", nargs="?")
    ap.add_argument("--model", default=None)
    ap.add_argument("--level", type=int, default=None)
    ap.add_argument("--json", default=None)
    ap.add_argument("--screens", default=None, help="write screen-like images to this folder")
    ap.add_argument("--count", type=int, default=8)
    a = ap.parse_args()
    if a.screens:
        screens(Path(a.screens), a.count)
        return
    model = api.get_model(a.model, "image")
    files = sorted(p for p in Path(a.folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    rows = []
    for f in files:
        rgb, channels = read_image(str(f))
        fm = flat.find(rgb)
        mask = np.repeat(np.repeat(fm.flags, 8, 0), 8, 1)[: rgb.shape[0], : rgb.shape[1]]
        row = {"image": f.name, "flat_blocks": fm.count, "flat_fraction": float(fm.flags.mean())}
        for on in (False, True):
            n, out = roundtrip(model, rgb, channels, a.level, on)
            tag = "with" if on else "without"
            row[f"bpp_{tag}"] = n * 8 / (rgb.shape[0] * rgb.shape[1])
            row[f"psnr_{tag}"] = psnr(rgb, out)
            row[f"msssim_{tag}"] = ms_ssim(rgb, out)
            err = np.abs(out.astype(np.int16) - rgb)[mask]
            row[f"flat_error_{tag}"] = float(err.mean()) if err.size else 0.0
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
    s = {"images": len(rows), "with_flat_blocks": sum(r["flat_blocks"] > 0 for r in rows),
         "flat_fraction": float(np.mean([r["flat_fraction"] for r in rows]))}
    for key in ("bpp", "psnr", "msssim", "flat_error"):
        w, wo = np.array([r[f"{key}_with"] for r in rows]), np.array([r[f"{key}_without"] for r in rows])
        s[f"{key}_without"], s[f"{key}_with"], s[f"{key}_gain"] = wo.mean(), w.mean(), (w - wo).mean()
    s = {k: float(v) if isinstance(v, np.floating) else v for k, v in s.items()}
    print(f"{s['images']} images, {s['with_flat_blocks']} with flat blocks ({100 * s['flat_fraction']:.1f} % "
          f"of blocks): {s['bpp_without']:.4f} -> {s['bpp_with']:.4f} bpp, PSNR {s['psnr_without']:.2f} -> "
          f"{s['psnr_with']:.2f} dB ({s['psnr_gain']:+.2f}), MS-SSIM {s['msssim_without']:.4f} -> "
          f"{s['msssim_with']:.4f}, error in flat blocks {s['flat_error_without']:.2f} -> "
          f"{s['flat_error_with']:.2f} levels")
    if a.json:
        Path(a.json).write_text(json.dumps({"summary": s, "images": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
