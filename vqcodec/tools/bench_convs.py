"""The image networks' convolutions, layer by layer, against a plain BLAS product of the same size.

`python -m vqcodec.tools.bench_convs [BAND_MB ...]` times every layer shape of the bundled
image model at 768x512 (best of `repeat`) and reports G multiply-adds per second beside what
`sgemm` reaches on one (M, K) @ (K, N) product with the layer's multiply-adds: how close the
runtime's convolutions come to the machine, and which band size (`ops.BAND_BYTES`) suits it.
"""

from __future__ import annotations

import sys
import time

import numpy as np

# (name, transposed, input (H, W, C_in), C_out, kernel, stride, padding): the 768x512 photo
LAYERS = [
    ("decoder in 3x3", False, (64, 96, 64), 128, 3, 1, 1),
    ("res 3x3 at 1/4", False, (128, 192, 128), 128, 3, 1, 1),
    ("up 1/8 -> 1/4", True, (64, 96, 128), 128, 4, 2, 1),
    ("up 1/4 -> 1/2", True, (128, 192, 128), 64, 4, 2, 1),
    ("up 1/2 -> 1", True, (256, 384, 64), 32, 4, 2, 1),
    ("decoder out 3x3", False, (512, 768, 32), 3, 3, 1, 1),
    ("encoder in 3x3", False, (512, 768, 3), 32, 3, 1, 1),
    ("down 1 -> 1/2", False, (512, 768, 32), 64, 4, 2, 1),
    ("down 1/2 -> 1/4", False, (256, 384, 64), 128, 4, 2, 1),
]


def _best(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def run(repeat: int = 3, band_bytes: int | None = None) -> list[dict]:
    """One row per layer: ms, G multiply-adds per second, and sgemm's rate for the same work."""
    from ..runtime import ops
    from ..threads import single

    saved = ops.BAND_BYTES
    ops.BAND_BYTES = band_bytes or saved
    rng = np.random.default_rng(0)
    rows = []
    try:
        with single():
            for name, transposed, (h, w, c_in), c_out, k, s, p in LAYERS:
                x = rng.standard_normal((h, w, c_in), dtype=np.float32)
                if transposed:
                    wt = rng.standard_normal((c_in, c_out, k, k), dtype=np.float32)
                    outputs, per_output = h * s * w * s, c_in * (k // s) ** 2
                    fn = lambda: ops.conv_transpose2d(x, wt, None, s, p)  # noqa: E731
                else:
                    wt = rng.standard_normal((c_out, c_in, k, k), dtype=np.float32)
                    outputs, per_output = ((h + 2 * p - k) // s + 1) * ((w + 2 * p - k) // s + 1), c_in * k * k
                    fn = lambda: ops.conv2d(x, wt, None, s, p)  # noqa: E731
                m = min(outputs, 16384)  # the product's rate, on a slice that fits in memory
                a = rng.standard_normal((m, per_output), dtype=np.float32)
                b = rng.standard_normal((per_output, c_out), dtype=np.float32)
                conv_s, gemm_s = _best(fn, repeat), _best(lambda: a @ b, repeat)
                rows.append({"layer": name, "ms": round(1e3 * conv_s, 1),
                             "gmac_per_s": round(outputs * per_output * c_out / conv_s / 1e9, 1),
                             "sgemm_gmac_per_s": round(m * per_output * c_out / gemm_s / 1e9, 1)})
    finally:
        ops.BAND_BYTES = saved
    return rows


if __name__ == "__main__":
    for mb in [float(a) for a in sys.argv[1:]] or [None]:
        rows = run(band_bytes=int(mb * (1 << 20)) if mb else None)
        print(f"band {mb or 'default'} MB: total {sum(r['ms'] for r in rows):.0f} ms")
        for r in rows:
            print(f"  {r['layer']:16s} {r['ms']:7.1f} ms {r['gmac_per_s']:5.1f} G/s (sgemm {r['sgemm_gmac_per_s']} G/s)")
