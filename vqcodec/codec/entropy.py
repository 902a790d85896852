"""Range coding of codebook indices under an integer prior, with constriction.

A prior "plan" (see vqcodec.prior) knows the coding order (`steps_np`), computes integer
weights for symbols whose context is known (`weights`), and learns decoded symbols (`commit`).
The probabilities handed to constriction are integers turned into float64 exactly, so encoder
and decoder quantise them identically. Each batch element gets its own independent bitstream.
Numpy only: coding needs no torch.
"""

from __future__ import annotations

from typing import Callable, Iterator, Protocol

import constriction
import numpy as np

from ..errors import BadStreamError
from ..threads import single

# perfect=False on both sides: the fast quantisation, and the two settings are incompatible.
FAMILY = constriction.stream.model.Categorical(perfect=False)
ENCODE_GROUP = 1 << 12  # positions per full-pass group: bounds the encoder's logit memory
Progress = Callable[[int, int], None]  # (steps done, steps in all)


class Plan(Protocol):
    span: int | None  # the most consecutive steps one evaluation may cover (None: any number)

    def steps_np(self) -> list[np.ndarray]: ...
    def commit(self, ids: np.ndarray, symbols: np.ndarray) -> None: ...
    def weights(self, ids: np.ndarray) -> np.ndarray: ...
    def batch_of_np(self, ids: np.ndarray) -> np.ndarray: ...


def to_bytes(words: np.ndarray, order: str = "<") -> bytes:
    # Trailing zero bytes of the last words carry no information: the decoder pads them back.
    return words.astype(order + "u4").tobytes().rstrip(b"\0")


def to_words(data: bytes, order: str = "<") -> np.ndarray:
    return np.frombuffer(data + b"\0" * (-len(data) % 4), dtype=order + "u4").astype(np.uint32)


COMPACT = ">"  # version 9 speech: big-endian words, so the sealing word's low bytes come last


def sealed(coder) -> bytes:
    """A finished coder's stream in version 9's form: big-endian words whose last one has as
    many trailing zero bits as the coder's final interval allows (`shortest_tail`), the zero
    bytes left off. About 1.6 bytes shorter than the sealing word constriction picks."""
    words = coder.get_compressed()
    if len(words):
        _, (lower, size) = coder.pos()
        words = words.copy()
        words[-1] = shortest_tail(int(words[-1]), lower, size)
    return to_bytes(words, COMPACT)


def shortest_tail(word: int, lower: int, size: int) -> int:
    """The last word to write instead of `word`, constriction's sealing word for a final
    interval of `size` points from `lower` in its 64-bit state: a decoder that reads the
    words and then zeros lands at word * 2**32, inside the interval when ceil(lower / 2**32)
    <= word <= (lower + size - 1) // 2**32, so any word in that range decodes the same symbols;
    the one with the most trailing zero bits. Where the interval wraps past 2**64 (the coder
    then carried into the words before) or constriction did not seal at the interval's first
    word, `word` as it is."""
    first, last = -(-lower >> 32), (lower + size - 1) >> 32
    if word != first or last >= 1 << 32:
        return word
    for zeros in range(32, 0, -1):
        candidate = -(-first >> zeros) << zeros  # the first multiple of 2**zeros from `first`
        if candidate <= last:
            return candidate
    return word


def _groups(steps: list[np.ndarray], size: int, span: int | None) -> Iterator[tuple[int, np.ndarray]]:
    """Consecutive steps joined into groups of about `size` ids and at most `span` steps:
    (steps so far, ids) for each."""
    cur: list[np.ndarray] = []
    n = 0
    for i, s in enumerate(steps):
        cur.append(s)
        n += len(s)
        if n >= size or len(cur) == span or i == len(steps) - 1:
            yield i + 1, np.concatenate(cur)
            cur, n = [], 0


def weighed(plan: Plan, symbols: np.ndarray,
             progress: Progress | None = None) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(ids, their symbols, their weights) group by group in coding order, each group's
    contexts committed first: the encoder's full pass, in memory bounded by the group."""
    steps = plan.steps_np()
    for done, ids in _groups(steps, ENCODE_GROUP, plan.span):
        sym = symbols[ids]
        plan.commit(ids, sym)
        yield ids, sym, plan.weights(ids)
        if progress:
            progress(done, len(steps))


def code_length(weights: np.ndarray, symbols: np.ndarray) -> float:
    """The ideal code length in bits, sum of -log2 p, of `symbols` under integer `weights` (N, K)."""
    p = weights[np.arange(len(symbols)), symbols] / weights.sum(axis=1)
    return float(-np.log2(p).sum())


def plan_bits(plan: Plan, symbols) -> float:
    """The ideal code length of flat `symbols` (array-like, laid out as the plan's shape)."""
    symbols = np.asarray(symbols, dtype=np.int64).reshape(-1)
    return sum(code_length(w, sym) for _, sym, w in weighed(plan, symbols))


def encode(plan: Plan, symbols, batch: int, progress: Progress | None = None,
           compact: bool = False) -> tuple[list[bytes], float]:
    """Code flat `symbols` (array-like, laid out as the plan's shape) into one stream per batch
    element. Returns the streams and the ideal code length in bits (sum of -log2 p).
    `progress(done, total)` hears of the steps coded; `compact`: streams as `sealed` ends them."""
    symbols = np.asarray(symbols, dtype=np.int64).reshape(-1)
    coders = [constriction.stream.queue.RangeEncoder() for _ in range(batch)]
    ideal = 0.0
    for ids, sym, w in weighed(plan, symbols, progress):
        ideal += code_length(w, sym)
        owner = plan.batch_of_np(ids)
        for b in np.flatnonzero(np.bincount(owner)):  # a queue coder appends: groups in order
            sel = owner == b
            coders[b].encode(sym[sel].astype(np.int32), FAMILY, w[sel])
    if compact:
        return [sealed(c) for c in coders], ideal
    return [to_bytes(c.get_compressed()) for c in coders], ideal


def decode(plan: Plan, streams: list[bytes], total: int,
           choose: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
           progress: Progress | None = None, compact: bool = False) -> np.ndarray:
    """Recover the flat int64 symbols (size `total`) from one stream per batch element
    (`compact`: streams `encode` wrote with `compact`).

    `choose(weights, owners)`, if given, picks symbols instead of the range decoder: that is
    how sampling from the prior shares this exact path. `progress(done, total)` hears of the
    steps decoded.
    """
    with single():  # many tiny steps: thread hand-offs cost more than they save
        return _decode(plan, streams, total, choose, progress, COMPACT if compact else "<")


def _decode(plan: Plan, streams: list[bytes], total: int,
            choose: Callable[[np.ndarray, np.ndarray], np.ndarray] | None,
            progress: Progress | None, order: str) -> np.ndarray:
    decoders = [constriction.stream.queue.RangeDecoder(to_words(s, order)) for s in streams]
    out = np.zeros(total, dtype=np.int64)
    steps = plan.steps_np()
    for i, ids in enumerate(steps):
        w = plan.weights(ids)
        owner = plan.batch_of_np(ids)
        if choose is not None:
            sym = choose(w, owner)
        else:
            sym = np.empty(len(ids), dtype=np.int64)
            try:
                if len(decoders) == 1:  # one stream (an image, a chunk): no selection needed
                    sym[:] = decoders[0].decode(FAMILY, w)
                else:  # runs of one stream's ids, in order: each stream reads its own in order
                    cuts = [0, *(np.flatnonzero(owner[1:] != owner[:-1]) + 1).tolist(), len(ids)]
                    for a, e in zip(cuts[:-1], cuts[1:]):
                        sym[a:e] = decoders[owner[a]].decode(FAMILY, w[a:e])
            except (ValueError, RuntimeError, AssertionError) as exc:
                raise BadStreamError(f"corrupt entropy-coded payload ({exc})") from None
        sym = np.asarray(sym, dtype=np.int64)
        out[ids] = sym
        plan.commit(ids, sym)
        if progress:
            progress(i + 1, len(steps))
    return out
