"""Image benchmark: our codec against JPEG, WebP and AVIF (through Pillow) at the same bitrate.

For each image our codec runs in-process through the library API at its default level; every
peer's quality setting is searched for the file size closest to ours. The rate-distortion
curves run our codec at every level and each peer at a ladder of settings on the same images,
and the Bjontegaard delta rate (`bdrate`) summarises ours against each peer. Rates are real
file sizes (headers included): bpp = bytes * 8 / (W * H). Quality is PSNR and MS-SSIM on
8-bit RGB; MS-SSIM is missing (None, "-" in tables) for an image under 11 pixels on a side,
and means are taken over the images that have it.
"""

from __future__ import annotations

import io
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import BadInputError
from ..media import IMAGE_SUFFIXES

OURS = "vqcodec"


@dataclass(frozen=True)
class Peer:
    """A classic codec reached through Pillow, with its quality range and encoder options."""

    name: str
    pil_format: str
    min_quality: int
    options: dict = field(default_factory=dict)
    curve: tuple[int, ...] = (1, 2, 3, 5, 8, 12, 20, 30, 45, 60, 75, 90)


# Each peer uses its own lowest setting: Pillow's JPEG starts at 1, WebP and AVIF at 0.
JPEG = Peer("JPEG", "JPEG", 1, {"optimize": True})
WEBP = Peer("WebP", "WEBP", 0, {"method": 6}, (0, 1, 3, 5, 8, 12, 20, 30, 45, 60, 75, 90))
AVIF = Peer("AVIF", "AVIF", 0, {}, (0, 2, 5, 10, 20, 30, 40, 50, 60, 75, 90))


@dataclass
class ImageRow:
    """One codec on one image."""

    image: str
    codec: str
    width: int
    height: int
    bytes: int
    bpp: float
    psnr: float
    ms_ssim: float | None  # None: the image is too small (metrics.ms_ssim)
    encode_s: float
    decode_s: float
    quality: int | None = None  # peers: the chosen quality setting
    reached: bool = True  # peers: False when even the lowest setting is above our rate


@dataclass
class ImageEval:
    """The whole run: rows per image and codec, model timings, optional rate-distortion curves."""

    model: str
    model_load_s: float
    warmup_s: float
    peers: list[str]
    rows: list[ImageRow]
    curves: dict[str, list[dict]] = field(default_factory=dict)  # codec -> [{quality, bpp, psnr, ms_ssim}]
    flat: list[dict] = field(default_factory=list)  # per level: flat-colour errors (eval.flat)

    def codecs(self) -> list[str]:
        return [OURS] + self.peers

    def averages(self) -> list[dict]:
        """Mean of every measure per codec; `reached` counts the images where the rate was met.

        For peers, `d_psnr_at_rate` and `d_ms_ssim_at_rate` are the mean differences (peer minus
        ours) over those images only, so a peer stuck above our rate does not flatter itself.
        A missing MS-SSIM (an image too small for it) is left out of the means and counted in
        `ms_ssim_missing`.
        """
        ours = {r.image: r for r in self.rows if r.codec == OURS}
        out = []
        for codec in self.codecs():
            rows = [r for r in self.rows if r.codec == codec]
            if not rows:
                continue
            avg = {"codec": codec, "images": len(rows), "reached": sum(r.reached for r in rows)}
            for key in ("bpp", "psnr", "ms_ssim", "encode_s", "decode_s"):
                avg[key] = _mean([getattr(r, key) for r in rows])
            avg["ms_ssim_missing"] = sum(r.ms_ssim is None for r in rows)
            if codec != OURS:
                met = [r for r in rows if r.reached and r.image in ours]
                for key in ("psnr", "ms_ssim"):
                    pairs = [(getattr(r, key), getattr(ours[r.image], key)) for r in met]
                    avg[f"d_{key}_at_rate"] = _mean([a - b for a, b in pairs
                                                     if a is not None and b is not None])
            out.append(avg)
        return out

    def bd_rates(self) -> dict[str, dict[str, float | None]]:
        """Per peer: our BD-rate against it (percent; negative = fewer bits for the same PSNR
        or MS-SSIM) over the quality range both curves cover, None where they do not meet."""
        from .bdrate import bd_rate

        ours = self.curves.get(OURS)
        if not ours:
            return {}
        return {peer: {m: bd_rate([(p["bpp"], p[m]) for p in points], [(p["bpp"], p[m]) for p in ours])
                       for m in ("psnr", "ms_ssim")}
                for peer, points in self.curves.items() if peer != OURS}

    def to_dict(self) -> dict:
        """Plain data for JSON; non-finite numbers (PSNR of an exact copy) become None."""
        return _finite({"model": self.model, "model_load_s": self.model_load_s,
                        "warmup_s": self.warmup_s, "peers": self.peers,
                        "rows": [asdict(r) for r in self.rows], "averages": self.averages(),
                        "curves": self.curves, "bd_rate_percent": self.bd_rates(),
                        "flat_colours": self.flat})


def available_peers() -> list[Peer]:
    """JPEG and WebP always; AVIF when this Pillow has an AVIF encoder."""
    from PIL import features

    peers = [JPEG]
    if features.check("webp"):
        peers.append(WEBP)
    if features.check("avif"):
        peers.append(AVIF)
    return peers


def list_images(directory: str | Path) -> list[Path]:
    """Image files directly in `directory`, sorted by name."""
    d = Path(directory)
    if not d.is_dir():
        raise BadInputError(f"{d}: not a directory")
    files = sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise BadInputError(f"{d}: no images found ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return files


# -- codecs -----------------------------------------------------------------------------------
def pil_encode(rgb: np.ndarray, peer: Peer, quality: int) -> tuple[bytes, float]:
    """Encode with Pillow; returns (file bytes, seconds)."""
    from PIL import Image

    img = Image.fromarray(rgb, "RGB")
    buf = io.BytesIO()
    t = time.perf_counter()
    img.save(buf, format=peer.pil_format, quality=quality, **peer.options)
    return buf.getvalue(), time.perf_counter() - t


def pil_decode(data: bytes) -> tuple[np.ndarray, float]:
    """Decode any Pillow format to (H, W, 3) uint8; returns (pixels, seconds). The peer coded
    an image read within vqcodec's pixel limit, so Pillow's own is off (media.own_pixel_limit)."""
    from PIL import Image

    from ..media import own_pixel_limit

    t = time.perf_counter()
    with own_pixel_limit():
        img = Image.open(io.BytesIO(data))
        img.load()
        rgb = np.array(img.convert("RGB"))
    return rgb, time.perf_counter() - t


def match_rate(rgb: np.ndarray, peer: Peer, target_bytes: int) -> tuple[int, bytes, float, bool]:
    """The peer's quality whose file size is closest to `target_bytes`.

    Binary search for the first quality at or above the target, then the closest of its
    neighbours (sizes are not strictly monotonic at the lowest settings). Returns (quality,
    bytes, encode seconds, reached), reached being False when the lowest setting is too big.
    """
    cache: dict[int, tuple[bytes, float]] = {}

    def enc(q: int) -> tuple[bytes, float]:
        if q not in cache:
            cache[q] = pil_encode(rgb, peer, q)
        return cache[q]

    lo, hi = peer.min_quality, 100
    while lo < hi:
        mid = (lo + hi) // 2
        if len(enc(mid)[0]) < target_bytes:
            lo = mid + 1
        else:
            hi = mid
    near = range(max(peer.min_quality, lo - 2), min(100, lo + 2) + 1)
    best = min(near, key=lambda q: (abs(len(enc(q)[0]) - target_bytes), q))
    reached = len(enc(peer.min_quality)[0]) <= target_bytes
    data, seconds = enc(best)
    return best, data, seconds, reached


def _ours(path: Path, model: Path,
          quality: int | None = None) -> tuple[bytes, float, np.ndarray, float]:
    """Compress and decompress one image file with our codec at level `quality` (default: the
    model's): (stream, enc s, pixels, dec s)."""
    from .. import api
    from ..codec import container

    out = io.BytesIO()
    t = time.perf_counter()
    api.compress_image_to(path, out, model, quality=quality)
    enc_s = time.perf_counter() - t
    stream = io.BytesIO(out.getvalue())
    t = time.perf_counter()
    header = container.read_header(stream)
    rgb, _ = api.decompress_image_from(stream, header, model)
    return out.getvalue(), enc_s, rgb, time.perf_counter() - t


# -- the benchmark ----------------------------------------------------------------------------
def evaluate_images(directory: str | Path, model: str | Path | None = None, peers: bool = True,
                    curves: bool = False, flat: bool = False,
                    progress: Callable[[str], None] | None = None) -> ImageEval:
    """Run our codec and the peers over every image in `directory`; with `curves` every level
    and each peer's ladder, with `flat` the flat-colour check at every level."""
    from .. import api
    from .metrics import ms_ssim, psnr
    from ..media import read_image
    from ..models.modelfile import BUNDLED, resolve

    files = list_images(directory)
    path = resolve(model or BUNDLED["image"])
    t = time.perf_counter()
    m = api.get_model(path, "image")
    load_s = time.perf_counter() - t
    warmup_s = _warm_up(path)
    peer_list = available_peers() if peers else []
    rows: list[ImageRow] = []
    for i, f in enumerate(files):
        if progress:
            progress(f"[{i + 1}/{len(files)}] {f.name}")
        ref = np.array(read_image(str(f))[0])  # a writable copy: torch warns on read-only arrays
        h, w = ref.shape[:2]
        data, enc_s, out, dec_s = _ours(f, path)
        rows.append(ImageRow(f.name, OURS, w, h, len(data), len(data) * 8 / (w * h),
                             psnr(ref, out), ms_ssim(ref, out), enc_s, dec_s))
        for peer in peer_list:
            q, pdata, penc_s, reached = match_rate(ref, peer, len(data))
            pout, pdec_s = pil_decode(pdata)
            rows.append(ImageRow(f.name, peer.name, w, h, len(pdata), len(pdata) * 8 / (w * h),
                                 psnr(ref, pout), ms_ssim(ref, pout), penc_s, pdec_s, q, reached))
    result = ImageEval(m.name, load_s, warmup_s, [p.name for p in peer_list], rows)
    if curves:
        if progress:
            progress("rate-distortion curves")
        result.curves = rd_curves(files, peer_list, path, m.config.levels)
    if flat:
        from .flat import flat_errors

        if progress:
            progress("flat colours")
        result.flat = flat_errors(path, list(range(1, m.config.levels + 1)))
    return result


def _warm_up(model: Path) -> float:
    """One small round trip so one-time framework costs don't land on the first image."""
    from .. import api
    from ..media import write_image

    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    write_image(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8), 3, buf, "PNG")
    t = time.perf_counter()
    api.decompress(api.compress(buf.getvalue(), model), model)
    return time.perf_counter() - t


def rd_curves(files: list[Path], peers: list[Peer], model: Path,
              levels: int) -> dict[str, list[dict]]:
    """Our codec at every level and each peer at every setting of its ladder: bpp, PSNR and
    MS-SSIM averaged over the images."""
    from .metrics import ms_ssim, psnr
    from ..media import read_image

    refs = [np.array(read_image(str(f))[0]) for f in files]

    def point(q: int, coded: list[tuple[int, np.ndarray]]) -> dict:
        """The mean over images of (stream bytes, decoded pixels) made at setting `q`."""
        return {"quality": q,
                "bpp": float(np.mean([n * 8 / (r.shape[0] * r.shape[1]) for (n, _), r in zip(coded, refs)])),
                "psnr": float(np.mean([psnr(r, out) for (_, out), r in zip(coded, refs)])),
                "ms_ssim": _mean([ms_ssim(r, out) for (_, out), r in zip(coded, refs)])}

    curves = {OURS: [point(q, [(len(d), out) for d, _, out, _ in (_ours(f, model, q) for f in files)])
                     for q in range(1, levels + 1)]}
    for peer in peers:
        curves[peer.name] = [point(q, [(len(d), pil_decode(d)[0]) for d in
                                       (pil_encode(r, peer, q)[0] for r in refs)])
                             for q in peer.curve]
    return curves


def plot_rd(result: ImageEval, out: str | Path) -> None:
    """PSNR and MS-SSIM against bpp: a curve per codec over its levels or settings, and the
    rate-matched points (squares: peers at our default level's rate)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    avg = {a["codec"]: a for a in result.averages()}
    n = avg[OURS]["images"] if OURS in avg else 0
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, key, label in ((axes[0], "psnr", "PSNR (dB, RGB)"), (axes[1], "ms_ssim", "MS-SSIM")):
        for name, points in result.curves.items():
            style = dict(color="crimson", lw=2) if name == OURS else {}
            ax.plot([p["bpp"] for p in points], [_nan(p[key]) for p in points], "o-", ms=3,
                    label=f"{OURS} ({result.model}), levels" if name == OURS else name, **style)
        for name in result.peers:
            ax.plot(avg[name]["bpp"], _nan(avg[name][key]), "s", mfc="none", color="gray")
        if OURS in avg:
            ax.plot(avg[OURS]["bpp"], _nan(avg[OURS][key]), "*", ms=14, color="crimson")
        ax.set_xscale("log")
        ax.set_xlabel("bits per pixel (real file size, log scale)")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend()
    fig.suptitle(f"Rate-distortion, mean over {n} images (star: default level; squares: peers "
                 "at its rate)")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def _mean(values: list) -> float | None:
    """The mean of the values that are not None; None when none is."""
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None


def _nan(v: float | None) -> float:
    return math.nan if v is None else v


def _finite(obj):
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj
