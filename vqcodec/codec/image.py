"""Image compression: pixels -> VQ-VAE indices -> integer PixelCNN -> range coder -> container."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from . import container, entropy
from ..errors import BadStreamError
from ..models.modelfile import CodecModel
from ..networks.image_model import FACTOR
from .params import DEFAULT_MAX_PIXELS, ImageParams


@dataclass
class ImageStats:
    ideal_bits: float  # sum of -log2 p under the integer prior
    payload_bytes: int


def to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> (1, 3, H', W') in [-1, 1], edge-padded to multiples of FACTOR."""
    h, w, _ = rgb.shape
    x = torch.from_numpy(np.array(rgb, copy=True)).permute(2, 0, 1)[None].float() / 127.5 - 1.0
    return F.pad(x, (0, -w % FACTOR, 0, -h % FACTOR), mode="replicate")


def to_pixels(x: torch.Tensor, height: int, width: int) -> np.ndarray:
    x = x[0, :, :height, :width].clamp(-1, 1)
    return ((x + 1.0) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()


def encode_indices(model: CodecModel, rgb: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> (h, w) codebook indices."""
    with torch.inference_mode():
        return model.net.encode(to_tensor(rgb))[0, 0]


def compress_image(model: CodecModel, rgb: np.ndarray, channels: int) -> tuple[bytes, ImageStats]:
    idx = encode_indices(model, rgb)
    h, w = idx.shape
    streams, ideal = entropy.encode(model.prior.plan((1, h, w)), idx.flatten(), 1)
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


def decode_indices(model: CodecModel, header: container.Header, payload: bytes) -> torch.Tensor:
    p = header.params
    h, w = -(-p.height // FACTOR), -(-p.width // FACTOR)
    flat = entropy.decode(model.prior.plan((1, h, w)), [payload], h * w)
    return flat.view(h, w)


def decompress_indices(model: CodecModel, idx: torch.Tensor, width: int, height: int) -> np.ndarray:
    """(h, w) indices -> (H, W, 3) uint8 image."""
    with torch.inference_mode():
        return to_pixels(model.net.decode(idx[None, None]), height, width)
