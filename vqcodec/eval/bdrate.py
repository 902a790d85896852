"""Bjontegaard delta rate: the average bitrate difference between two rate-distortion curves
at equal quality (G. Bjontegaard, VCEG-M33, 2001), with piecewise-cubic (PCHIP) interpolation
of log-rate against quality, as the common test conditions of JVET/AOM compute it now.
"""

from __future__ import annotations

import numpy as np


def bd_rate(anchor: list[tuple[float, float]], test: list[tuple[float, float]]) -> float | None:
    """Percent rate change of `test` against `anchor` at equal quality, over the quality range
    both curves cover; points are (rate, quality). Negative: `test` needs fewer bits. None when
    the curves share no quality range or either has fewer than two distinct points."""
    from scipy.interpolate import PchipInterpolator

    curves = [_monotone(points) for points in (anchor, test)]
    if any(len(q) < 2 for q, _ in curves):
        return None
    lo = max(q[0] for q, _ in curves)
    hi = min(q[-1] for q, _ in curves)
    if hi <= lo:
        return None
    areas = [PchipInterpolator(q, logr).integrate(lo, hi) for q, logr in curves]
    return float((np.exp((areas[1] - areas[0]) / (hi - lo)) - 1) * 100)


def _monotone(points: list[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    """(quality, log rate) sorted by quality, keeping a point only where quality rises (and
    is known: None is a missing measure)."""
    pts = sorted((q, r) for r, q in points if r > 0 and q is not None and np.isfinite(q))
    q_out, r_out = [], []
    for q, r in pts:
        if not q_out or q > q_out[-1]:
            q_out.append(q)
            r_out.append(np.log(r))
    return np.array(q_out), np.array(r_out)
