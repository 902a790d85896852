"""The integer causal prior the codec runs (numpy only): exact logits, one frame at a time.

The float model it is frozen from is in `causal1d`. Index layout (B, T, S): B independent
sequences (audio chunks), T frames, S stages; the decoder evaluates one frame at a time from
cached activations (no full pass per symbol).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .grid import Grid
from .intops import (RESIDUAL_CLAMP, QLayer, clamp, gate, load_network, network_state, np_tables,
                     step_tables, weights_np)

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

    def plan(self, lengths: list[int], stages: int) -> "Plan1d":
        return Plan1d(self, lengths, stages)


class Plan1d:
    """Coding state for B sequences of given lengths with `stages` stages each.

    Symbol ids index the flattened (B, T, S) array. Exact numpy integer arithmetic; `steps`,
    `logits` and `batch_of` hand torch tensors to training code, their `_np` twins numpy
    arrays to the codec.
    """

    span = None  # the caches hold whole sequences: one evaluation may cover every step

    def __init__(self, model: IntCausalPrior, lengths: list[int], stages: int):
        self.model, self.lengths, self.stages = model, list(lengths), stages
        self.t_max = max(lengths)
        self.grid = Grid(len(lengths), (self.t_max,), max(2, max(model.cfg.dilations)))
        c = model.cfg.channels
        self.cache = {n: self.grid.cache(c)
                      for n in ["e"] + [f"h{i}" for i in range(len(model.cfg.dilations))]}
        self.off = {"first": self.grid.offsets(FIRST_TAPS)}
        for i, d in enumerate(model.cfg.dilations):
            self.off[f"c{i}"] = self.grid.offsets(dilated_taps(d))
        self.symbols = np.zeros((len(lengths), self.t_max, stages), dtype=np.int64)
        self.trunk: np.ndarray | None = None  # (B', C) trunk output at the frame in progress

    def steps(self) -> list:
        import torch

        return [torch.from_numpy(s) for s in self.steps_np()]

    def steps_np(self) -> list[np.ndarray]:
        """Symbol ids of each step: frame-major, then stage."""
        lengths = np.array(self.lengths)
        out = []
        for t in range(self.t_max):
            b = np.nonzero(lengths > t)[0]
            for s in range(self.stages):
                out.append((b * self.t_max + t) * self.stages + s)
        return out

    def _split(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return (ids // (self.stages * self.t_max), (ids // self.stages) % self.t_max,
                ids % self.stages)

    def commit(self, ids, symbols) -> None:
        ids, symbols = np.asarray(ids), np.asarray(symbols, dtype=np.int64)
        b, t, s = self._split(ids)
        self.symbols[b, t, s] = symbols
        np.add.at(self.cache["e"], self.grid.flat(b, t), self.model.np_in[s, symbols])

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
        return weights_np(self._logits(np.asarray(ids)), self.model.np_tables)

    def _logits(self, ids: np.ndarray) -> np.ndarray:
        b, t, s = self._split(ids)
        one_step = len(ids) > 0 and bool((s == s[0]).all()) and bool((t == t[0]).all())
        if one_step:
            if int(s[0]) == 0:
                self.trunk = self._trunk(self.grid.flat(b, t))
            return self._head(self.trunk, b, t, int(s[0]))
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
        return ids // (self.stages * self.t_max)
