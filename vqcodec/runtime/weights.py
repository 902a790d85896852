"""Network weights from a model file's tensors as float32 numpy arrays (no torch)."""

from __future__ import annotations

from typing import Iterator, Mapping

import numpy as np


class NetParams(Mapping[str, np.ndarray]):
    """The `net.` tensors under their state-dict names, undoing int8 (per-output-channel scale)
    and float16 storage exactly as the torch loader does (float32 multiply).

    Each weight is converted on first use: a command runs one of the two networks (speech
    compress the encoder, decompress the decoder; image decompress the decoder), and
    converting the other's took 3-10 ms of its process. A scale that does not fit its weight
    fails at once (ValueError), as when every weight was converted on loading."""

    def __init__(self, tensors: Mapping[str, np.ndarray]):
        self._tensors = tensors
        self._names = [k[4:] for k in tensors if k.startswith("net.")]
        self._done: dict[str, np.ndarray] = {}
        for name in self._names:
            v, scale = tensors["net." + name], tensors.get("scale.net." + name)
            if scale is not None:
                np.broadcast_shapes(v.shape, (scale.size, *[1] * (v.ndim - 1)))

    def __getitem__(self, name: str) -> np.ndarray:
        w = self._done.get(name)
        if w is None:  # two threads may both convert it: the same array either way
            v = self._tensors["net." + name]  # KeyError: no such weight
            scale = self._tensors.get("scale.net." + name)
            if scale is not None:
                v = v.astype(np.float32) * _per_channel(scale, v.ndim)
            elif v.dtype.kind == "f":
                v = v.astype(np.float32)
            w = self._done[name] = np.ascontiguousarray(v)
        return w

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def _per_channel(scale: np.ndarray, ndim: int) -> np.ndarray:
    """(C_out,) scales as float32, shaped to broadcast over a weight of `ndim` dimensions."""
    return scale.astype(np.float32).reshape(-1, *[1] * (ndim - 1))


def net_params(tensors: Mapping[str, np.ndarray]) -> NetParams:
    """The float32 network weights of a model file's tensors, converted as they are used."""
    return NetParams(tensors)
