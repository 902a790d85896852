"""Run the layer lists of `arch` in numpy, with weights named as torch's state dict names them."""

from __future__ import annotations

import numpy as np

from . import ops
from .. import threads
from ..networks.arch import Act, Conv, ConvNeXt, Layer, Res

Params = dict[str, np.ndarray]  # state-dict name -> float32 array
# frames per block of a ConvNeXt layer's pointwise part: its (ROWS, hidden) temporaries stay
# in the cache, and blocks run on the cores (one layer of the bundled decoder over 10 s:
# 21 ms whole, 13 ms in blocks on one thread, 10 ms on two; docs/RESULTS.md)
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
        y = conv(Conv(spec.c, spec.c, spec.kernel, padding=spec.kernel // 2, groups=spec.c),
                 p, name + ".dw", x).T  # (T, C)
        out = np.empty_like(y)

        def mlp(a: int) -> None:  # frame by frame: blocks of rows are independent
            z = ops.layer_norm(y[a: a + ROWS], p[name + ".norm.weight"], p[name + ".norm.bias"])
            z = linear(p, name + ".pw2", ops.gelu(linear(p, name + ".pw1", z)))
            out[a: a + ROWS] = z * p[name + ".gamma"]

        threads.map_blocks(mlp, range(0, len(y), ROWS))
        return x + out.T
    raise TypeError(f"unknown layer {spec!r}")


def sequential(specs: list[Layer], p: Params, prefix: str, x: np.ndarray) -> np.ndarray:
    """Run an nn.Sequential built from `specs` whose state-dict prefix is `prefix`."""
    for i, spec in enumerate(specs):
        x = layer(spec, p, f"{prefix}.{i}", x, inplace=i > 0)
    return x
