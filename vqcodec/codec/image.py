"""Image compression: pixels -> VQ-VAE indices -> integer PixelCNN -> range coder -> container.

The networks run in numpy (`model.runtime`); no torch is imported.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from . import container, entropy
from ..errors import BadStreamError
from ..models.modelfile import CodecModel
from ..networks.config import FACTOR
from ..runtime.image import to_input, to_pixels
from .params import DEFAULT_MAX_PIXELS, ImageParams


@dataclass
class ImageStats:
    ideal_bits: float  # sum of -log2 p under the integer prior
    payload_bytes: int


def encode_indices(model: CodecModel, rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (h, w) codebook indices."""
    return model.runtime.encode(to_input(rgb))


def compress_image(model: CodecModel, rgb: np.ndarray, channels: int) -> tuple[bytes, ImageStats]:
    idx = encode_indices(model, rgb)
    h, w = idx.shape
    streams, ideal = entropy.encode(model.prior.plan((1, h, w)), idx.reshape(-1), 1)
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


def decode_indices(model: CodecModel, header: container.Header, payload: bytes) -> np.ndarray:
    """The (h, w) indices of a stream's payload."""
    p = header.params
    h, w = -(-p.height // FACTOR), -(-p.width // FACTOR)
    return entropy.decode(model.prior.plan((1, h, w)), [payload], h * w).reshape(h, w)


def decompress_indices(model: CodecModel, idx: np.ndarray, width: int, height: int) -> np.ndarray:
    """(h, w) indices -> (H, W, 3) uint8 image."""
    return to_pixels(model.runtime.decode(np.asarray(idx)), height, width)
