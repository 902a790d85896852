"""Image compression: pixels -> VQ-VAE indices -> integer PixelCNN -> range coder -> container.

The networks run in numpy (`model.runtime`), tile by tile; no torch is imported. Memory does
not grow with the image beyond the pixels themselves and the index map (one int per 8 x 8).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from . import container, entropy
from ..errors import BadStreamError, UsageError
from ..models.modelfile import CodecModel
from ..networks.config import FACTOR
from .entropy import Progress
from .params import DEFAULT_MAX_PIXELS, ImageParams

# The share of the time the networks take, the prior the rest, where a progress bar matters:
# measured on the bundled model at 6 MP 0.74 and 0.69 (at 768x512, one tile, about 0.6 and 0.5).
# It only maps both stages onto one progress count.
NET_SHARE = {"compress": 0.7, "decompress": 0.65}
STEPS = 1000  # what `progress` counts to


@dataclass
class ImageStats:
    ideal_bits: float  # sum of -log2 p under the integer prior
    payload_bytes: int
    level: int = 1  # quality level: residual stages coded


def split_progress(progress: Progress | None,
                   first_share: float) -> tuple[Progress | None, Progress | None]:
    """Two callbacks for two stages of one job, each stage's (done, total) reported to
    `progress` as a rising (done, STEPS), the first stage taking `first_share` of the count."""
    if progress is None:
        return None, None
    last = -1

    def part(lo: float, share: float) -> Progress:
        def report(done: int, total: int) -> None:
            nonlocal last
            now = round(STEPS * (lo + share * done / total))
            if now > last:
                last = now
                progress(now, STEPS)

        return report

    return part(0.0, first_share), part(first_share, 1.0 - first_share)


def encode_indices(model: CodecModel, rgb: np.ndarray, progress: Progress | None = None,
                   level: int | None = None) -> np.ndarray:
    """(H, W, 3) uint8 -> (h, w) codebook indices, or (h, w, level) of the first `level` stages."""
    return model.runtime.encode_image(rgb, progress=progress, level=level)


def check_quality(model: CodecModel, quality: int | None, bpp: float | None) -> None:
    """Refuse a --quality the model does not have, or a --bpp below zero, before any work."""
    n = model.config.stages
    if quality is not None and bpp is not None:
        raise UsageError("give --quality or --bpp, not both")
    if quality is not None and not 1 <= quality <= n:
        raise UsageError(f"--quality must be between 1 and {n} for model {model.name}")
    if bpp is not None and not bpp > 0:
        raise UsageError("--bpp must be positive")


def compress_image(model: CodecModel, rgb: np.ndarray, channels: int,
                   progress: Progress | None = None, quality: int | None = None,
                   bpp: float | None = None) -> tuple[bytes, ImageStats]:
    """Code an (H, W, 3) uint8 image at level `quality` (default: the model's middle level),
    or at the highest level whose stream fits `bpp` bits per pixel (UsageError when none
    does). `progress(done, STEPS)` hears how far it got."""
    check_quality(model, quality, bpp)
    net_progress, prior_progress = split_progress(progress, NET_SHARE["compress"])
    top = model.config.stages if bpp is not None else quality or model.config.default_level
    idx = encode_indices(model, rgb, net_progress, level=top)  # (h, w, top): every level's prefix

    def code(level: int) -> tuple[bytes, ImageStats]:
        h, w = idx.shape[:2]
        plan = model.prior.plan((1, h, w, level))
        streams, ideal = entropy.encode(plan, idx[..., :level].reshape(-1), 1, prior_progress)
        params = ImageParams(rgb.shape[1], rgb.shape[0], channels, level)
        header = container.Header("image", model.fingerprint[:4], params).to_bytes()
        return header + container.record_bytes(streams[0], last=True), ImageStats(ideal, len(streams[0]), level)

    if bpp is None:
        return code(top)
    return _fit(code, top, bpp * rgb.shape[0] * rgb.shape[1] / 8, bpp)


def _fit(code, levels: int, budget: float, bpp: float) -> tuple[bytes, ImageStats]:
    """The highest level whose stream is at most `budget` bytes, by bisection over levels (a
    level adds a stage, so its stream is longer): about log2(levels) codings, each real."""
    best, lo, hi, smallest = None, 1, levels, None
    while lo <= hi:
        mid = (lo + hi) // 2
        data, stats = code(mid)
        if len(data) <= budget:
            best, lo = (data, stats), mid + 1
        else:
            hi = mid - 1
            smallest = len(data) if mid == 1 else smallest
    if best is None:
        pixels = budget * 8 / bpp
        raise UsageError(f"no level fits {bpp:g} bpp: the lowest, level 1, takes "
                         f"{smallest * 8 / pixels:.4f} bpp")
    return best


def read_image_stream(stream: io.BufferedIOBase, header: container.Header,
                      max_pixels: int = DEFAULT_MAX_PIXELS) -> bytes:
    """Validate an image header's parameters and return its (checksummed) payload."""
    header.params.validate(max_pixels)
    rec = container.read_record(stream)
    if not rec.intact:
        raise BadStreamError("corrupt stream: payload checksum mismatch")
    if not rec.last:
        raise BadStreamError("malformed stream: image payload is not a single record")
    if stream.read(1):
        raise BadStreamError("trailing data after the end of the image stream")
    return rec.payload


def decode_indices(model: CodecModel, header: container.Header, payload: bytes,
                   progress: Progress | None = None) -> np.ndarray:
    """The indices of a stream's payload: (h, w) at level 1, else (h, w, level)."""
    p = header.params.check_level(model.config.stages)
    h, w = -(-p.height // FACTOR), -(-p.width // FACTOR)
    idx = entropy.decode(model.prior.plan((1, h, w, p.level)), [payload], h * w * p.level,
                         progress=progress)
    return idx.reshape(h, w) if p.level == 1 else idx.reshape(h, w, p.level)


def decompress_indices(model: CodecModel, idx: np.ndarray, width: int, height: int,
                       progress: Progress | None = None) -> np.ndarray:
    """(h, w) or (h, w, level) indices -> (H, W, 3) uint8 image."""
    return model.runtime.decode_image(np.asarray(idx), height, width, progress=progress)


def decompress_payload(model: CodecModel, header: container.Header, payload: bytes,
                       progress: Progress | None = None) -> np.ndarray:
    """A stream's payload -> (H, W, 3) uint8 image; `progress(done, STEPS)` hears how far."""
    prior_progress, net_progress = split_progress(progress, 1.0 - NET_SHARE["decompress"])
    p = header.params
    idx = decode_indices(model, header, payload, prior_progress)
    return decompress_indices(model, idx, p.width, p.height, net_progress)
