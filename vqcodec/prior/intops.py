"""Integer arithmetic for the priors (Balle, Johnston & Minnen, ICLR 2019, "Integer networks").

Every quantity the decoder computes from the indices is an integer. Sums of products are done
in float64 on integer values below 2**53, so they are exact in any order, on any CPU or GPU, with
any thread count or kernel. Rescaling is integer multiply-and-shift; nonlinearities and the
logit -> probability map are lookup tables stored in the model file. Hence the probabilities
handed to the range coder are a deterministic function of the indices alone.

Activations live on fixed scales: ACT (2**-12) for gate outputs, the residual stream and
embeddings; GATE_IN (1/128) for the inputs of the tanh/sigmoid tables; LOGIT (1/32 nat).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

ACT_BITS = 12
ACT_SCALE = 2.0**-ACT_BITS
GATE_IN_SCALE = 1.0 / 128
GATE_RANGE = 1024  # table inputs are clamped to [-1024, 1024], i.e. [-8, 8] in real units
LOGIT_SCALE = 1.0 / 32
LOGIT_RANGE = 32 * 24  # logits more than 24 nats below the maximum share the floor weight
PROB_BITS = 24  # exp table: weight of the most probable symbol
WEIGHT_MAX = 511  # weights are 10-bit signed integers per output channel
RESIDUAL_CLAMP = 1 << 20


def make_tables() -> dict[str, "torch.Tensor"]:
    """Integer tables for tanh, sigmoid (inputs on GATE_IN, outputs on ACT) and exp (logits)."""
    import torch

    x = torch.arange(-GATE_RANGE, GATE_RANGE + 1, dtype=torch.float64) * GATE_IN_SCALE
    one = float(1 << ACT_BITS)
    logits = torch.arange(-LOGIT_RANGE, 1, dtype=torch.float64) * LOGIT_SCALE
    return {
        "tanh": torch.round(torch.tanh(x) * one).to(torch.int64),
        "sigmoid": torch.round(torch.sigmoid(x) * one).to(torch.int64),
        "exp": torch.clamp(torch.round(torch.exp(logits) * 2.0**PROB_BITS), min=1).to(torch.int64),
    }


def compact(t: "torch.Tensor") -> "torch.Tensor":
    """The narrowest integer dtype (int16 or int32) that holds `t` exactly, for storage."""
    import torch

    for dtype in (torch.int16, torch.int32):
        info = torch.iinfo(dtype)
        if t.numel() == 0 or (int(t.min()) >= info.min and int(t.max()) <= info.max):
            return t.to(dtype)
    return t


def rescale(acc: np.ndarray, mult: np.ndarray, shift: int) -> np.ndarray:
    """Round(acc * mult / 2**shift) in exact int64 arithmetic."""
    return (acc * mult + (1 << (shift - 1))) >> shift


def clamp(x: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """np.clip for the priors' small integer arrays, in a third of its time: np.clip checks
    the bounds against the dtype's limits on every call (12 vs 4 us on a (1, 256) step)."""
    return np.minimum(np.maximum(x, lo), hi)


def gate(pre: np.ndarray, tables: dict[str, np.ndarray]) -> np.ndarray:
    """tanh(a) * sigmoid(b) for pre = [a, b] on GATE_IN; returns ACT-scaled integers."""
    half = pre.shape[-1] // 2
    idx = clamp(pre, -GATE_RANGE, GATE_RANGE) + GATE_RANGE
    prod = tables["tanh"][idx[..., :half]] * tables["sigmoid"][idx[..., half:]]
    return (prod + (1 << (ACT_BITS - 1))) >> ACT_BITS


def weights_np(logits: np.ndarray, tables: dict[str, np.ndarray]) -> np.ndarray:
    """Positive integer weights proportional to softmax(logits) (LOGIT scale), as float64."""
    rel = logits - logits.max(axis=-1, keepdims=True)
    np.maximum(rel, -LOGIT_RANGE, out=rel)  # in place: the encoder's full pass is (N, K) large
    rel += LOGIT_RANGE
    exp = tables.get("exp_f64")
    return (tables["exp"].astype(np.float64) if exp is None else exp)[rel]


def np_tables(tables: dict) -> dict[str, np.ndarray]:
    return {k: np.asarray(v).astype(np.int64) for k, v in tables.items()}


def step_tables(tables: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The tables the numpy steps use: `tables` plus the exp table as float64, made once
    instead of on every step (integer-valued, so exact). Not part of the saved state."""
    return {**tables, "exp_f64": tables["exp"].astype(np.float64)}


class QLayer:
    """A quantized linear map: out = rescale(feats @ W + b) with integer W, b.

    `feats` are gathered ACT-scaled integer activations (taps * C_in columns) held in float64,
    so the matrix product is exact whatever the summation order.
    """

    def __init__(self, weight, bias, mult, shift: int):
        # numpy: these small per-step products are dominated by call overhead, which is lower
        self.weight = np.asarray(weight).astype(np.float64)  # (taps * C_in, C_out), integer valued
        self.bias = np.asarray(bias).astype(np.int64)
        self.mult = np.asarray(mult).astype(np.int64)
        self.shift = int(shift)

    def __call__(self, feats: np.ndarray) -> np.ndarray:
        """feats: (N, taps * C_in) float64 integer-valued -> (N, C_out) int64."""
        acc = (feats @ self.weight).astype(np.int64)
        acc += self.bias  # rescale(acc + bias) in place: the same integers, fewer passes
        acc *= self.mult
        acc += 1 << (self.shift - 1)
        acc >>= self.shift
        return acc

    def state(self, prefix: str) -> dict[str, "torch.Tensor"]:
        import torch

        return {
            prefix + "weight": torch.from_numpy(self.weight.astype(np.int16)),  # |w| <= WEIGHT_MAX
            prefix + "bias": compact(torch.from_numpy(self.bias)),
            prefix + "mult": torch.from_numpy(self.mult),
            prefix + "shift": torch.tensor([self.shift], dtype=torch.int64),
        }

    @classmethod
    def from_state(cls, tensors: dict, prefix: str) -> "QLayer":
        """From torch tensors or numpy arrays."""
        return cls(tensors[prefix + "weight"], tensors[prefix + "bias"], tensors[prefix + "mult"],
                   int(tensors[prefix + "shift"][0]))


def quantize_linear(weight: "torch.Tensor", bias: "torch.Tensor", out_scale: float,
                    in_max: float) -> QLayer:
    """Quantize a float map (rows: taps * C_in, cols: C_out) whose inputs are ACT-scaled integers.

    `in_max` bounds the absolute integer input; it proves that float64 sums stay exact and
    that no int64 product overflows.
    """
    import torch

    w = weight.detach().to(torch.float64)
    w_scale = w.abs().amax(dim=0).clamp(min=1e-12) / WEIGHT_MAX  # per output channel
    w_int = torch.round(w / w_scale)
    acc_scale = ACT_SCALE * w_scale
    b_int = torch.round(bias.detach().to(torch.float64) / acc_scale).to(torch.int64)
    ratio = acc_scale / out_scale
    shift = max(1, 22 - math.ceil(math.log2(float(ratio.max()))))
    mult = torch.round(ratio * 2.0**shift).to(torch.int64)
    acc_max = float(w_int.abs().sum(dim=0).max()) * in_max + float(b_int.abs().max())
    if acc_max >= 2.0**52 or acc_max * float(mult.max()) >= 2.0**62:
        raise ValueError("integer layer would overflow; lower the clamp or the weight bits")
    return QLayer(w_int.long(), b_int, mult, shift)


TABLES = ("tanh", "sigmoid", "exp")


def network_state(prefix: str, tensors: dict, layers: dict[str, QLayer],
                  tables: dict) -> dict[str, "torch.Tensor"]:
    """Flat, compactly typed tensors of an integer network, for a model file."""
    import torch

    out = {prefix + k: compact(torch.as_tensor(np.asarray(v))) for k, v in tensors.items()}
    for name, layer in layers.items():
        out.update(layer.state(f"{prefix}{name}."))
    out.update({f"{prefix}table.{k}": torch.as_tensor(np.asarray(v)) for k, v in tables.items()})
    return out


def load_network(prefix: str, t: dict, names: list[str]) -> tuple[dict[str, QLayer], dict]:
    """The named QLayers and the lookup tables of an integer network from a model file."""
    layers = {n: QLayer.from_state(t, f"{prefix}{n}.") for n in names}
    return layers, {k: t[f"{prefix}table.{k}"] for k in TABLES}
