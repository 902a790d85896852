"""Numpy kernels for inference: convolutions as matrix products, norms and activations.

Tensors are one item, float32: (C, T) channels first in 1-D (short sequences), (H, W, C)
channels last in 2-D, where a k x k convolution becomes k*k matrix products over contiguous
row slices. Large images run in bands of output rows, bounding temporaries by `BAND_BYTES`.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

BAND_BYTES = 1 << 20


def conv1d(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: int = 1, padding: int = 0,
           dilation: int = 1, groups: int = 1) -> np.ndarray:
    """(C_in, T) with weight (C_out, C_in / groups, k) -> (C_out, T_out), as torch's conv1d."""
    c_out, _, k = w.shape
    xp = np.pad(x, ((0, 0), (padding, padding))) if padding else x
    t_out = (xp.shape[1] - dilation * (k - 1) - 1) // stride + 1
    span = (t_out - 1) * stride + 1
    taps = [xp[:, j * dilation: j * dilation + span: stride] for j in range(k)]  # each (C_in, T_out)
    if groups == 1:
        cols = np.stack(taps, axis=1).reshape(-1, t_out)  # (C_in * k, T_out), rows c-major
        out = w.reshape(c_out, -1) @ cols
    elif groups == x.shape[0] == c_out:  # depthwise
        out = w[:, 0, 0, None] * taps[0]
        for j in range(1, k):
            out += w[:, 0, j, None] * taps[j]
    else:
        raise NotImplementedError("grouped convolution other than depthwise")
    return out + b[:, None] if b is not None else out


def conv_transpose1d(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: int = 1,
                     padding: int = 0) -> np.ndarray:
    """(C_in, T) with weight (C_in, C_out, k) -> (C_out, (T - 1) * stride - 2 * padding + k)."""
    c_in, c_out, k = w.shape
    t = x.shape[1]
    cols = (w.reshape(c_in, c_out * k).T @ x).reshape(c_out, k, t)
    full = np.zeros((c_out, (t - 1) * stride + k), dtype=np.float32)
    for j in range(k):
        full[:, j: j + (t - 1) * stride + 1: stride] += cols[:, j]
    out = full[:, padding: full.shape[1] - padding]
    return out + b[:, None] if b is not None else np.ascontiguousarray(out)


# -- 2-D, channels last: (H, W, C) -----------------------------------------------------------
def _padded(x: np.ndarray, top: int, bottom: int, left: int, right: int) -> np.ndarray:
    """x zero-padded, plus one spare zero row that `_conv_s1`'s flat addressing may run into."""
    h, w, c = x.shape
    out = np.zeros((h + top + bottom + 1, w + left + right, c), dtype=np.float32)
    out[top: top + h, left: left + w] = x
    return out


def _conv_s1(xp: np.ndarray, w: np.ndarray, kh: int, kw: int, b: np.ndarray | None,
             outs: list[np.ndarray]) -> None:
    """Stride-1 'valid' convolution of padded (Hp + 1, Wp, C_in), whose last row is spare zeros
    (see `_padded`), with taps w (kh * kw, C_in, C_out) and bias b (C_out,), written into
    `outs`: views (Hp - kh + 1, Wp - kw + 1, C_g) whose C_g add up to C_out, in order.

    Rows are addressed flat over the padded width, so the input seen by one tap is a contiguous
    slice (no copy). Three ways to combine taps: shift the outputs of one product (few output
    channels), unfold the inputs into one long product (the common case), or accumulate one
    product per tap (very wide unfolds). Bands of `BAND_BYTES` keep each band's unfolded
    input in cache while BLAS reads it: 25 % faster than 32 MB bands here (tools/bench_convs).
    """
    hp, wp, c_in = xp.shape
    hp -= 1  # the spare row
    taps, _, c_out = w.shape
    h_out, w_out = hp - kh + 1, wp - kw + 1
    flat = xp.reshape(-1, c_in)  # no copy
    offs = [i * wp + j for i in range(kh) for j in range(kw)]
    shift_out = taps * c_out <= c_in
    unfold = not shift_out and taps * c_in <= 4096
    per_row = 4 * wp * (taps * c_out if shift_out else (taps * c_in if unfold else 0) + 2 * c_out)
    rows = max(1, BAND_BYTES // per_row)
    splits = np.cumsum([0] + [o.shape[-1] for o in outs])
    wmat = w.reshape(-1, c_out)
    for r0 in range(0, h_out, rows):
        r1 = min(h_out, r0 + rows)
        base, n = r0 * wp, (r1 - r0) * wp
        if unfold:  # products straight into the outputs, the wrapped columns never computed
            if c_in < 16:  # taps of a few floats: one strided copy of a (rows, w_out, kh,
                # kw * C_in) view (a kernel row's taps are adjacent), 3x faster than concatenating
                s0, s1 = flat.strides
                cols = as_strided(flat[base:], (r1 - r0, w_out, kh, kw * c_in),
                                  (wp * s0, s0, wp * s0, s1)).reshape(r1 - r0, w_out, -1)
            else:  # wider taps: concatenating slices is as fast, and faster for the products
                cols = np.concatenate([flat[base + o: base + o + n] for o in offs], axis=1)
                cols = cols.reshape(r1 - r0, wp, -1)[:, :w_out]
            for o, g0, g1 in zip(outs, splits, splits[1:]):
                np.matmul(cols, wmat[:, g0:g1], out=o[r0:r1])
                if b is not None:
                    o[r0:r1] += b[g0:g1]
            continue
        if shift_out:  # channels-first product, so each shifted add runs over contiguous rows
            y = w.transpose(0, 2, 1).reshape(-1, c_in) @ flat[base: base + n + offs[-1]].T
            acc_t = y[:c_out, offs[0]: offs[0] + n].copy()  # (C_out, n)
            for t in range(1, taps):
                acc_t += y[t * c_out: (t + 1) * c_out, offs[t]: offs[t] + n]
            acc = acc_t.T
        else:
            acc = flat[base + offs[0]: base + offs[0] + n] @ w[0]
            for t in range(1, taps):
                acc += flat[base + offs[t]: base + offs[t] + n] @ w[t]
        acc = acc.reshape(r1 - r0, wp, c_out)[:, :w_out]
        for o, g0, g1 in zip(outs, splits, splits[1:]):
            o[r0:r1] = acc[..., g0:g1]
            if b is not None:
                o[r0:r1] += b[g0:g1]


def conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: int = 1,
           padding: int = 0) -> np.ndarray:
    """(H, W, C_in) with torch weight (C_out, C_in, k, k) -> (H_out, W_out, C_out).

    A stride-s convolution runs as a stride-1 one over the space-to-depth input."""
    c_out, c_in, kh, kw = w.shape
    h_out = (x.shape[0] + 2 * padding - kh) // stride + 1
    w_out = (x.shape[1] + 2 * padding - kw) // stride + 1
    if kh == kw == 1 and stride == 1 and padding == 0:
        out = (x.reshape(-1, c_in) @ w.reshape(c_out, c_in).T).reshape(*x.shape[:2], c_out)
        return out + b if b is not None else out
    s = stride
    kh2, kw2 = -(-kh // s), -(-kw // s)
    hp = max(x.shape[0] + 2 * padding, (h_out - 1 + kh2) * s)
    wp = max(x.shape[1] + 2 * padding, (w_out - 1 + kw2) * s)
    hp, wp = -(-hp // s) * s, -(-wp // s) * s
    xp = _padded(x, padding, hp - x.shape[0] - padding, padding, wp - x.shape[1] - padding)
    if s > 1:  # (hp, wp, C) -> (hp/s, wp/s, s*s*C), channel order (dy, dx, c), one copy
        s2d = np.zeros((hp // s + 1, wp // s, s * s * c_in), dtype=np.float32)
        s2d[: hp // s].reshape(hp // s, wp // s, s, s, c_in)[...] = xp[:hp].reshape(
            hp // s, s, wp // s, s, c_in).transpose(0, 2, 1, 3, 4)
        xp = s2d
    wk = np.zeros((kh2, kw2, s, s, c_in, c_out), dtype=np.float32)  # tap (ty, tx), sub (dy, dx)
    wt = w.transpose(2, 3, 1, 0)  # (k, k, C_in, C_out)
    for ky in range(kh):
        for kx in range(kw):
            wk[ky // s, kx // s, ky % s, kx % s] = wt[ky, kx]
    full = np.empty((xp.shape[0] - kh2, xp.shape[1] - kw2 + 1, c_out), dtype=np.float32)
    _conv_s1(xp, wk.reshape(kh2 * kw2, s * s * c_in, c_out), kh2, kw2, b, [full])
    return full[:h_out, :w_out]


def conv_transpose2d(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: int = 1,
                     padding: int = 0) -> np.ndarray:
    """(H, W, C_in) with torch weight (C_in, C_out, k, k) -> ((H-1)*s - 2p + k, ..., C_out).

    Sub-pixel form: each of the s*s output phases is a stride-1 convolution with k/s taps per
    axis; all phases come out of one convolution with s*s*C_out channels, each row phase
    written straight into its rows of the output (no depth-to-space copy).
    """
    c_in, c_out, k, _ = w.shape
    s = stride
    if k % s:
        raise NotImplementedError("transposed convolution with kernel not a multiple of stride")
    kt = k // s
    xp = _padded(x, kt - 1, kt - 1, kt - 1, kt - 1)
    wk = np.empty((kt, kt, c_in, s, s, c_out), dtype=np.float32)
    for ty in range(kt):
        for tx in range(kt):
            for qy in range(s):
                for qx in range(s):
                    wk[ty, tx, :, qy, qx] = w[:, :, qy + (kt - 1 - ty) * s, qx + (kt - 1 - tx) * s]
    mh, mw = x.shape[0] + kt - 1, x.shape[1] + kt - 1  # phase grid
    full = np.empty((mh, s, mw, s * c_out), dtype=np.float32)  # (row, qy, col, (qx, c))
    _conv_s1(xp, wk.reshape(kt * kt, c_in, s * s * c_out), kt, kt,
             None if b is None else np.tile(b, s * s), [full[:, qy] for qy in range(s)])
    full = full.reshape(mh * s, mw * s, c_out)
    return full[padding: mh * s - padding, padding: mw * s - padding]


def relu(x: np.ndarray, inplace: bool = False) -> np.ndarray:
    return np.maximum(x, 0, out=x) if inplace else np.maximum(x, 0)


# erfc(z) = t * exp(-z**2 + P(t)), t = 1 / (1 + z / 2), z >= 0: Numerical Recipes' Chebyshev fit,
# fractional error below 1.2e-7 everywhere; numpy has no erf. P's coefficients, highest first.
ERFC_POLY = (0.17087277, -0.82215223, 1.48851587, -1.13520398, 0.27886807, -0.18628806,
             0.09678418, 0.37409196, 1.00002368, -1.26551223)
GELU_SHIFT = 15  # a float32's top 17 bits pick its GELU table entry: 2**17 runs of 2**15 floats
GELU_BLOCK = 1 << 14  # elements per pass: the temporaries stay in the cache
_gelu_lines: tuple[np.ndarray, np.ndarray] | None = None


def gelu_exact(x: np.ndarray) -> np.ndarray:
    """GELU x * Phi(x), Phi(x) = erfc(-x / sqrt 2) / 2, elementwise in x's dtype (float64 for
    the tables)."""
    z = np.abs(x) * 0.7071067811865476
    t = 1.0 / (1.0 + 0.5 * z)
    p = np.zeros_like(z)
    for c in ERFC_POLY[:-1]:
        p = (p + c) * t
    half_erfc = 0.5 * t * np.exp(-z * z + (p + ERFC_POLY[-1]))  # Phi(-|x|)
    return x * np.where(x >= 0, 1.0 - half_erfc, half_erfc)


def _gelu_table() -> tuple[np.ndarray, np.ndarray]:
    """GELU as a straight line a + d * x on each run of float32 values that share their top
    17 bits (sign, exponent, 8 mantissa bits): the chord through the run's first and last
    value, within 1.1e-6 of the function everywhere. Chords are computed for 2**-20 <= |x| < 8
    only (a few ms, once per process; threads that race here build the same table); below, GELU is x / 2 (within 0.4 x**2), above it is x, or 0
    for x <= -8 (within 5e-15). +inf gives inf, -inf and NaN give NaN (as torch on AVX2)."""
    global _gelu_lines
    if _gelu_lines is None:
        code = np.arange(1 << (32 - GELU_SHIFT), dtype=np.uint32)
        exponent, negative = (code >> (23 - GELU_SHIFT)) & 0xFF, code >> (31 - GELU_SHIFT) == 1
        d = np.where(exponent < 127 - 20, 0.5, np.where(negative, 0.0, 1.0))
        a = np.zeros(len(code))
        mid = np.flatnonzero((exponent >= 127 - 20) & (exponent < 127 + 3))
        lo, hi = ((code[mid] << GELU_SHIFT) + k for k in (0, (1 << GELU_SHIFT) - 1))
        lo, hi = (v.view(np.float32).astype(np.float64) for v in (lo, hi))
        d[mid] = (gelu_exact(hi) - gelu_exact(lo)) / (hi - lo)
        a[mid] = gelu_exact(lo) - lo * d[mid]
        _gelu_lines = (a.astype(np.float32), d.astype(np.float32))
    return _gelu_lines


def gelu(x: np.ndarray) -> np.ndarray:
    """The erf GELU (torch's default) of a float32 array: a table lookup and one multiply-add
    per element (two and a half times faster than evaluating erf's polynomial
    with numpy's ufuncs), within 1.1e-6 of the function (`_gelu_table`)."""
    a, d = _gelu_table()
    x = np.ascontiguousarray(x, dtype=np.float32)
    out = np.empty_like(x)
    flat_x, flat_out = x.reshape(-1), out.reshape(-1)
    idx = np.empty(min(GELU_BLOCK, flat_x.size), dtype=np.intp)
    tmp = np.empty(len(idx), dtype=np.float32)
    with np.errstate(invalid="ignore"):  # -inf * 0: NaN, as torch gives
        for s in range(0, flat_x.size, GELU_BLOCK):
            xs, o = flat_x[s: s + GELU_BLOCK], flat_out[s: s + GELU_BLOCK]
            i, t = idx[: len(xs)], tmp[: len(xs)]
            np.right_shift(xs.view(np.uint32), GELU_SHIFT, out=i, casting="unsafe")
            np.take(d, i, out=o, mode="clip")  # "clip" skips the bounds check: all in range
            o *= xs
            np.take(a, i, out=t, mode="clip")
            o += t
    return out


ACTS = {"relu": relu, "gelu": gelu}


def layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """LayerNorm over the last axis, as torch's nn.LayerNorm."""
    mean = x.mean(axis=-1, keepdims=True)
    xc = x - mean
    var = (xc * xc).mean(axis=-1, keepdims=True)
    return xc / np.sqrt(var + np.float32(eps)) * weight + bias
