"""The image VQ-VAE forward in numpy: pixels -> indices and indices -> pixels.

`encode` / `decode` run a whole (padded) image at once; `encode_image` / `decode_image` run
it tile by tile (see `tiles`), in memory that does not grow with the image, to the same
indices and pixels. An index map is (h, w) for one stage (level 1) or (h, w, L) for the
first L residual stages (level L).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from . import tiles, vq
from .. import threads
from ..networks import arch
from .nets import Params, sequential

FACTOR = 8  # pixels per index along each axis
TILE = 96  # indices per tile side (768 x 768 pixels): 24 MP codes in 0.46 GB peak RSS
# The encoder cuts a map of one tile into two bands whatever the thread count, so
# the indices (the stream) never depend on it: two threads then encode a 768x512 photo in
# 0.30 s instead of 0.37-0.70 s as one tile with two BLAS threads; on one thread the bands
# cost 7 % more (fifteenth session, docs/RESULTS.md). The decoder's pixels may differ by a
# level with the cuts (tests/test_tiles.py), so its bands follow the threads.
ENCODE_PARTS = 2


class ImageNet:
    """An image model's encoder, codebook and decoder from its config and float32 weights."""

    def __init__(self, cfg, params: Params):
        self.p = params
        self.enc = arch.image_encoder(3, cfg.widths, cfg.latent_dim, cfg.blocks)
        self.dec = arch.image_decoder(3, cfg.widths, cfg.latent_dim, cfg.blocks)
        self.codebooks = [params[f"quantizer.stages.{s}.codebook"] for s in range(cfg.stages)]
        self.enc_halo = -(-tiles.reach(self.enc) // FACTOR)  # in indices
        self.dec_halo = tiles.reach(self.dec)

    def encode(self, x: np.ndarray, level: int | None = None) -> np.ndarray:
        """(H, W, 3) in [-1, 1], H and W multiples of 8 -> (h, w) indices, or (h, w, level)."""
        return self._nearest(sequential(self.enc, self.p, "encoder.net", x), level)

    def _nearest(self, z: np.ndarray, level: int | None) -> np.ndarray:
        """(h, w, D) latents -> (h, w) indices, or (h, w, level) of the first `level` stages."""
        # greedy: level L's codes are the prefix of level L + 1's, which `--bpp` and the prior's
        # training examples (cropped to a random level) rely on; the beam was measured on speech
        idx = vq.encode(np.moveaxis(z, -1, 0), self.codebooks, level or 1, beam=1)  # (L, h, w)
        return idx[0] if level is None else np.moveaxis(idx, 0, -1)

    def decode(self, idx: np.ndarray) -> np.ndarray:
        """(h, w) or (h, w, L) indices -> (8h, 8w, 3) in roughly [-1, 1]."""
        stages = idx[None] if idx.ndim == 2 else np.moveaxis(idx, -1, 0)  # (L, h, w)
        z = np.moveaxis(vq.decode(stages, self.codebooks), 0, -1)  # (h, w, D)
        return sequential(self.dec, self.p, "decoder.net", np.ascontiguousarray(z))

    def encode_image(self, rgb: np.ndarray, tile: int = TILE,
                     progress: Callable[[int, int], None] | None = None,
                     level: int | None = None, workers: int | None = None) -> np.ndarray:
        """(H, W, 3) uint8 -> (h, w) or (h, w, level) indices, tile by tile on `workers`
        threads (default: the thread count; the tiles do not depend on it):
        encode(to_input(rgb), level)."""
        h, w = -(-rgb.shape[0] // FACTOR), -(-rgb.shape[1] // FACTOR)
        idx = np.empty((h, w) if level is None else (h, w, level), dtype=np.int64)

        def one(t: tiles.Tile) -> None:
            x = to_input(rgb[t.wy0 * FACTOR: t.wy1 * FACTOR, t.wx0 * FACTOR: t.wx1 * FACTOR])
            z = sequential(self.enc, self.p, "encoder.net", x)  # (window h, window w, D)
            idx[t.y0: t.y1, t.x0: t.x1] = self._nearest(z[t.core], level)

        tiles.run(one, tiles.tiles(h, w, tile, self.enc_halo, ENCODE_PARTS), progress, workers)
        return idx

    def decode_image(self, idx: np.ndarray, height: int, width: int, tile: int = TILE,
                     progress: Callable[[int, int], None] | None = None,
                     workers: int | None = None) -> np.ndarray:
        """(h, w) or (h, w, L) indices -> (height, width, 3) uint8, tile by tile on `workers`
        threads (default: the thread count): to_pixels(decode(idx))."""
        out = np.empty((height, width, 3), dtype=np.uint8)

        def one(t: tiles.Tile) -> None:
            y = self.decode(idx[t.wy0: t.wy1, t.wx0: t.wx1])
            cy, cx = t.core
            y = y[cy.start * FACTOR: cy.stop * FACTOR, cx.start * FACTOR: cx.stop * FACTOR]
            rows, cols = min(height, t.y1 * FACTOR), min(width, t.x1 * FACTOR)
            out[t.y0 * FACTOR: rows, t.x0 * FACTOR: cols] = to_pixels(
                y, rows - t.y0 * FACTOR, cols - t.x0 * FACTOR)

        n = workers or threads.count()
        tiles.run(one, tiles.tiles(*idx.shape[:2], tile, self.dec_halo, n), progress, n)
        return out


def to_input(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (H', W', 3) in [-1, 1], edge-padded to multiples of FACTOR."""
    h, w, _ = rgb.shape
    x = rgb.astype(np.float32) / np.float32(127.5) - np.float32(1.0)
    return np.pad(x, ((0, -h % FACTOR), (0, -w % FACTOR), (0, 0)), mode="edge")


def to_pixels(x: np.ndarray, height: int, width: int) -> np.ndarray:
    """(H', W', 3) -> (height, width, 3) uint8."""
    x = np.clip(x[:height, :width], -1, 1)
    return np.round((x + np.float32(1.0)) * np.float32(127.5)).astype(np.uint8)
