"""The integer gated PixelCNN the codec runs (numpy only): exact logits, wavefront decoding.

The float model it is frozen from, and the causality argument for the taps below, are in
`pixelcnn2d`. Every tap (dy, dx) satisfies 2*dy + dx <= 0 (the first layer's < 0), so all
positions on one wavefront t = 2y + x decode together.

Residual stages (quality levels): a map of S' <= S stages is coded wavefront by wavefront,
and within a wavefront stage by stage. The trunk sums the embeddings of every coded stage, so
it sees all stages at earlier wavefronts; the head of stage s adds embeddings of stages < s
at the position itself. One trunk evaluation per wavefront serves every stage's head.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .grid import gather
from .intops import (RESIDUAL_CLAMP, QLayer, clamp, gate, load_network, network_state, np_tables,
                     step_tables, weights_np)

if TYPE_CHECKING:
    import torch


V0_TAPS = [(-2, -1), (-2, 0), (-2, 1), (-1, -1), (-1, 0), (-1, 1)]
V_TAPS = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 0)]
H0_TAPS = [(0, -2), (0, -1)]
H_TAPS = [(0, -2), (0, -1), (0, 0)]
CENTER = [(0, 0)]
PAD = 2
LOOKBACK = 5  # the farthest wavefront back a tap reads: max of -(2 dy + dx), (-2, -1) in V0_TAPS
GROUP = 1 << 12  # positions one evaluation covers at most: bounds the caches, not the map


@dataclass
class PixelCNNConfig:
    codebook_size: int
    channels: int = 64
    layers: int = 5
    stages: int = 1  # residual VQ stages the prior models (any prefix of them)


class IntGatedPixelCNN:
    """The integer PixelCNN: identical logits for identical indices on every machine."""

    def __init__(self, cfg: PixelCNNConfig, embed, layers: dict[str, QLayer], tables: dict,
                 embed_in=None, embed_cur=None):
        """Integer arrays (torch or numpy): `embed` (K, C) codes of stage 0 into the trunk;
        with several stages `embed_in` (S-1, K, C) those of stages >= 1, `embed_cur`
        (S-1, K, C) stage j's codes into the heads of stages > j."""
        self.cfg, self.layers = cfg, layers
        self.embed, self.tables = np.asarray(embed).astype(np.int64), np_tables(tables)
        c, k = self.embed.shape[1], self.embed.shape[0]
        more = np.zeros((0, k, c), np.int64) if embed_in is None else np.asarray(embed_in)
        self.embed_in = more.astype(np.int64)
        self.embed_cur = (np.zeros((0, k, c), np.int64) if embed_cur is None
                          else np.asarray(embed_cur).astype(np.int64))
        self.np_embed = np.concatenate([self.embed[None], self.embed_in]).astype(np.float64)  # (S, K, C)
        self.np_cur, self.np_tables = self.embed_cur.astype(np.float64), step_tables(self.tables)

    # -- serialisation -------------------------------------------------------------------
    def state(self, prefix: str = "prior.") -> dict:
        extra = {"embed_in": self.embed_in, "embed_cur": self.embed_cur} if self.cfg.stages > 1 else {}
        return network_state(prefix, {"embed": self.embed, **extra}, self.layers, self.tables)

    @classmethod
    def from_state(cls, cfg: PixelCNNConfig, t: dict, prefix: str = "prior.") -> "IntGatedPixelCNN":
        names = ["v0", "h0", "o1", "o2"] + [f"{p}{i}" for i in range(1, cfg.layers) for p in "vhr"]
        names += [f"o{j}_{s}" for s in range(1, cfg.stages) for j in (1, 2)]
        layers, tables = load_network(prefix, t, names)
        if cfg.stages == 1:
            return cls(cfg, t[prefix + "embed"], layers, tables)
        return cls(cfg, t[prefix + "embed"], layers, tables, t[prefix + "embed_in"],
                   t[prefix + "embed_cur"])

    # -- evaluation ----------------------------------------------------------------------
    def plan(self, shape: tuple[int, ...], group: int = GROUP) -> "Plan2d":
        """`shape` (B, H, W) for one stage, or (B, H, W, S') for the first S' stages."""
        return Plan2d(self, shape, group)


class Plan2d:
    """Coding state for a (B, H, W) map of S stages: caches per layer and the wavefront schedule.

    Symbol ids index the flattened (B, H, W, S) map (S = 1: the (B, H, W) map). The
    arithmetic is numpy, exact integers throughout; `steps`, `logits` and `batch_of` hand
    torch tensors to training code, their `_np` twins numpy arrays to the codec.

    The caches are laid out by wavefront, (slot, B, PAD + H + PAD, C) with slot t mod `slots`
    for position (y, x) on wavefront t = 2y + x, so every tap (dy, dx) is one flat offset
    (2dy + dx) * B * (H + 2 PAD) + dy. They hold `span + LOOKBACK` wavefronts: what one
    evaluation of at most `group` positions reads, not the whole map. A slot is reused once
    its wavefront is LOOKBACK behind; a negative flat index wraps to the end, which is the
    ring's previous slot. Rows outside a wavefront's range are the zero padding; `commit`
    clears what the slot's previous wavefront left there. The codes of each position's
    stages sit in the same ring (`sym`), for the heads of later stages.
    """

    def __init__(self, model: IntGatedPixelCNN, shape: tuple[int, ...], group: int = GROUP):
        b, h, w = shape[:3]
        self.stages = shape[3] if len(shape) > 3 else 1
        if not 1 <= self.stages <= model.cfg.stages:
            raise ValueError(f"the prior models {model.cfg.stages} stages, not {self.stages}")
        self.model, self.shape = model, (b, h, w)
        steps = 2 * (h - 1) + w
        per_step = b * min(h, (w + 1) // 2)  # the most positions on one wavefront
        waves = min(steps, max(1, group // per_step))  # wavefronts evaluated at once, at most
        self.span = (waves - 1) * self.stages + 1  # steps: any run of them meets <= waves wavefronts
        self.slots, self.hp = waves + LOOKBACK, h + 2 * PAD
        self.waves = waves
        c = model.cfg.channels
        names = ["e"] + [f"{p}{i}" for i in range(model.cfg.layers) for p in "vh"]
        self.cache = {n: np.zeros((self.slots, b, self.hp, c)) for n in names}
        self.sym = np.zeros((self.slots * b * self.hp, self.stages), dtype=np.int64)
        self.held = np.full(self.slots, -1)  # the wavefront each slot holds
        self.off = {n: np.array([(2 * dy + dx) * b * self.hp + dy for dy, dx in taps])
                    for n, taps in (("v0", V0_TAPS), ("v", V_TAPS), ("h0", H0_TAPS), ("h", H_TAPS))}
        self.last: tuple[np.ndarray, np.ndarray] | None = None  # (positions, trunk) last evaluated

    def steps(self) -> list:
        import torch

        return [torch.from_numpy(s) for s in self.steps_np()]

    def steps_np(self) -> list[np.ndarray]:
        """Symbol ids of each step in coding order: wavefront by wavefront, then stage by stage."""
        b, h, w = self.shape
        ids = np.arange(b * h * w)
        t = 2 * ((ids // w) % h) + ids % w
        order = np.argsort(t * (b * h * w) + ids, kind="stable")
        bounds = np.cumsum(np.bincount(t, minlength=2 * (h - 1) + w))[:-1]
        waves = np.split(ids[order], bounds)
        if self.stages == 1:
            return waves
        return [p * self.stages + s for p in waves for s in range(self.stages)]

    def _coords(self, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(batch, row, wavefront) of positions."""
        _, h, w = self.shape
        y, x = (pos // w) % h, pos % w
        return pos // (h * w), y, 2 * y + x

    def rows(self, pos: np.ndarray) -> np.ndarray:
        """Flat cache rows of positions."""
        b, y, t = self._coords(pos)
        return ((t % self.slots) * self.shape[0] + b) * self.hp + y + PAD

    def commit(self, ids, symbols) -> None:
        ids, symbols = np.asarray(ids), np.asarray(symbols)
        pos, stage = np.divmod(ids, self.stages)
        self._enter(pos)
        rows, e = self.rows(pos), self.flat("e")
        if self.stages == 1:
            e[rows] = self.model.np_embed[0][symbols]
            return
        self.sym[rows, stage] = symbols
        for s in range(self.stages):  # the trunk's input: the sum over the stages coded so far
            sel = stage == s
            if s == 0:  # stage 0 comes first and overwrites what the slot held
                e[rows[sel]] = self.model.np_embed[0][symbols[sel]]
            elif sel.any():
                e[rows[sel]] += self.model.np_embed[s][symbols[sel]]

    def _enter(self, pos: np.ndarray) -> None:
        """Give the wavefronts of positions `pos` their slots, clearing what older ones left."""
        if not len(pos):
            return
        waves = self._coords(pos)[2]
        first, last = int(waves.min()), int(waves.max())
        if last - first >= self.waves:
            raise ValueError(f"a plan for {self.shape} evaluates at most {self.waves} wavefronts "
                             "at once")
        w = self.shape[2]
        for t in range(first, last + 1):
            slot, old = t % self.slots, self.held[t % self.slots]
            if old == t:
                continue
            if old >= 0:  # rows old covered but t does not: below t's range (ranges only rise)
                lo_old, lo = max(0, -(-(old - w + 1) // 2)), max(0, -(-(t - w + 1) // 2))
                for c in self.cache.values():
                    c[slot, :, PAD + lo_old: PAD + lo] = 0
            self.held[slot] = t

    def flat(self, name: str) -> np.ndarray:
        """Cache `name` as (rows, C), a view."""
        return self.cache[name].reshape(-1, self.cache[name].shape[-1])

    def logits(self, ids) -> "torch.Tensor":
        """Integer logits (N, K) at symbols `ids`, whose contexts must be committed."""
        import torch

        return torch.from_numpy(self._logits(np.asarray(ids)))

    def weights(self, ids) -> np.ndarray:
        """Probability weights (N, K) as exact float64 integers, for the range coder."""
        return weights_np(self._logits(np.asarray(ids)), self.model.np_tables)

    def _logits(self, ids: np.ndarray) -> np.ndarray:
        if self.stages == 1:
            return self._head(self._trunk(ids), 0, ids)
        pos, stage = np.divmod(ids, self.stages)
        if self.last is not None and stage[0] > 0 and np.array_equal(self.last[0], pos):
            trunk = self.last[1]  # a later stage of the wavefront just evaluated
        else:
            order = np.sort(pos)
            unique = order[np.concatenate(([True], order[1:] != order[:-1]))]
            trunk = self._trunk(unique)[np.searchsorted(unique, pos)]
        self.last = (pos, trunk)
        out = np.empty((len(ids), self.model.cfg.codebook_size), dtype=np.int64)
        for s in range(self.stages):
            sel = np.flatnonzero(stage == s)
            if len(sel):
                out[sel] = self._head(trunk[sel], s, pos[sel])
        return out

    def _trunk(self, pos: np.ndarray) -> np.ndarray:
        """The trunk's output (N, C) at positions `pos`, cached per layer for later wavefronts."""
        m, rows = self.model, self.rows(pos)
        self._enter(pos)
        c = {n: self.flat(n) for n in self.cache}
        q, tab = m.layers, m.np_tables
        v = gate(q["v0"](gather(c["e"], rows, self.off["v0"])), tab)
        c["v0"][rows] = v
        h = gate(q["h0"](np.concatenate([gather(c["e"], rows, self.off["h0"]), v], 1)), tab)
        c["h0"][rows] = h
        for i in range(1, m.cfg.layers):
            v = gate(q[f"v{i}"](gather(c[f"v{i - 1}"], rows, self.off["v"])), tab)
            c[f"v{i}"][rows] = v
            feats = np.concatenate([gather(c[f"h{i - 1}"], rows, self.off["h"]), v], 1)
            g_out = gate(q[f"h{i}"](feats), tab)
            h = clamp(h + q[f"r{i}"](g_out.astype(np.float64)), -RESIDUAL_CLAMP, RESIDUAL_CLAMP)
            c[f"h{i}"][rows] = h
        return h

    def _head(self, trunk: np.ndarray, s: int, pos: np.ndarray) -> np.ndarray:
        """Stage s's logits from the trunk and the codes of stages < s at the same positions."""
        q = self.model.layers
        z = trunk
        if s:
            z = trunk.astype(np.float64)
            sym = self.sym[self.rows(pos)]
            for j in range(s):
                z = z + self.model.np_cur[j][sym[:, j]]
        sfx = f"_{s}" if s else ""
        o = clamp(q["o1" + sfx](z.astype(np.float64)), 0, RESIDUAL_CLAMP)
        return q["o2" + sfx](o.astype(np.float64))

    def batch_of(self, ids) -> "torch.Tensor":
        import torch

        return torch.as_tensor(self.batch_of_np(np.asarray(ids)))

    def batch_of_np(self, ids: np.ndarray) -> np.ndarray:
        _, h, w = self.shape
        return ids // (h * w * self.stages)
