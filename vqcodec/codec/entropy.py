"""Range coding of codebook indices under an integer prior, with constriction.

A prior "plan" (see vqcodec.prior) knows the coding order (`steps_np`), computes integer
weights for symbols whose context is known (`weights`), and learns decoded symbols (`commit`).
The probabilities handed to constriction are integers turned into float64 exactly, so encoder
and decoder quantise them identically. Each batch element gets its own independent bitstream.
Numpy only: coding needs no torch.
"""

from __future__ import annotations

from typing import Callable, Protocol

import constriction
import numpy as np

from ..errors import BadStreamError
from ..threads import single

# perfect=False on both sides: the fast quantisation, and the two settings are incompatible.
FAMILY = constriction.stream.model.Categorical(perfect=False)
ENCODE_GROUP = 1 << 16  # positions per full-pass group: bounds the encoder's logit memory


class Plan(Protocol):
    def steps_np(self) -> list[np.ndarray]: ...
    def commit(self, ids: np.ndarray, symbols: np.ndarray) -> None: ...
    def weights(self, ids: np.ndarray) -> np.ndarray: ...
    def batch_of_np(self, ids: np.ndarray) -> np.ndarray: ...


def _to_bytes(words: np.ndarray) -> bytes:
    # Trailing zero bytes of the last words carry no information: the decoder pads them back.
    return words.astype("<u4").tobytes().rstrip(b"\0")


def _to_words(data: bytes) -> np.ndarray:
    return np.frombuffer(data + b"\0" * (-len(data) % 4), dtype="<u4").astype(np.uint32)


def _groups(steps: list[np.ndarray], size: int) -> list[np.ndarray]:
    groups, cur, n = [], [], 0
    for s in steps:
        cur.append(s)
        n += len(s)
        if n >= size:
            groups.append(np.concatenate(cur))
            cur, n = [], 0
    if cur:
        groups.append(np.concatenate(cur))
    return groups


def code_length(weights: np.ndarray, symbols: np.ndarray) -> float:
    """The ideal code length in bits, sum of -log2 p, of `symbols` under integer `weights` (N, K)."""
    p = weights[np.arange(len(symbols)), symbols] / weights.sum(axis=1)
    return float(-np.log2(p).sum())


def plan_bits(plan: Plan, symbols) -> float:
    """The ideal code length of flat `symbols` (array-like, laid out as the plan's shape)."""
    symbols = np.asarray(symbols, dtype=np.int64).reshape(-1)
    ids = np.concatenate(plan.steps_np())
    plan.commit(ids, symbols[ids])
    return code_length(plan.weights(ids), symbols[ids])


def encode(plan: Plan, symbols, batch: int) -> tuple[list[bytes], float]:
    """Code flat `symbols` (array-like, laid out as the plan's shape) into one stream per batch
    element. Returns the streams and the ideal code length in bits (sum of -log2 p)."""
    symbols = np.asarray(symbols, dtype=np.int64).reshape(-1)
    steps = plan.steps_np()
    order = np.concatenate(steps)
    plan.commit(order, symbols[order])
    syms, weights = [], []
    for ids in _groups(steps, ENCODE_GROUP):  # consecutive wavefronts: contexts are complete
        syms.append(symbols[ids].astype(np.int32))
        weights.append(plan.weights(ids))
    sym, w = np.concatenate(syms), np.concatenate(weights)
    ideal = code_length(w, sym)
    owner = plan.batch_of_np(order)
    streams = []
    for b in range(batch):
        sel = owner == b
        coder = constriction.stream.queue.RangeEncoder()
        if sel.any():
            coder.encode(sym[sel], FAMILY, w[sel])
        streams.append(_to_bytes(coder.get_compressed()))
    return streams, ideal


def decode(plan: Plan, streams: list[bytes], total: int,
           choose: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """Recover the flat int64 symbols (size `total`) from one stream per batch element.

    `choose(weights, owners)`, if given, picks symbols instead of the range decoder: that is
    how sampling from the prior shares this exact path.
    """
    with single():  # many tiny steps: thread hand-offs cost more than they save
        return _decode(plan, streams, total, choose)


def _decode(plan: Plan, streams: list[bytes], total: int,
            choose: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    decoders = [constriction.stream.queue.RangeDecoder(_to_words(s)) for s in streams]
    out = np.zeros(total, dtype=np.int64)
    for ids in plan.steps_np():
        w = plan.weights(ids)
        owner = plan.batch_of_np(ids)
        if choose is not None:
            sym = choose(w, owner)
        else:
            sym = np.empty(len(ids), dtype=np.int64)
            try:
                if len(decoders) == 1:  # one stream (an image, a chunk): no selection needed
                    sym[:] = decoders[0].decode(FAMILY, w)
                else:
                    for b in np.flatnonzero(np.bincount(owner)):  # np.unique imports numpy.ma
                        sel = owner == b
                        sym[sel] = decoders[b].decode(FAMILY, w[sel])
            except (ValueError, RuntimeError, AssertionError) as exc:
                raise BadStreamError(f"corrupt entropy-coded payload ({exc})") from None
        sym = np.asarray(sym, dtype=np.int64)
        out[ids] = sym
        plan.commit(ids, sym)
    return out
