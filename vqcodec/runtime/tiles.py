"""Running a convolutional network over a large map tile by tile, without seams.

A tile's outputs equal the whole map's when its input window reaches past the tile by the
network's reach (its receptive field's half-width) wherever the map continues: the window's
own zero padding then only touches outputs that are thrown away, and at the map's edges the
window's padding is the map's. Windows start on the coarsest grid, so every strided layer
samples the same phases as on the whole map.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Callable

from .. import threads
from ..networks.arch import Act, Conv, Layer, Res

def reach(layers: list[Layer]) -> int:
    """How far (in input units, either side) an output of `layers` looks into its input."""
    m = 0  # in the units of the current layer's output, walking back from the last layer
    for spec in reversed(layers):
        if isinstance(spec, Conv) and spec.transpose:
            # output o = i*s - p + j, j < k: inputs floor((o + p - k + 1) / s) .. floor((o + p) / s)
            k, s, p = spec.kernel, spec.stride, spec.padding
            m = max((m + k - 1 - p) // s, (m + p - 1) // s + 1)
        elif isinstance(spec, Conv):
            k, s, p, d = spec.kernel, spec.stride, spec.padding, spec.dilation
            m = m * s + max(p, d * (k - 1) - p - s + 1)
        elif isinstance(spec, Res):
            m += spec.dilation  # a 3-wide (dilated) conv, then a 1-wide one
        elif not isinstance(spec, Act):
            raise NotImplementedError(f"reach of {spec!r}")
    return m


@dataclass(frozen=True)
class Tile:
    """A tile [y0, y1) x [x0, x1) of a map and the window [wy0, wy1) x [wx0, wx1) it needs."""

    y0: int
    y1: int
    x0: int
    x1: int
    wy0: int
    wy1: int
    wx0: int
    wx1: int

    @property
    def core(self) -> tuple[slice, slice]:
        """Where the tile sits inside its window."""
        return (slice(self.y0 - self.wy0, self.y1 - self.wy0),
                slice(self.x0 - self.wx0, self.x1 - self.wx0))


def tiles(h: int, w: int, size: int, halo: int, parts: int = 1) -> list[Tile]:
    """Row-major tiles of at most size x size covering an (h, w) map, windows `halo` wider,
    as even as the map allows; a map of fewer than `parts` tiles has its rows split into
    more, as long as each band stays at least 4 halos high (the windows' overlap is then at
    most half the work): a map smaller than one tile can still keep `parts` threads busy."""
    rows = -(-h // size)
    cols = -(-w // size)
    while rows * cols < parts and h // (rows + 1) >= 4 * max(1, halo):
        rows += 1
    th, tw = -(-h // rows), -(-w // cols)
    return [Tile(y, min(h, y + th), x, min(w, x + tw), max(0, y - halo),
                 min(h, y + th + halo), max(0, x - halo), min(w, x + tw + halo))
            for y in range(0, h, th) for x in range(0, w, tw)]


def run(fn: Callable[[Tile], None], parts: list[Tile],
        progress: Callable[[int, int], None] | None = None, workers: int | None = None) -> None:
    """fn(tile) for every tile (fn stores its result); on `workers` threads (default: the
    thread count), one BLAS thread each. `progress(done, total)` is called from this thread."""
    workers = min(workers or threads.count(), len(parts))
    if workers <= 1:
        for i, part in enumerate(parts):
            fn(part)
            if progress:
                progress(i + 1, len(parts))
        return
    with threads.single(), ThreadPoolExecutor(workers) as pool:
        futures = [pool.submit(fn, part) for part in parts]
        try:
            for i, fut in enumerate(as_completed(futures)):
                fut.result()
                if progress:
                    progress(i + 1, len(parts))
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise
