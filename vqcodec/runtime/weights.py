"""Network weights from a model file's tensors as float32 numpy arrays (no torch)."""

from __future__ import annotations

import numpy as np

from .nets import Params


def net_params(tensors: dict[str, np.ndarray]) -> Params:
    """The `net.` tensors under their state-dict names, undoing int8 (per-output-channel scale)
    and float16 storage exactly as the torch loader does (float32 multiply)."""
    out = {}
    for k, v in tensors.items():
        if not k.startswith("net."):
            continue
        scale = tensors.get("scale." + k)
        if scale is not None:
            v = v.astype(np.float32) * scale.astype(np.float32).reshape(-1, *[1] * (v.ndim - 1))
        elif v.dtype.kind == "f":
            v = v.astype(np.float32)
        out[k[4:]] = np.ascontiguousarray(v)
    return out
