"""The integer causal prior the codec runs (numpy only): exact logits, one frame at a time.

The float model it is frozen from is in `causal1d`. Index layout (B, T, S): B independent
sequences (audio chunks), T frames, S stages; the decoder evaluates one frame at a time from
cached activations (no full pass per symbol).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..codec.params import SHARE_ONE  # a partial last stage's share of frames, in 1/256ths
from .grid import Grid
from .intops import (LOGIT_SCALE, PROB_BITS, RESIDUAL_CLAMP, QLayer, clamp, gate, load_network,
                     network_state, np_tables, step_tables, weights_np)

if TYPE_CHECKING:
    import torch


FIRST_TAPS = [(-2,), (-1,)]
CENTER = [(0,)]


@dataclass
class CausalPriorConfig:
    codebook_size: int
    stages: int
    channels: int = 128
    dilations: tuple[int, ...] = (1, 2, 4, 8)


def dilated_taps(d: int) -> list[tuple[int]]:
    return [(-d,), (0,)]


class IntCausalPrior:
    """The integer causal prior: identical logits for identical indices on every machine."""

    def __init__(self, cfg: CausalPriorConfig, embed_in, embed_cur, layers: dict[str, QLayer],
                 tables: dict):
        """Embeddings and tables as torch tensors or numpy arrays of integers."""
        self.cfg, self.layers, self.tables = cfg, layers, np_tables(tables)
        self.embed_in = np.asarray(embed_in).astype(np.int64)  # (S, K, C)
        self.embed_cur = np.asarray(embed_cur).astype(np.int64)  # (S-1, K, C)
        self.np_in, self.np_cur, self.np_tables = self.embed_in, self.embed_cur, step_tables(self.tables)

    def state(self, prefix: str = "prior.") -> dict:
        return network_state(prefix, {"embed_in": self.embed_in, "embed_cur": self.embed_cur},
                             self.layers, self.tables)

    @classmethod
    def from_state(cls, cfg: CausalPriorConfig, t: dict, prefix: str = "prior.") -> "IntCausalPrior":
        names = ["first"] + [f"{p}{i}" for i in range(len(cfg.dilations)) for p in "cr"]
        names += [f"o{j}_{s}" for s in range(cfg.stages) for j in (1, 2)]
        layers, tables = load_network(prefix, t, names)
        return cls(cfg, t[prefix + "embed_in"], t[prefix + "embed_cur"], layers, tables)

    def plan(self, lengths: list[int], stages: int, share: int = 0) -> "Plan1d":
        return Plan1d(self, lengths, stages, share)

    def rate_cost(self, lengths: list[int], stages: int, share: int, symbols: np.ndarray,
                  weight: float) -> "RateCost":
        """The encoder's rate term for a second VQ search (`runtime.vq.Cost`): `weight` times
        each candidate code's bits under this prior. `symbols` ((n, slots), Plan1d's slots of
        consecutive records of `lengths` frames: a first search's codes) are the context of the
        frames before; within a frame the stages before are the path's own."""
        plan = self.plan(lengths, stages, share)
        b = np.repeat(np.arange(len(lengths)), lengths)
        t = np.concatenate([np.arange(n) for n in lengths])
        laid = np.zeros((len(lengths), plan.t_max, plan.slots), dtype=np.int64)
        laid[b, t] = symbols
        ids = np.concatenate(plan.steps_np())
        plan.commit(ids, laid.reshape(-1)[ids])
        return RateCost(self, plan._trunk(plan.grid.flat(b, t)), weight)


class Plan1d:
    """Coding state for B sequences of given lengths with `stages` stages each.

    Symbol ids index the flattened (B, T, slots) array, slots = S: a frame's stages in order.
    With a partial last stage (`share` = 1..255), slots = S + 1: stages 0..S-2, a flag, then
    stage S-1, coded only where the flag is set. A flag is set with probability
    (share + 256 * previous flag) / 512: the flags of a record are a Markov chain whose
    stationary share is share / 256 and whose persistence P(1|1) - P(1|0) is 1/2, about what
    the encoder's choices show on speech (0.48 at share 64, 0.63 at 128; the previous flag
    saves 0.14 and 0.31 bits a frame over independent flags). Where a flag is clear the last
    slot's symbol is 0 with probability 1 (no bits) and adds nothing to the prior's context.
    Exact numpy integer arithmetic; `steps`, `logits` and `batch_of` hand torch tensors to
    training code, their `_np` twins numpy arrays to the codec.
    """

    span = None  # the caches hold whole sequences: one evaluation may cover every step

    def __init__(self, model: IntCausalPrior, lengths: list[int], stages: int, share: int = 0):
        if not 0 <= share < SHARE_ONE or (share and stages < 2):
            raise ValueError(f"a partial last stage needs 2+ stages and a share in 1..255, not "
                             f"{stages} and {share}")
        self.model, self.lengths, self.stages, self.share = model, list(lengths), stages, share
        self.slots = stages + (1 if share else 0)
        self.flag_slot = stages - 1 if share else -1  # the flag's slot; stage S-1 moves to S
        self.slot_stage = np.array(list(range(stages - 1)) + ([-1] if share else []) + [stages - 1])
        self.t_max = max(lengths)
        self.grid = Grid(len(lengths), (self.t_max,), max(2, max(model.cfg.dilations)))
        c = model.cfg.channels
        self.cache = {n: self.grid.cache(c)
                      for n in ["e"] + [f"h{i}" for i in range(len(model.cfg.dilations))]}
        self.off = {"first": self.grid.offsets(FIRST_TAPS)}
        for i, d in enumerate(model.cfg.dilations):
            self.off[f"c{i}"] = self.grid.offsets(dilated_taps(d))
        self.symbols = np.zeros((len(lengths), self.t_max, stages), dtype=np.int64)
        self.flags = np.full((len(lengths), self.t_max), not share)  # the last stage coded
        self.trunk: np.ndarray | None = None  # (B', C) trunk output at the frame in progress
        self.trunk_b: np.ndarray | None = None  # ... of these sequences (ascending)
        self.trunk_t = -1  # ... at this frame
        self._split_ids: np.ndarray | None = None  # `_split`'s last question, held
        self._split_out: tuple = ()

    def steps(self) -> list:
        import torch

        return [torch.from_numpy(s) for s in self.steps_np()]

    def steps_np(self) -> list[np.ndarray]:
        """Symbol ids of each step: frame-major, then stage."""
        lengths = np.array(self.lengths)
        out = []
        for t in range(self.t_max):
            b = np.nonzero(lengths > t)[0]
            for s in range(self.slots):
                out.append((b * self.t_max + t) * self.slots + s)
        return out

    def _split(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(sequence, frame, slot) of symbol ids; the last answer again for the same array
        (a decoding step asks for its weights, then commits its symbols)."""
        if ids is not self._split_ids:
            self._split_ids = ids
            self._split_out = (ids // (self.slots * self.t_max), (ids // self.slots) % self.t_max,
                               ids % self.slots)
        return self._split_out

    def commit(self, ids, symbols) -> None:
        ids, symbols = np.asarray(ids), np.asarray(symbols, dtype=np.int64)
        b, t, slot = self._split(ids)
        rows, e = self.grid.flat(b, t), self.cache["e"]
        for j in np.flatnonzero(np.bincount(slot)):  # slot order: a flag before its stage
            sel = slot == j
            if j == self.flag_slot:
                self.flags[b[sel], t[sel]] = symbols[sel] != 0
                continue
            stage = self.slot_stage[j]
            self.symbols[b[sel], t[sel], stage] = symbols[sel]
            sel &= self.flags[b, t] if stage == self.stages - 1 else True
            # a frame once per stage, so no repeated rows; integers: exact in any order
            e[rows[sel]] += self.model.np_in[stage, symbols[sel]]

    def _trunk(self, rows: np.ndarray) -> np.ndarray:
        m, g, c = self.model, self.grid, self.cache
        tab = m.np_tables
        h = gate(m.layers["first"](g.gather(c["e"], rows, self.off["first"])), tab)
        for i in range(len(m.cfg.dilations)):
            c[f"h{i}"][rows] = h
            g_out = gate(m.layers[f"c{i}"](g.gather(c[f"h{i}"], rows, self.off[f"c{i}"])), tab)
            h = clamp(h + m.layers[f"r{i}"](g_out.astype(np.float64)), -RESIDUAL_CLAMP,
                        RESIDUAL_CLAMP)
        return h

    def _head(self, trunk: np.ndarray, b: np.ndarray, t: np.ndarray, s: int) -> np.ndarray:
        m = self.model
        z = trunk
        for j in range(s):
            z = z + m.np_cur[j][self.symbols[b, t, j]]
        o = clamp(m.layers[f"o1_{s}"](z.astype(np.float64)), 0, RESIDUAL_CLAMP)
        return m.layers[f"o2_{s}"](o.astype(np.float64))

    def logits(self, ids) -> "torch.Tensor":
        """Integer logits (N, K): one decoding step, or all symbols at once."""
        import torch

        return torch.from_numpy(self._logits(np.asarray(ids)))

    def weights(self, ids) -> np.ndarray:
        """Probability weights (N, K) as exact float64 integers, for the range coder."""
        ids = np.asarray(ids)
        if not self.share:
            return weights_np(self._logits(ids), self.model.np_tables)
        b, t, slot = self._split(ids)
        flag = slot == self.flag_slot
        absent = (slot == self.slots - 1) & ~self.flags[b, t]  # a clear flag: symbol 0, no bits
        if not (flag.any() or absent.any()):  # all coded: a decoding step of the first stages
            return weights_np(self._logits(ids), self.model.np_tables)
        out = np.zeros((len(ids), self.model.cfg.codebook_size))
        coded = ~(flag | absent)
        if coded.any():
            out[coded] = weights_np(self._logits(ids[coded]), self.model.np_tables)
        prev = self.flags[b[flag], t[flag] - 1] & (t[flag] > 0)  # a record starts clear
        out[flag, 1] = self.share + SHARE_ONE * prev
        out[flag, 0] = 2 * SHARE_ONE - out[flag, 1]
        out[absent, 0] = 1
        return out

    def _logits(self, ids: np.ndarray) -> np.ndarray:
        b, t, slot = self._split(ids)
        s = self.slot_stage[slot]  # the stage of each id (never a flag's slot)
        one_step = len(ids) > 0 and bool((s == s[0]).all()) and bool((t == t[0]).all())
        if one_step and int(s[0]) == 0:  # a decoding step: the trunk serves the later stages
            self.trunk, self.trunk_b, self.trunk_t = self._trunk(self.grid.flat(b, t)), b, int(t[0])
            return self._head(self.trunk, b, t, 0)
        if one_step and self.trunk_t == int(t[0]):  # a later stage of that frame
            rows = np.searchsorted(self.trunk_b, b)  # a partial last stage: the flagged ones
            rows = np.minimum(rows, len(self.trunk_b) - 1)
            if np.array_equal(self.trunk_b[rows], b):
                return self._head(self.trunk[rows], b, t, int(s[0]))
        frame_ids = np.flatnonzero(np.bincount(b * self.t_max + t))  # each frame once, sorted
        trunk = self._trunk(self.grid.flat(frame_ids // self.t_max, frame_ids % self.t_max))
        frame_pos = np.empty(len(self.lengths) * self.t_max, dtype=np.int64)
        frame_pos[frame_ids] = np.arange(len(frame_ids))
        out = np.empty((len(ids), self.model.cfg.codebook_size), dtype=np.int64)
        for j in range(self.stages):
            sel = np.nonzero(s == j)[0]
            out[sel] = self._head(trunk[frame_pos[b[sel] * self.t_max + t[sel]]], b[sel], t[sel], j)
        return out

    def batch_of(self, ids) -> "torch.Tensor":
        import torch

        return torch.as_tensor(self.batch_of_np(np.asarray(ids)))

    def batch_of_np(self, ids: np.ndarray) -> np.ndarray:
        return ids // (self.slots * self.t_max)


class RateCost:
    """weight * -log2 p of every code at a stage of each frame, for the encoder's search: the
    heads of an IntCausalPrior in float32 (the coded probabilities stay the exact integer ones;
    this only steers which codes the encoder picks)."""

    def __init__(self, model: IntCausalPrior, trunk: np.ndarray, weight: float):
        self.trunk = trunk.astype(np.float32)  # (n, C): the trunk's output at each frame
        self.cur = model.embed_cur.astype(np.float32)
        self.heads = []
        for s in range(model.cfg.stages):
            layers = [model.layers[f"o{j}_{s}"] for j in (1, 2)]
            self.heads.append([(q.weight.astype(np.float32), q.bias.astype(np.float32),
                                (q.mult / 2.0**q.shift).astype(np.float32)) for q in layers])
        self.scale = np.float32(weight / np.log(2))  # nats -> weighted bits
        self.floor = np.float32(-PROB_BITS * np.log(2))  # the least probable weight, 1 in 2^24

    def __call__(self, stage: int, pos: np.ndarray, paths: np.ndarray) -> np.ndarray:
        """(n,) frames, (n, P, stage) codes of each kept path -> (n, P, K) weighted bits."""
        z = np.repeat(self.trunk[pos][:, None], paths.shape[1], axis=1)  # (n, P, C)
        for j in range(stage):
            z += self.cur[j][paths[..., j]]
        (w1, b1, m1), (w2, b2, m2) = self.heads[stage]
        o = np.clip((z @ w1 + b1) * m1, 0, RESIDUAL_CLAMP)
        x = (o @ w2 + b2) * (m2 * np.float32(LOGIT_SCALE))  # nats
        x -= x.max(axis=-1, keepdims=True)
        np.maximum(x, self.floor, out=x)  # the integer weights' floor of 1 (PROB_BITS below)
        lse = np.log(np.exp(x).sum(-1, keepdims=True))
        return (lse - x) * self.scale
