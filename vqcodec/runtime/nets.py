"""Run the layer lists of `arch` in numpy, with weights named as torch's state dict names them."""

from __future__ import annotations

from typing import Mapping

import numpy as np

from . import ops
from ..networks.arch import Act, Conv, ConvNeXt, Layer, Res

Params = Mapping[str, np.ndarray]  # state-dict name -> float32 array (runtime.weights.NetParams)
# frames per block of a ConvNeXt layer: its (ROWS, hidden) temporaries stay in the cache.
# The blocks run one after another on this thread; BLAS uses the cores inside each product.
# Python threads over the blocks were slower here: 0.22 against 0.18 s to decode 10 s of
# speech (thirteenth session, docs/RESULTS.md).
ROWS = 512


def conv(layer: Conv, p: Params, name: str, x: np.ndarray) -> np.ndarray:
    w, b = p[name + ".weight"], p.get(name + ".bias")
    if x.ndim == 2:
        if layer.transpose:
            return ops.conv_transpose1d(x, w, b, layer.stride, layer.padding)
        return ops.conv1d(x, w, b, layer.stride, layer.padding, layer.dilation, layer.groups)
    if layer.dilation != 1 or layer.groups != 1:
        raise NotImplementedError("dilated or grouped 2-D convolution")
    if layer.transpose:
        return ops.conv_transpose2d(x, w, b, layer.stride, layer.padding)
    return ops.conv2d(x, w, b, layer.stride, layer.padding)


def linear(p: Params, name: str, x: np.ndarray) -> np.ndarray:
    """(N, in) -> (N, out), as nn.Linear."""
    return x @ p[name + ".weight"].T + p[name + ".bias"]


def layer(spec: Layer, p: Params, name: str, x: np.ndarray, inplace: bool = False) -> np.ndarray:
    """One layer; with `inplace`, an activation may overwrite `x` (nobody else holds it)."""
    if isinstance(spec, Conv):
        return conv(spec, p, name, x)
    if isinstance(spec, Act):
        if spec.name == "relu" and inplace:
            return ops.relu(x, inplace=True)
        return ops.ACTS[spec.name](x)
    if isinstance(spec, Res):
        act = ops.ACTS[spec.act]
        c1 = Conv(spec.c, spec.c, 3, padding=spec.dilation, dilation=spec.dilation)
        y = conv(c1, p, name + ".conv1", act(x))
        return x + conv(Conv(spec.c, spec.c, 1), p, name + ".conv2", act(y))
    if isinstance(spec, ConvNeXt):
        return convnext(spec, p, name, x)
    raise TypeError(f"unknown layer {spec!r}")


def convnext(spec: ConvNeXt, p: Params, name: str, x: np.ndarray) -> np.ndarray:
    """x + gamma * pw2(gelu(pw1(norm(dw(x))))) for (C, T) x, block by block of frames: the
    depthwise convolution too (each block reads its kernel's halo), so a block's values stay
    in the cache from the convolution to the residual sum. Every value is computed as a
    whole-array pass would, in the same order: the result is the same whatever the blocks."""
    c, t = x.shape
    k, pad = spec.kernel, spec.kernel // 2
    xp = np.pad(x, ((0, 0), (pad, pad)))
    w, dw_bias = p[name + ".dw.weight"][:, 0], p[name + ".dw.bias"][:, None]  # (C, k), (C, 1)
    w1, b1 = p[name + ".pw1.weight"].T, p[name + ".pw1.bias"]
    w2, b2 = p[name + ".pw2.weight"].T, p[name + ".pw2.bias"]
    out = np.empty((c, t), dtype=np.float32)
    for a in range(0, t, ROWS):
        e = min(a + ROWS, t)
        y = w[:, 0, None] * xp[:, a: e]  # the depthwise convolution, as ops.conv1d
        for j in range(1, k):
            y += w[:, j, None] * xp[:, a + j: e + j]
        y += dw_bias
        h = ops.layer_norm(y.T, p[name + ".norm.weight"], p[name + ".norm.bias"]) @ w1
        h += b1
        z = ops.gelu(h) @ w2
        z += b2
        z *= p[name + ".gamma"]
        out[:, a: e] = z.T
        out[:, a: e] += x[:, a: e]
    return out


def sequential(specs: list[Layer], p: Params, prefix: str, x: np.ndarray) -> np.ndarray:
    """Run an nn.Sequential built from `specs` whose state-dict prefix is `prefix`."""
    for i, spec in enumerate(specs):
        x = layer(spec, p, f"{prefix}.{i}", x, inplace=i > 0)
    return x
