"""Numpy kernels for inference: convolutions as matrix products, norms and activations.

Tensors are one item, channels first: (C, T) or (C, H, W), float32. Large 2-D convolutions
run in bands of output rows so the unfolded input (im2col) stays within `BAND_BYTES`.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

BAND_BYTES = 32 << 20


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


def conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: int = 1,
           padding: int = 0) -> np.ndarray:
    """(C_in, H, W) with weight (C_out, C_in, k, k) -> (C_out, H_out, W_out), as torch's conv2d."""
    c_out, c_in, kh, kw = w.shape
    wm = w.reshape(c_out, -1)
    if kh == kw == 1 and stride == 1 and padding == 0:
        out = (wm @ x.reshape(c_in, -1)).reshape(c_out, *x.shape[1:])
        return out + b[:, None, None] if b is not None else out
    xp = np.pad(x, ((0, 0), (padding, padding), (padding, padding))) if padding else x
    h_out = (xp.shape[1] - kh) // stride + 1
    w_out = (xp.shape[2] - kw) // stride + 1
    out = np.empty((c_out, h_out, w_out), dtype=np.float32)
    rows = max(1, BAND_BYTES // (4 * c_in * kh * kw * w_out))
    for r0 in range(0, h_out, rows):
        r1 = min(h_out, r0 + rows)
        band = xp[:, r0 * stride: (r1 - 1) * stride + kh]
        win = sliding_window_view(band, (kh, kw), axis=(1, 2))[:, ::stride, ::stride][:, :, :w_out]
        cols = win.transpose(0, 3, 4, 1, 2).reshape(c_in * kh * kw, -1)  # (C_in*k*k, rows*W_out)
        out[:, r0:r1] = (wm @ cols).reshape(c_out, r1 - r0, w_out)
    return out + b[:, None, None] if b is not None else out


def conv_transpose2d(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: int = 1,
                     padding: int = 0) -> np.ndarray:
    """(C_in, H, W) with weight (C_in, C_out, k, k) -> (C_out, (H-1)*s - 2p + k, ...)."""
    c_in, c_out, kh, kw = w.shape
    _, h, wd = x.shape
    wt = np.ascontiguousarray(w.reshape(c_in, -1).T)  # (C_out*k*k, C_in)
    full = np.zeros((c_out, (h - 1) * stride + kh, (wd - 1) * stride + kw), dtype=np.float32)
    rows = max(1, BAND_BYTES // (4 * c_out * kh * kw * wd))
    for r0 in range(0, h, rows):  # scatter-add is additive, so input bands simply accumulate
        r1 = min(h, r0 + rows)
        cols = (wt @ x[:, r0:r1].reshape(c_in, -1)).reshape(c_out, kh, kw, r1 - r0, wd)
        for i in range(kh):
            y0 = r0 * stride + i
            for j in range(kw):
                full[:, y0: y0 + (r1 - r0 - 1) * stride + 1: stride,
                     j: j + (wd - 1) * stride + 1: stride] += cols[:, i, j]
    out = full[:, padding: full.shape[1] - padding, padding: full.shape[2] - padding]
    return out + b[:, None, None] if b is not None else np.ascontiguousarray(out)


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0)


def erf(x: np.ndarray) -> np.ndarray:
    """The error function to about 1.2e-7 (Numerical Recipes' erfc Chebyshev fit); numpy has none."""
    z = np.abs(x)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (
            -0.82215223 + t * 0.17087277))))))))
    erfc = t * np.exp(-z * z + poly)
    return np.where(x >= 0, 1.0 - erfc, erfc - 1.0).astype(x.dtype)


def gelu(x: np.ndarray) -> np.ndarray:
    """Exact (erf) GELU, torch's default."""
    return 0.5 * x * (1.0 + erf(x * np.float32(0.7071067811865476)))


ACTS = {"relu": relu, "gelu": gelu}


def layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """LayerNorm over the last axis, as torch's nn.LayerNorm."""
    mean = x.mean(axis=-1, keepdims=True)
    xc = x - mean
    var = (xc * xc).mean(axis=-1, keepdims=True)
    return xc / np.sqrt(var + np.float32(eps)) * weight + bias
