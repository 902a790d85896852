"""Flat blocks: an 8 x 8 block whose pixels all share one colour comes back as that colour.

The decoder network draws a faint texture into some flat colours (a flat (227, 18, 239) square
came back with the right mean but 15 levels off per pixel), which the colour correction map, a
map of means, cannot remove. So the encoder finds the BLOCK x BLOCK blocks of the image (aligned
with the index map; at the right and bottom edges, the pixels inside the image) whose pixels are
all the same RGB value, and codes which blocks they are and their colours; the decoder paints
them last, after the colour correction. The encoder sends the map only where it pays (LAMBDA),
or where flat blocks are most of the image and a pixel in them would be off (TOLERANCE):
flat images, backgrounds, screenshots and diagrams come back exact; a photo without such blocks, or
whose few flat blocks the network already decodes about right, carries no map at all (format
version 4, byte for byte as before).

Layout (docs/FORMAT.md, version 5): a varint, the number of new colours, their RGB bytes, then
one range-coded stream: a flag per block in raster order, under adaptive counts in 8 contexts
(block above flat, block to the left flat, index equal to the left one's), then, per flat block in
raster order, where its colour comes from (LEFT, ABOVE, PREVIOUS flat block, NEW) under adaptive
counts in 4 contexts (left and above flat). The counts are integers (start 1, +INC per symbol),
so every machine decodes the same map; the decoder needs the stream's indices for the contexts.
Numpy and constriction only. Memory: the decoder holds the block map and one band of BLOCK rows,
the encoder a few int64 values per block (about 60 MB at 24 megapixels). The decoder
codes block by block in Python: about 4 s for the 375,000 blocks of a 24-megapixel image
that is 80 % flat blocks (0.4 s to encode).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import constriction
import numpy as np

from ..errors import BadStreamError
from .colour import grid
from .container import read_varint, varint
from .entropy import FAMILY, to_bytes, to_words

BLOCK = 8  # pixels per block side: one index map position
LEFT, ABOVE, PREVIOUS, NEW = 0, 1, 2, 3  # where a flat block's colour comes from
INC = 4  # what a coded symbol adds to its count in its context (every count starts at 1)
# The encoder sends the map only where painting removes more than LAMBDA of squared error
# (8-bit levels, summed over pixels and channels) per bit the map adds: about the trade the
# index stream makes between quality levels (850 per bit from level 1 to 2 of the 5-level
# model in docs/RESULTS.md). Screen content gains thousands per bit, photos' few flat blocks
# (clipped black or white) tens.
LAMBDA = 850
# Where flat blocks are most of the image (a flat colour, a diagram's background), the map is
# sent whatever it costs once a pixel in them would come back more than TOLERANCE levels off
# (the flat-colour target, README): the decoder network's zero-padded border drew a spot 30
# levels off into the corner of a white image, too few squared errors for LAMBDA, and the detail
# layer's DCT steps pass over one pixel. Photos' flat blocks (under 3 % of their blocks on the
# held-out and validation photos) are left to LAMBDA alone.
TOLERANCE = 3
MOST = 0.5  # the share of the image's pixels in flat blocks from which TOLERANCE holds


@dataclass
class FlatMap:
    flags: np.ndarray  # (hb, wb) bool: the block is flat
    colours: np.ndarray  # (hb, wb, 3) uint8: its colour where flat (anything elsewhere)

    @property
    def count(self) -> int:
        return int(self.flags.sum())


def find(rgb: np.ndarray, block: int = BLOCK) -> FlatMap:
    """The flat blocks of an (H, W, 3) uint8 image, one band of `block` rows at a time."""
    h, w = rgb.shape[:2]
    hb, wb = grid(h, w, block)
    flags = np.zeros((hb, wb), dtype=bool)
    colours = np.zeros((hb, wb, 3), dtype=np.uint8)
    starts = np.arange(0, w, block)
    for i in range(hb):
        band = rgb[i * block: (i + 1) * block]
        lo = np.minimum.reduceat(band.min(axis=0), starts, axis=0)  # (wb, 3)
        hi = np.maximum.reduceat(band.max(axis=0), starts, axis=0)
        flags[i] = (lo == hi).all(axis=1)
        colours[i] = lo
    return FlatMap(flags, colours)


def _bands(img: np.ndarray, fm: FlatMap, block: int):
    """(band of `block` rows, its columns in flat blocks, their colours) per row of blocks
    with a flat block."""
    w = img.shape[1]
    for i in np.flatnonzero(fm.flags.any(axis=1)):
        cols = np.repeat(fm.flags[i], block)[:w]
        colours = np.repeat(fm.colours[i], block, axis=0)[:w][cols]
        yield img[i * block: (i + 1) * block], cols, colours


def paint(img: np.ndarray, fm: FlatMap, block: int = BLOCK) -> np.ndarray:
    """`img` (H, W, 3 uint8) with every flat block set to its colour, in place."""
    for band, cols, colours in _bands(img, fm, block):
        band[:, cols] = colours
    return img


def painted_error(img: np.ndarray, fm: FlatMap, block: int = BLOCK) -> int:
    """Sum of squared differences between `img` and its flat blocks' colours, over those
    blocks: what painting them removes."""
    total = 0
    for band, cols, colours in _bands(img, fm, block):
        d = band[:, cols].astype(np.int32) - colours
        total += int(np.einsum("ijk,ijk->", d, d, dtype=np.int64))
    return total


def worst_error(img: np.ndarray, fm: FlatMap, block: int = BLOCK) -> int:
    """The largest difference (8-bit levels, any channel) between `img` and its flat blocks'
    colours, over those blocks; 0 without flat blocks."""
    worst = 0
    for band, cols, colours in _bands(img, fm, block):
        worst = max(worst, int(np.abs(band[:, cols].astype(np.int16) - colours).max()))
    return worst


def must_paint(img: np.ndarray, fm: FlatMap, block: int = BLOCK) -> bool:
    """Whether the map must be sent whatever it costs: flat blocks hold at least MOST of the
    image's pixels and a pixel of them in `img` (the decoding without the map) is more than
    TOLERANCE levels off."""
    height, width = img.shape[:2]
    hb, wb = fm.flags.shape
    bh = np.minimum(block, height - block * np.arange(hb))  # edge blocks: their pixels inside
    bw = np.minimum(block, width - block * np.arange(wb))
    painted = int((fm.flags * bh[:, None] * bw[None, :]).sum())
    return painted >= MOST * height * width and worst_error(img, fm, block) > TOLERANCE


def painted_share(fm: FlatMap, height: int, width: int, tile: int,
                  block: int = BLOCK) -> np.ndarray:
    """(gh, gw): the share of each `tile` x `tile` tile's pixels in flat blocks (`tile` a
    multiple of `block`; edge blocks and tiles count their pixels inside the image)."""
    hb, wb = fm.flags.shape
    bh = np.minimum(block, height - block * np.arange(hb))
    bw = np.minimum(block, width - block * np.arange(wb))
    per = tile // block
    painted = fm.flags * bh[:, None] * bw[None, :]
    painted = np.add.reduceat(np.add.reduceat(painted, np.arange(0, hb, per), 0),
                              np.arange(0, wb, per), 1)
    th = np.minimum(tile, height - tile * np.arange(painted.shape[0]))
    tw = np.minimum(tile, width - tile * np.arange(painted.shape[1]))
    return painted / (th[:, None] * tw[None, :])


def same_as_left(indices: np.ndarray) -> np.ndarray:
    """(h, w) bool: a position's index (its first stage's, for (h, w, level)) equals the index to
    its left; the flags' context, known to the decoder before the map."""
    first = indices if indices.ndim == 2 else indices[..., 0]
    same = np.zeros(first.shape, dtype=bool)
    same[:, 1:] = first[:, 1:] == first[:, :-1]
    return same


def _flag_contexts(flags: np.ndarray, same: np.ndarray) -> np.ndarray:
    """Each block's context: 4 * (block above flat) + 2 * (block to the left flat) + same."""
    up, left = np.zeros_like(flags), np.zeros_like(flags)
    up[1:], left[:, 1:] = flags[:-1], flags[:, :-1]
    return 4 * up.astype(np.int64) + 2 * left + same


def _colour_choices(fm: FlatMap) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each flat block in raster order: its context (2 * left flat + above flat), where its
    colour comes from (LEFT, ABOVE, PREVIOUS, NEW: the first that has it), and the new colours."""
    ys, xs = np.nonzero(fm.flags)
    colours = fm.colours.astype(np.int64)
    cols = colours[ys, xs]
    lf = (xs > 0) & fm.flags[ys, np.maximum(xs - 1, 0)]
    uf = (ys > 0) & fm.flags[np.maximum(ys - 1, 0), xs]
    left = lf & (cols == colours[ys, np.maximum(xs - 1, 0)]).all(1)
    above = uf & (cols == colours[np.maximum(ys - 1, 0), xs]).all(1)
    previous = np.zeros(len(ys), dtype=bool)
    previous[1:] = (cols[1:] == cols[:-1]).all(1)
    sym = np.select([left, above, previous], [LEFT, ABOVE, PREVIOUS], NEW)
    return 2 * lf.astype(np.int64) + uf, sym, cols[sym == NEW].astype(np.uint8)


def _adaptive_weights(contexts: np.ndarray, symbols: np.ndarray, size: int) -> np.ndarray:
    """(n, size) weights each symbol was coded under: per context, 1 + INC x how often each
    symbol came before in that context (what the decoder's counts hold at that point)."""
    onehot = np.zeros((len(symbols), size), dtype=np.int64)
    onehot[np.arange(len(symbols)), symbols] = 1
    weights = np.ones((len(symbols), size), dtype=np.int64)
    for c in np.unique(contexts):
        sel = contexts == c
        weights[sel] += INC * (np.cumsum(onehot[sel], axis=0) - onehot[sel])
    return weights.astype(np.float64)  # integers below 2^53: exact


def encode(fm: FlatMap, same: np.ndarray) -> bytes:
    """A flat map -> bytes (module docstring); `same` is `same_as_left` of the stream's indices."""
    flags = fm.flags.reshape(-1).astype(np.int32)
    ctx = _flag_contexts(fm.flags, same).reshape(-1)
    sym_ctx, sym, new = _colour_choices(fm)
    coder = constriction.stream.queue.RangeEncoder()
    coder.encode(flags, FAMILY, _adaptive_weights(ctx, flags, 2))
    coder.encode(sym.astype(np.int32), FAMILY, _adaptive_weights(sym_ctx, sym, 4))
    return varint(len(new)) + new.tobytes() + to_bytes(coder.get_compressed())


def check(data: bytes, blocks: int) -> tuple[np.ndarray, bytes]:
    """The new colours (k, 3) and the range-coded rest of a map for a grid of `blocks` blocks;
    BadStreamError when its head cannot be that (checked before the indices are decoded)."""
    stream = io.BytesIO(data)
    n_new = read_varint(stream, "flat block map")
    if n_new > blocks:
        raise BadStreamError(f"corrupt stream: flat block map: {n_new} new colours for "
                             f"{blocks} blocks")
    rgb = stream.read(3 * n_new)
    if len(rgb) < 3 * n_new:
        raise BadStreamError("truncated stream: flat block colours end early")
    return np.frombuffer(rgb, dtype=np.uint8).reshape(-1, 3), stream.read()


def decode(data: bytes, same: np.ndarray) -> FlatMap:
    """The flat map `encode` wrote for a stream whose indices give `same` (`same_as_left`);
    BadStreamError where the data cannot be that."""
    new, rest = check(data, same.size)
    decoder = constriction.stream.queue.RangeDecoder(to_words(rest))
    try:
        flags = _decode_flags(decoder, same)
        colours = _decode_colours(decoder, flags, new)
    except (ValueError, RuntimeError, AssertionError) as exc:
        raise BadStreamError(f"corrupt stream: flat block map ({exc})") from None
    return FlatMap(flags, colours)


def _decode_flags(decoder, same: np.ndarray) -> np.ndarray:
    hb, wb = same.shape
    flags = np.zeros((hb, wb), dtype=bool)
    counts = [[1, 1] for _ in range(8)]
    up = [0] * wb
    for i in range(hb):
        left, row, row_same = 0, [0] * wb, same[i].tolist()
        for j in range(wb):
            c = counts[4 * up[j] + 2 * left + row_same[j]]
            f = int(decoder.decode(FAMILY, np.array([c], dtype=np.float64))[0])
            c[f] += INC
            row[j] = left = f
        flags[i], up = row, row
    if not flags.any():
        raise BadStreamError("corrupt stream: a flat block map without flat blocks")
    return flags


def _decode_colours(decoder, flags: np.ndarray, new: np.ndarray) -> np.ndarray:
    colours = np.zeros(flags.shape + (3,), dtype=np.uint8)
    counts = [[1, 1, 1, 1] for _ in range(4)]
    previous, used = None, 0
    for y, x in zip(*np.nonzero(flags)):
        lf, uf = bool(x and flags[y, x - 1]), bool(y and flags[y - 1, x])
        c = counts[2 * lf + uf]
        s = int(decoder.decode(FAMILY, np.array([c], dtype=np.float64))[0])
        c[s] += INC
        if s == NEW:
            if used == len(new):
                raise BadStreamError("corrupt stream: more new flat block colours than sent")
            colour, used = new[used], used + 1
        elif s == LEFT and lf:
            colour = colours[y, x - 1]
        elif s == ABOVE and uf:
            colour = colours[y - 1, x]
        elif s == PREVIOUS and previous is not None:
            colour = previous
        else:
            raise BadStreamError("corrupt stream: a flat block takes its colour from no flat block")
        colours[y, x] = previous = colour
    if used != len(new):
        raise BadStreamError("corrupt stream: fewer new flat block colours than sent")
    return colours
