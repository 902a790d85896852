"""Flat blocks: an 8 x 8 block whose pixels all share one colour comes back as that colour.

The decoder network draws a faint texture into some flat colours (a flat (227, 18, 239) square
came back with the right mean but 15 levels off per pixel), which the colour correction map, a
map of means, cannot remove. So the encoder finds the BLOCK x BLOCK blocks of the image (aligned
with the index map; at the right and bottom edges, the pixels inside the image) whose pixels are
all the same RGB value, and codes which blocks they are and their colours; the decoder paints
them last, after the colour correction. Flat backgrounds, screenshots, diagrams and clipped
highlights come back exact; a photo without such blocks carries no map at all (format version 4,
byte for byte as before).

Layout (docs/FORMAT.md, version 5): varints n0 k0 n1 k1 (blocks whose upper neighbour is not /
is flat, and how many of each are flat), s0 s1 s2 (flat blocks whose colour is the previous flat
block's in raster order / the flat block above's / new), then the new colours' RGB bytes, then one
range-coded stream: the flags row by row (in each row the blocks whose upper neighbour is not
flat, then those whose upper neighbour is), then one symbol per flat block in raster order.
Every model's weights are counts plus one, exact integers, so every machine decodes the same map.
Numpy and constriction only; memory: the block map and one band of BLOCK rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import constriction
import numpy as np

from ..errors import BadStreamError
from .container import MAX_VARINT_BYTES, varint
from .entropy import to_bytes, to_words

BLOCK = 8  # pixels per block side: one index map position
PREVIOUS, ABOVE, NEW = 0, 1, 2  # where a flat block's colour comes from


@dataclass
class FlatMap:
    flags: np.ndarray  # (hb, wb) bool: the block is flat
    colours: np.ndarray  # (hb, wb, 3) uint8: its colour where flat (anything elsewhere)

    @property
    def count(self) -> int:
        return int(self.flags.sum())


def grid(height: int, width: int, block: int = BLOCK) -> tuple[int, int]:
    """Blocks along each axis."""
    return -(-height // block), -(-width // block)


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


def paint(img: np.ndarray, fm: FlatMap, block: int = BLOCK) -> np.ndarray:
    """`img` (H, W, 3 uint8) with every flat block set to its colour, in place."""
    w = img.shape[1]
    for i in np.flatnonzero(fm.flags.any(axis=1)):
        cols = np.repeat(fm.flags[i], block)[:w]
        band = img[i * block: (i + 1) * block]
        band[:, cols] = np.repeat(fm.colours[i], block, axis=0)[:w][cols]
    return img


def _model(n: int, k: int):
    """Flat or not, `k` flat among `n`: weights n - k + 1 and k + 1."""
    return constriction.stream.model.Categorical(np.array([n - k + 1, k + 1], dtype=np.float64),
                                                 perfect=False)


def _above(flags: np.ndarray, i: int) -> np.ndarray:
    return flags[i - 1] if i else np.zeros(flags.shape[1], dtype=bool)


def _sources(fm: FlatMap) -> tuple[np.ndarray, np.ndarray]:
    """Each flat block's symbol (PREVIOUS, ABOVE or NEW) in raster order, and the new colours."""
    ys, xs = np.nonzero(fm.flags)
    colours = fm.colours.astype(np.int64)  # -1 below: no colour
    cols = colours[ys, xs]
    prev = np.vstack([np.full((1, 3), -1), cols[:-1]])
    above = np.maximum(ys - 1, 0)
    up = np.where(((ys > 0) & fm.flags[above, xs])[:, None], colours[above, xs], -1)
    sym = np.where((cols == prev).all(1), PREVIOUS, np.where((cols == up).all(1), ABOVE, NEW))
    return sym, cols[sym == NEW].astype(np.uint8)


def encode(fm: FlatMap) -> bytes:
    """A flat map -> bytes (module docstring); its grid is the image's (`grid`)."""
    counts = np.zeros((2, 2), dtype=np.int64)  # [context, flat]
    for i in range(fm.flags.shape[0]):
        ctx = _above(fm.flags, i)
        for c in (0, 1):
            counts[c] += np.bincount(fm.flags[i][ctx == c], minlength=2)
    models = [_model(int(counts[c].sum()), int(counts[c, 1])) for c in (0, 1)]
    sym, new = _sources(fm)
    sources = np.bincount(sym, minlength=3)
    coder = constriction.stream.queue.RangeEncoder()
    for i in range(fm.flags.shape[0]):
        ctx = _above(fm.flags, i)
        for c in (0, 1):
            if (ctx == c).any():
                coder.encode(fm.flags[i][ctx == c].astype(np.int32), models[c])
    coder.encode(sym.astype(np.int32), _source_model(sources))
    head = [counts[0].sum(), counts[0, 1], counts[1].sum(), counts[1, 1], *sources]
    return (b"".join(varint(int(v)) for v in head) + new.tobytes()
            + to_bytes(coder.get_compressed()))


def _source_model(sources: np.ndarray):
    return constriction.stream.model.Categorical(sources.astype(np.float64) + 1, perfect=False)


def _varints(data: bytes, n: int) -> tuple[list[int], int]:
    """`n` varints from the start of `data`, and where they end."""
    out, pos = [], 0
    for _ in range(n):
        value = 0
        for j in range(MAX_VARINT_BYTES + 1):
            if j == MAX_VARINT_BYTES or pos >= len(data):
                raise BadStreamError("corrupt stream: flat block map header")
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << (7 * j)
            if not byte & 0x80:
                break
        out.append(value)
    return out, pos


def decode(data: bytes, shape: tuple[int, int]) -> FlatMap:
    """The flat map `encode` wrote for a grid of `shape` blocks; BadStreamError when the data
    does not fit that grid."""
    (n0, k0, n1, k1, *sources), pos = _varints(data, 7)
    hb, wb = shape
    if n0 + n1 != hb * wb or k0 > n0 or k1 > n1 or sum(sources) != k0 + k1 or not k0 + k1:
        raise BadStreamError("corrupt stream: flat block map counts")
    if len(data) < pos + 3 * sources[NEW]:
        raise BadStreamError("truncated stream: flat block colours end early")
    new = np.frombuffer(data[pos: pos + 3 * sources[NEW]], dtype=np.uint8).reshape(-1, 3)
    decoder = constriction.stream.queue.RangeDecoder(to_words(data[pos + 3 * sources[NEW]:]))
    models = [_model(n0, k0), _model(n1, k1)]
    flags = np.zeros(shape, dtype=bool)
    seen = np.zeros((2, 2), dtype=np.int64)
    try:
        for i in range(hb):
            ctx = _above(flags, i)
            for c in (0, 1):
                m = int((ctx == c).sum())
                if m:
                    got = np.asarray(decoder.decode(models[c], m)).astype(bool)
                    flags[i][ctx == c] = got
                    seen[c] += (m - int(got.sum()), int(got.sum()))
        sym = np.asarray(decoder.decode(_source_model(np.array(sources)), k0 + k1))
    except (ValueError, RuntimeError, AssertionError) as exc:
        raise BadStreamError(f"corrupt stream: flat block map ({exc})") from None
    if (seen[:, 1] != (k0, k1)).any() or (np.bincount(sym, minlength=3) != sources).any():
        raise BadStreamError("corrupt stream: flat block map does not match its counts")
    return FlatMap(flags, _colours(flags, sym, new))


def _colours(flags: np.ndarray, sym: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Resolve each flat block's colour from its symbol: a chain of PREVIOUS and ABOVE links
    ends at a NEW colour (pointer jumping: log2 of the longest chain passes)."""
    ys, xs = np.nonzero(flags)
    k = len(ys)
    order = np.full(flags.shape, -1, dtype=np.int64)
    order[ys, xs] = np.arange(k)
    parent = np.arange(k)
    parent[sym == PREVIOUS] = np.flatnonzero(sym == PREVIOUS) - 1
    up = np.where(ys > 0, order[np.maximum(ys - 1, 0), xs], -1)
    parent[sym == ABOVE] = up[sym == ABOVE]
    if (parent < 0).any():
        raise BadStreamError("corrupt stream: a flat block takes its colour from no flat block")
    while True:
        nxt = parent[parent]
        if (nxt == parent).all():
            break
        parent = nxt
    root = np.cumsum(sym == NEW) - 1  # each NEW block's index among the new colours
    colours = np.zeros(flags.shape + (3,), dtype=np.uint8)
    colours[ys, xs] = new[root[parent]]
    return colours
