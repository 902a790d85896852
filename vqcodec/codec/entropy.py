"""Range coding of codebook indices under an integer prior, with constriction.

A prior "plan" (see vqcodec.prior) knows the coding order (`steps`), computes integer logits
for symbols whose context is known (`logits`), and learns decoded symbols (`commit`). The
probabilities handed to constriction are integers turned into float64 exactly, so encoder and
decoder quantise them identically. Each batch element gets its own independent bitstream.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Protocol

import constriction
import numpy as np
import torch

from ..errors import BadStreamError

# perfect=False on both sides: the fast quantisation, and the two settings are incompatible.
FAMILY = constriction.stream.model.Categorical(perfect=False)
ENCODE_GROUP = 1 << 16  # positions per full-pass group: bounds the encoder's logit memory


class Plan(Protocol):
    def steps(self) -> list[torch.Tensor]: ...
    def commit(self, ids: torch.Tensor, symbols: torch.Tensor) -> None: ...
    def weights(self, ids: torch.Tensor) -> np.ndarray: ...
    def batch_of(self, ids: torch.Tensor) -> torch.Tensor: ...


@contextlib.contextmanager
def one_thread():
    """Run the many small per-step ops on one thread: thread hand-offs cost more than they save
    at these sizes, and far more when another process competes for the cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _to_bytes(words: np.ndarray) -> bytes:
    # Trailing zero bytes of the last words carry no information: the decoder pads them back.
    return words.astype("<u4").tobytes().rstrip(b"\0")


def _to_words(data: bytes) -> np.ndarray:
    return np.frombuffer(data + b"\0" * (-len(data) % 4), dtype="<u4").astype(np.uint32)


def _groups(steps: list[torch.Tensor], size: int) -> list[torch.Tensor]:
    groups, cur, n = [], [], 0
    for s in steps:
        cur.append(s)
        n += len(s)
        if n >= size:
            groups.append(torch.cat(cur))
            cur, n = [], 0
    if cur:
        groups.append(torch.cat(cur))
    return groups


def code_length(weights: np.ndarray, symbols: np.ndarray) -> float:
    """The ideal code length in bits, sum of -log2 p, of `symbols` under integer `weights` (N, K)."""
    p = weights[np.arange(len(symbols)), symbols] / weights.sum(axis=1)
    return float(-np.log2(p).sum())


def plan_bits(plan: Plan, symbols: torch.Tensor) -> float:
    """The ideal code length of flat `symbols` (laid out as the plan's shape) under `plan`."""
    ids = torch.cat(plan.steps())
    plan.commit(ids, symbols[ids])
    return code_length(plan.weights(ids), symbols[ids].numpy())


def encode(plan: Plan, symbols: torch.Tensor, batch: int) -> tuple[list[bytes], float]:
    """Code flat `symbols` (laid out as the plan's shape) into one stream per batch element.

    Returns the streams and the ideal code length in bits (sum of -log2 p over the symbols).
    """
    steps = plan.steps()
    order = torch.cat(steps)
    plan.commit(order, symbols[order])
    syms, weights = [], []
    for ids in _groups(steps, ENCODE_GROUP):  # consecutive wavefronts: contexts are complete
        syms.append(symbols[ids].numpy().astype(np.int32))
        weights.append(plan.weights(ids))
    sym, w = np.concatenate(syms), np.concatenate(weights)
    ideal = code_length(w, sym)
    owner = plan.batch_of(order).numpy()
    streams = []
    for b in range(batch):
        sel = owner == b
        coder = constriction.stream.queue.RangeEncoder()
        if sel.any():
            coder.encode(sym[sel], FAMILY, w[sel])
        streams.append(_to_bytes(coder.get_compressed()))
    return streams, ideal


def decode(plan: Plan, streams: list[bytes], total: int,
           choose: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None) -> torch.Tensor:
    """Recover the flat symbol tensor (size `total`) from one stream per batch element.

    `choose(weights, owners)`, if given, picks symbols instead of the range decoder: that is
    how sampling from the prior shares this exact path.
    """
    with one_thread():
        return _decode(plan, streams, total, choose)


def _decode(plan: Plan, streams: list[bytes], total: int,
            choose: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None) -> torch.Tensor:
    decoders = [constriction.stream.queue.RangeDecoder(_to_words(s)) for s in streams]
    out = torch.zeros(total, dtype=torch.long)
    for ids in plan.steps():
        w = plan.weights(ids)
        owner = plan.batch_of(ids).numpy()
        if choose is not None:
            sym = choose(w, owner)
        else:
            sym = np.empty(len(ids), dtype=np.int64)
            try:
                for b in np.unique(owner):
                    sel = owner == b
                    sym[sel] = decoders[b].decode(FAMILY, w[sel])
            except (ValueError, RuntimeError, AssertionError) as exc:
                raise BadStreamError(f"corrupt entropy-coded payload ({exc})") from None
        sym_t = torch.from_numpy(np.asarray(sym, dtype=np.int64))
        out[ids] = sym_t
        plan.commit(ids, sym)
    return out
