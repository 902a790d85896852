"""Image compression: pixels -> VQ-VAE indices -> integer PixelCNN -> range coder -> container.

The networks run in numpy (`model.runtime`), tile by tile; no torch is imported. Memory does
not grow with the image beyond the pixels themselves and the index map (one int per 8 x 8).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from . import container, entropy
from ..errors import BadStreamError
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


def encode_indices(model: CodecModel, rgb: np.ndarray,
                   progress: Progress | None = None) -> np.ndarray:
    """(H, W, 3) uint8 -> (h, w) codebook indices."""
    return model.runtime.encode_image(rgb, progress=progress)


def compress_image(model: CodecModel, rgb: np.ndarray, channels: int,
                   progress: Progress | None = None) -> tuple[bytes, ImageStats]:
    """Code an (H, W, 3) uint8 image; `progress(done, STEPS)` hears how far it got."""
    net_progress, prior_progress = split_progress(progress, NET_SHARE["compress"])
    idx = encode_indices(model, rgb, net_progress)
    h, w = idx.shape
    streams, ideal = entropy.encode(model.prior.plan((1, h, w)), idx.reshape(-1), 1, prior_progress)
    header = container.Header("image", model.fingerprint[:4],
                              ImageParams(rgb.shape[1], rgb.shape[0], channels)).to_bytes()
    data = header + container.record_bytes(streams[0], last=True)
    return data, ImageStats(ideal, len(streams[0]))


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
    """The (h, w) indices of a stream's payload."""
    p = header.params
    h, w = -(-p.height // FACTOR), -(-p.width // FACTOR)
    return entropy.decode(model.prior.plan((1, h, w)), [payload], h * w,
                          progress=progress).reshape(h, w)


def decompress_indices(model: CodecModel, idx: np.ndarray, width: int, height: int,
                       progress: Progress | None = None) -> np.ndarray:
    """(h, w) indices -> (H, W, 3) uint8 image."""
    return model.runtime.decode_image(np.asarray(idx), height, width, progress=progress)


def decompress_payload(model: CodecModel, header: container.Header, payload: bytes,
                       progress: Progress | None = None) -> np.ndarray:
    """A stream's payload -> (H, W, 3) uint8 image; `progress(done, STEPS)` hears how far."""
    prior_progress, net_progress = split_progress(progress, 1.0 - NET_SHARE["decompress"])
    p = header.params
    idx = decode_indices(model, header, payload, prior_progress)
    return decompress_indices(model, idx, p.width, p.height, net_progress)
