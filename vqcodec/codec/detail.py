"""The detail layer: what the VQ-VAE's decoding missed, as quantised 8 x 8 DCT coefficients.

A model's residual VQ stages give its lowest quality levels. The levels above them (params.py:
DETAIL_STEPS) code all of its stages and then the residual, the input minus the full decoding
(network, colour correction, flat blocks), the way a scalable video codec codes an enhancement
layer over its base layer: in YCoCg (luma, orange and green chroma), per BLOCK x BLOCK block,
with an orthonormal DCT, a dead-zone quantiser of step `step` (CHROMA times it for chroma:
MSE-optimal for RGB would be about 1.2, the eye forgives more; growing with frequency, WEIGHTS)
and adaptive range coding. The
decoder adds the dequantised residual to its own decoding of the base. The base's pixels are
not the same on every machine (float networks), so nothing here depends on them: every
probability comes from integer counts over symbols already coded, and every machine decodes
the same coefficients.

Coding order, each channel in turn (Y, then Co and Cg for colour images):
- per block, in raster order and in batches (FIRST blocks, then twice as many each time up to
  BATCH): a flag (any coefficient non-zero),
  then for flagged blocks the end of block, 1 + the last non-zero position in zigzag order;
  chroma's contexts are the luma block's end of block;
- then plane by plane in zigzag order, for the blocks whose end of block lies beyond the plane,
  in batches: magnitudes 0..ESC-1 and ESC (an escape: the excess follows as an Exp-Golomb
  code, its length class under adaptive counts, its bits uniform), then one uniform bit per
  non-zero coefficient for its sign. At a block's last position the magnitude is known to be
  at least 1 and 1 less is coded. A magnitude's context: its zigzag band, the magnitudes of
  the same block's two lower neighbours in frequency, how many non-zero coefficients the block
  had before it, and for chroma the luma coefficient at the same place.
Counts start from a geometric shape (zeros likely), and each batch adds its symbols after it is
coded, so the model adapts to the image at every rate. The first batches are small, so the
counts learn quickly (4 % fewer bytes at the coarsest steps than batches of 512 throughout, on
12 validation photos), the later ones large, for few coder calls.

Memory: the encoder holds every channel's coefficients as int16 (128 bytes per block and
channel), the decoder the same as it decodes them, about 150 MB at 24 megapixels, plus a few
int64 values per block; the transforms run in bands of BAND_ROWS blocks. Time, on
samples/photo.png (768x512) over the bundled model's level 1: 0.10 s to code and 0.06 s to decode
at step 32, 0.15 and 0.08 s at step 13; most of it numpy calls per batch.
"""

from __future__ import annotations

import constriction
import numpy as np

from ..errors import BadStreamError
from .entropy import FAMILY, Progress, to_bytes, to_words

BLOCK = 8
ESC = 15  # magnitudes below are coded directly; ESC starts an escape
BATCH = 512  # blocks coded under one set of counts before the counts learn them
FIRST = 16  # the first batch of each plane (and of the flags): they double up to BATCH
CHROMA = 1.5  # chroma's quantiser step relative to luma's
ROUNDING = 0.3  # the quantiser rounds |c| / step + ROUNDING down: a dead zone around zero
BAND_ROWS = 32  # block rows per transform band
# The decoder's deblocking of the residual: at each block edge, the pixels either side move
# DEBLOCK of their difference towards each other where it is under DEBLOCK_BELOW steps (BD-rate
# -2.3 % in PSNR, -3.0 % in MS-SSIM on 12 validation photos; moving two pixels each side or a
# larger share did less)
DEBLOCK, DEBLOCK_BELOW = 0.25, 0.5
LENGTHS = 16  # Exp-Golomb length classes (magnitudes stay far below 2 ** 16)


def _dct() -> np.ndarray:
    k, i = np.arange(BLOCK)[:, None], np.arange(BLOCK)[None]
    m = np.cos(np.pi * (2 * i + 1) * k / (2 * BLOCK)) * np.sqrt(2 / BLOCK)
    m[0] /= np.sqrt(2)
    return m


D = _dct()
_ZZ = sorted(((u, v) for u in range(BLOCK) for v in range(BLOCK)),
             key=lambda t: (t[0] + t[1], t[0] if (t[0] + t[1]) % 2 else t[1]))
ZU, ZV = np.array([u for u, _ in _ZZ]), np.array([v for _, v in _ZZ])
_POS = {t: i for i, t in enumerate(_ZZ)}
UP = [_POS.get((u - 1, v), -1) for u, v in _ZZ]  # the position one step lower vertically
LEFT = [_POS.get((u, v - 1), -1) for u, v in _ZZ]  # and horizontally (-1: none)
BAND = [0 if k == 0 else 1 if k < 3 else 2 if k < 6 else 3 if k < 10 else 4 if k < 15
        else 5 if k < 28 else 6 for k in range(BLOCK * BLOCK)]
LUMA_CONTEXTS = 7 * 6 * 4  # band, neighbour magnitude 0..5, non-zero so far 0..3
CONTEXTS = LUMA_CONTEXTS * 3  # chroma: times the luma magnitude at the same place, 0..2
EOB_CONTEXTS = 9  # luma; Co and Cg each by the luma end of block, 0..3 of 4
# The quantiser step grows with frequency, from 1x the step for DC to 2x for the highest
# (u + v = 14) in zigzag order: BD-rate -0.4 % in PSNR and -10 % in MS-SSIM against one step
# for all, on 12 validation photos (up to 2.5x for the highest: +1.1 % in PSNR, -14 % MS-SSIM)
WEIGHTS = 1 + (ZU + ZV) / (2 * (BLOCK - 1))
INIT = np.array([2 ** max(0, 4 - j) for j in range(ESC + 1)])  # a magnitude's counts before any symbol


def to_ycocg(rgb: np.ndarray) -> np.ndarray:
    x = rgb.astype(np.float64)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    return np.stack([(r + 2 * g + b) / 4, (r - b) / 2, (2 * g - r - b) / 4], -1)


def from_ycocg(y: np.ndarray) -> np.ndarray:
    lum, co, cg = y[..., 0], y[..., 1], y[..., 2]
    return np.stack([lum + co - cg, lum + cg, lum - co - cg], -1)


def steps(step: float, channels: int) -> list[float]:
    return [step] + [step * CHROMA] * (channels - 1)


def channels_coded(channels: int) -> int:
    """Grey originals code luma only."""
    return 1 if channels == 1 else 3


def blocks_of(height: int, width: int) -> tuple[int, int]:
    return -(-height // BLOCK), -(-width // BLOCK)


# -- the transform --------------------------------------------------------------------------
def quantise(rgb: np.ndarray, base: np.ndarray, step: float, channels: int) -> list[np.ndarray]:
    """The quantised coefficients of `rgb` - `base` ((H, W, 3) uint8 each): per coded channel
    an int16 array (64, blocks), zigzag position by block in raster order."""
    height, width = rgb.shape[:2]
    hb, wb = blocks_of(height, width)
    n = channels_coded(channels)
    out = [np.zeros((BLOCK * BLOCK, hb * wb), np.int16) for _ in range(n)]
    for r0 in range(0, hb, BAND_ROWS):
        r1 = min(hb, r0 + BAND_ROWS)
        rows = slice(r0 * BLOCK, min(height, r1 * BLOCK))
        res = to_ycocg(rgb[rows]) - to_ycocg(base[rows])
        for ch, s in enumerate(steps(step, n)):
            c = _forward(res[..., ch], r1 - r0, wb)  # (blocks, 64)
            q = np.floor(np.abs(c) / (s * WEIGHTS) + ROUNDING) * np.sign(c)
            out[ch][:, r0 * wb: r1 * wb] = q.T
    return out


def _forward(plane: np.ndarray, hb: int, wb: int) -> np.ndarray:
    h, w = plane.shape
    p = np.pad(plane, ((0, hb * BLOCK - h), (0, wb * BLOCK - w)), mode="edge")
    b = p.reshape(hb, BLOCK, wb, BLOCK).transpose(0, 2, 1, 3)
    return (D @ b @ D.T)[..., ZU, ZV].reshape(hb * wb, BLOCK * BLOCK)


def add(base: np.ndarray, coefficients: list[np.ndarray], step: float, channels: int) -> np.ndarray:
    """`base` (H, W, 3) uint8 plus the dequantised residual, deblocked, in place, band by band.
    A band's last pixel row waits for the next band: the block edge between them moves it."""
    height, width = base.shape[:2]
    hb, wb = blocks_of(height, width)
    chan_steps = steps(step, len(coefficients))
    carry = None  # (row index, the residual's row there) not yet written
    for r0 in range(0, hb, BAND_ROWS):
        r1 = min(hb, r0 + BAND_ROWS)
        res = np.zeros(((r1 - r0) * BLOCK, wb * BLOCK, 3))
        for ch, s in enumerate(chan_steps):
            c = coefficients[ch][:, r0 * wb: r1 * wb].T.astype(np.float64) * (s * WEIGHTS)
            b = np.zeros((r1 - r0, wb, BLOCK, BLOCK))
            b[..., ZU, ZV] = c.reshape(r1 - r0, wb, BLOCK * BLOCK)
            res[..., ch] = (D.T @ b @ D).transpose(0, 2, 1, 3).reshape(res.shape[:2])
            _deblock(res[..., ch].T, s)  # the edges between blocks side by side
            _deblock(res[..., ch], s)  # and between blocks one above the other
            if carry is not None:
                _deblock_pair(carry[1][..., ch], res[0, :, ch], s)
        if carry is not None:
            _write(base, carry[0], carry[1][None], width)
        last = r1 == hb
        top = r0 * BLOCK
        keep = min(height, r1 * BLOCK) - top - (0 if last else 1)
        _write(base, top, res[:keep], width)
        carry = None if last else (top + keep, res[keep].copy())
    return base


def _write(base: np.ndarray, top: int, res: np.ndarray, width: int) -> None:
    """Add residual rows (YCoCg) to `base` from row `top`, rounded (half to even) and clipped."""
    rows = slice(top, top + len(res))
    base[rows] = np.clip(np.rint(from_ycocg(res)[:, :width] + base[rows]), 0, 255).astype(np.uint8)


def _deblock(plane: np.ndarray, step: float) -> None:
    """Smooth the residual across the block edges between rows of `plane` (a view, changed in
    place): where the two pixels beside an edge differ by less than DEBLOCK_BELOW steps (a
    step of the quantiser, not an edge of the picture), each moves DEBLOCK of the way."""
    n = (plane.shape[0] - 1) // BLOCK
    if n:
        _deblock_pair(plane[BLOCK - 1: n * BLOCK: BLOCK], plane[BLOCK: n * BLOCK + 1: BLOCK], step)


def _deblock_pair(above: np.ndarray, below: np.ndarray, step: float) -> None:
    d = below - above
    d *= DEBLOCK * (np.abs(d) < DEBLOCK_BELOW * step)
    above += d
    below -= d


# -- the coding -----------------------------------------------------------------------------
class _Encoder:
    def __init__(self):
        self.coder = constriction.stream.queue.RangeEncoder()

    def __call__(self, symbols: np.ndarray, weights: np.ndarray) -> np.ndarray:
        if len(symbols):
            self.coder.encode(symbols.astype(np.int32), FAMILY, weights)
        return symbols

    def data(self) -> bytes:
        return to_bytes(self.coder.get_compressed())


class _Decoder:
    def __init__(self, data: bytes):
        self.coder = constriction.stream.queue.RangeDecoder(to_words(data))

    def __call__(self, symbols: np.ndarray | None, weights: np.ndarray) -> np.ndarray:
        if not len(weights):
            return np.zeros(0, np.int64)
        try:
            return np.asarray(self.coder.decode(FAMILY, weights), dtype=np.int64)
        except (ValueError, RuntimeError, AssertionError) as exc:
            raise BadStreamError(f"corrupt detail layer ({exc})") from None


class _Counts:
    """Adaptive integer counts, rows by context."""

    def __init__(self, contexts: int, init: np.ndarray):
        self.n = np.tile(np.asarray(init, np.int64), (contexts, 1))

    def weights(self, ctx: np.ndarray) -> np.ndarray:
        return self.n[ctx].astype(np.float64)  # integers, exact in float64

    def learn(self, ctx: np.ndarray, symbols: np.ndarray) -> None:
        np.add.at(self.n, (ctx, symbols), 1)


def _batches(n: int, first: int = FIRST) -> list[tuple[int, int]]:
    """(start, end) of the batches of n items: `first` items, then twice as many each time up
    to BATCH: early symbols teach the counts quickly, later ones in fewer coder calls."""
    out, a, size = [], 0, first
    while a < n:
        out.append((a, min(n, a + size)))
        a, size = a + size, min(BATCH, 2 * size)
    return out


def _uniform_bits(code, bits: np.ndarray | None, count: int) -> np.ndarray:
    return code(bits, np.ones((count, 2)))


def _end_of_blocks(code, q: np.ndarray | None, ctx: np.ndarray, counts: tuple[_Counts, _Counts]) -> np.ndarray:
    """Each block's end of block (0: no coefficient), coded or decoded."""
    nb = len(ctx)
    if q is not None:
        nz = q != 0
        eob = np.where(nz.any(0), BLOCK * BLOCK - np.argmax(nz[::-1], 0), 0).astype(np.int64)
    else:
        eob = np.zeros(nb, np.int64)
    flags, ends = counts
    for a, b in _batches(nb):
        c = ctx[a: b]
        f = code(None if q is None else (eob[a: b] > 0).astype(np.int64), flags.weights(c))
        flags.learn(c, f)
        on = np.flatnonzero(f) + a
        last = code(None if q is None else eob[on] - 1, ends.weights(ctx[on]))
        ends.learn(ctx[on], last)
        eob[on] = last + 1
    return eob


def _code_channel(code, q: np.ndarray | None, nb: int, ch: int, luma: np.ndarray | None,
                  luma_eob: np.ndarray | None,
                  progress: Progress | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One channel's coefficients through `code` (an _Encoder with `q` given, or a _Decoder):
    (coefficients (64, nb) int16, end of blocks). `progress(k, 64)` hears of each plane."""
    ectx = (np.zeros(nb, np.int64) if ch == 0
            else 1 + 4 * (ch - 1) + np.minimum(luma_eob, 15) // 4)
    eob = _end_of_blocks(code, q, ectx, (_Counts(EOB_CONTEXTS, [1, 1]),
                                         _Counts(EOB_CONTEXTS, np.ones(BLOCK * BLOCK))))
    out = np.zeros((BLOCK * BLOCK, nb), np.int16)
    nonzero = np.zeros(nb, np.int64)  # non-zero coefficients so far, per block
    counts = _Counts(CONTEXTS, INIT)
    lengths = _Counts(1, np.ones(LENGTHS))
    for k in range(BLOCK * BLOCK):
        live = np.flatnonzero(eob > k)
        for a, e in _batches(len(live)):
            b = live[a: e]
            near = np.zeros(len(b), np.int64)
            for j in (UP[k], LEFT[k]):
                if j >= 0:
                    near += np.abs(out[j, b])
            ctx = BAND[k] * 24 + np.minimum(near, 5) * 4 + np.minimum(nonzero[b], 3)
            if ch:
                ctx = ctx * 3 + np.minimum(np.abs(luma[k, b]), 2)
            last = (eob[b] == k + 1).astype(np.int64)
            m = None if q is None else np.abs(q[k, b]).astype(np.int64) - last
            s = code(None if m is None else np.minimum(m, ESC), counts.weights(ctx))
            counts.learn(ctx, s)
            mag = s.copy()
            esc = np.flatnonzero(s == ESC)
            if len(esc):
                v = None if m is None else m[esc] - ESC + 1  # >= 1
                n = code(None if v is None else _bit_length(v) - 1,
                         lengths.weights(np.zeros(len(esc), np.int64)))
                lengths.learn(np.zeros(len(esc), np.int64), n)
                bits = None if v is None else _low_bits(v, n)
                bits = _uniform_bits(code, bits, int(n.sum()))
                mag[esc] += _join_bits(bits, n) - 1
            mag += last
            if len(mag) and mag.max() >= np.iinfo(np.int16).max:
                raise BadStreamError("corrupt detail layer (a coefficient out of range)")
            nzs = np.flatnonzero(mag)
            neg = _uniform_bits(code, None if q is None else (q[k, b[nzs]] < 0).astype(np.int64),
                                len(nzs))
            signed = mag.copy()
            signed[nzs[neg == 1]] *= -1
            out[k, b] = signed
            nonzero[b] += mag > 0
        if progress:
            progress(k + 1, BLOCK * BLOCK)
    return out, eob


def _bit_length(v: np.ndarray) -> np.ndarray:
    return np.floor(np.log2(v.astype(np.float64))).astype(np.int64) + 1  # exact for v < 2**52


def _low_bits(v: np.ndarray, n: np.ndarray) -> np.ndarray:
    """The `n` bits of each `v` below its leading one, high to low, all in one array."""
    out = [((x >> np.arange(k - 1, -1, -1)) & 1) for x, k in zip(v.tolist(), n.tolist()) if k]
    return np.concatenate(out).astype(np.int64) if out else np.zeros(0, np.int64)


def _join_bits(bits: np.ndarray, n: np.ndarray) -> np.ndarray:
    out, at = [], 0
    for k in n.tolist():
        value = 1
        for bit in bits[at: at + k].tolist():
            value = value * 2 + bit
        out.append(value)
        at += k
    return np.array(out, np.int64)


def _per_channel(progress: Progress | None, ch: int, n: int) -> Progress | None:
    if progress is None:
        return None
    return lambda done, total: progress(ch * total + done, n * total)


def encode(rgb: np.ndarray, base: np.ndarray, step: float, channels: int,
           progress: Progress | None = None) -> tuple[bytes, np.ndarray]:
    """The detail layer of `rgb` over `base` (the encoder's own decoding), and `base` with the
    layer added (in place) as the decoder will see it."""
    q = quantise(rgb, base, step, channels)
    code = _Encoder()
    nb = q[0].shape[1]
    luma = luma_eob = None
    for ch, qc in enumerate(q):
        coef, eob = _code_channel(code, qc, nb, ch, luma, luma_eob,
                                  _per_channel(progress, ch, len(q)))
        if ch == 0:
            luma, luma_eob = coef, eob
    return code.data(), add(base, q, step, channels)


def coefficients(data: bytes, height: int, width: int, channels: int,
                 progress: Progress | None = None) -> list[np.ndarray]:
    """The quantised coefficients a detail layer carries: per coded channel (64, blocks) int16."""
    hb, wb = blocks_of(height, width)
    code = _Decoder(data)
    out: list[np.ndarray] = []
    luma = luma_eob = None
    n = channels_coded(channels)
    for ch in range(n):
        coef, eob = _code_channel(code, None, hb * wb, ch, luma, luma_eob,
                                  _per_channel(progress, ch, n))
        if ch == 0:
            luma, luma_eob = coef, eob
        out.append(coef)
    return out


def decode(data: bytes, base: np.ndarray, step: float, channels: int,
           progress: Progress | None = None) -> np.ndarray:
    """`base` (H, W, 3) uint8, the decoder's decoding of the VQ stages, with the detail layer
    `data` added, in place."""
    return add(base, coefficients(data, *base.shape[:2], channels, progress), step, channels)
