"""Evaluation helpers: prior code lengths, codebook health, image and speech quality metrics."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def health_from_indices(idx: torch.Tensor, size: int) -> dict[str, float]:
    """Usage, perplexity and dead codes of one codebook from a tensor of its indices."""
    counts = torch.bincount(idx.flatten().cpu(), minlength=size).double()
    p = counts / counts.sum()
    nz = p[p > 0]
    return {"perplexity": round(math.exp(float(-(nz * nz.log()).sum())), 1),
            "used": int((counts > 0).sum()), "dead": int((counts == 0).sum()), "size": size}


def int_prior_bits(kind: str, int_prior, data: torch.Tensor) -> float:
    """Total -log2 p of `data` (-1: padding) under the integer prior, as the range coder would
    see it."""
    from .. import kinds
    from ..codec.entropy import plan_bits

    k = kinds.get(kind)
    return sum(plan_bits(k.plan(int_prior, tuple(x.shape)), x.flatten()) for x in k.unpadded(data))


@torch.no_grad()
def prior_bits(kind: str, float_prior, int_prior, data: torch.Tensor, codebook_size: int) -> dict:
    """Bits per index on held-out indices: float prior, integer prior, fixed-length coding."""
    from .. import kinds

    ce = kinds.get(kind).prior_loss(float_prior(data.clamp(min=0)), data, reduction="sum")
    n = int((data >= 0).sum())
    float_bits = float(ce) / math.log(2) / n
    int_bits = int_prior_bits(kind, int_prior, data) / n
    return {"prior_bits_per_index_float": round(float_bits, 4),
            "prior_bits_per_index_int": round(int_bits, 4),
            "fixed_bits_per_index": round(math.log2(codebook_size), 4),
            "int_overhead_percent": round(100 * (int_bits / float_bits - 1), 2)}


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * math.log10(255.0**2 / mse)


SSIM_WINDOW = 11  # the Gaussian window's side: MS-SSIM needs at least this many pixels a side


def ms_ssim(a: np.ndarray, b: np.ndarray) -> float | None:
    """MS-SSIM (Wang et al. 2003) on 8-bit RGB, averaged over channels; 5 scales when possible.
    None (missing) for an image under SSIM_WINDOW pixels on a side, where the window does not fit."""
    if min(a.shape[:2]) < SSIM_WINDOW:
        return None
    x = torch.from_numpy(np.array(a)).permute(2, 0, 1)[None].double()
    y = torch.from_numpy(np.array(b)).permute(2, 0, 1)[None].double()
    weights = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333]
    scales = max(1, min(5, int(math.log2(min(x.shape[-2:]) / 11)) + 1))
    weights = torch.tensor(weights[:scales])
    weights = weights / weights.sum()
    g = torch.exp(-((torch.arange(11) - 5.0) ** 2) / (2 * 1.5**2))
    g = (g / g.sum()).double()
    row, col = g.view(1, 1, 1, 11).expand(3, 1, 1, 11), g.view(1, 1, 11, 1).expand(3, 1, 11, 1)

    def blur(t):  # the 11x11 Gaussian window, applied separably
        return F.conv2d(F.conv2d(t, row, groups=3), col, groups=3)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    vals = []
    for i in range(scales):
        mu_x, mu_y = blur(x), blur(y)
        sxx = blur(x * x) - mu_x**2
        syy = blur(y * y) - mu_y**2
        sxy = blur(x * y) - mu_x * mu_y
        cs = (2 * sxy + c2) / (sxx + syy + c2)
        if i == scales - 1:
            ssim = ((2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)) * cs
            vals.append(ssim.mean().clamp(min=0))
        else:
            vals.append(cs.mean().clamp(min=0))
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
    return float(torch.prod(torch.stack(vals) ** weights))
