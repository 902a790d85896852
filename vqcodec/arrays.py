"""How `vqcodec.compress` reads arrays: one rule for images and waveforms.

With `rate=` an array is a waveform: (n,) or (n, channels). Integer PCM is scaled by its dtype
as soundfile does (int16 / 32768, int32 / 2**31, uint8 as (x - 128) / 128); float samples
must lie in [-1, 1].

Without `rate=` an array is an image: (H, W) or (H, W, 1) grey, (H, W, 3) RGB, (H, W, 2) grey
with alpha or (H, W, 4) RGBA; alpha is composited onto white, as the CLI does for files.
uint8 values are used as they are; float values must lie in [0, 1]. Anything else is refused.
"""

from __future__ import annotations

import io

import numpy as np

from .errors import BadInputError, UsageError

IMAGE_SHAPES = "(H, W), (H, W, 1), (H, W, 2), (H, W, 3) or (H, W, 4) uint8 or float in [0, 1]"
WAVE_SHAPES = "(n,) or (n, channels) float in [-1, 1] or int16/int32/uint8 PCM, with rate="
PCM_SCALE = {np.dtype(np.int16): (0.0, 32768.0), np.dtype(np.int32): (0.0, 2.0**31),
             np.dtype(np.uint8): (128.0, 128.0)}
MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}


def waveform(data: np.ndarray) -> np.ndarray:
    """An array given with rate= -> (n, channels) float32 in [-1, 1]."""
    if data.ndim not in (1, 2) or data.size == 0:
        raise UsageError(f"a waveform must be {WAVE_SHAPES}; got shape {data.shape}")
    wave = data.reshape(len(data), -1)
    if wave.dtype in PCM_SCALE:
        offset, scale = PCM_SCALE[wave.dtype]
        return ((wave.astype(np.float64) - offset) / scale).astype(np.float32)
    if not np.issubdtype(wave.dtype, np.floating):
        raise UsageError(f"a waveform must be {WAVE_SHAPES}; got dtype {wave.dtype}")
    peak = float(np.abs(wave).max())
    if not np.isfinite(peak) or peak > 1.0:
        raise BadInputError(f"float waveform has samples outside [-1, 1] (peak {peak:.3g}); "
                            "scale it, or pass integer PCM")
    return wave.astype(np.float32)


def image_png(data: np.ndarray) -> bytes:
    """An array given without rate= -> PNG bytes (so files and arrays share one reader)."""
    from PIL import Image

    arr = data[..., 0] if data.ndim == 3 and data.shape[2] == 1 else data
    channels = 1 if arr.ndim == 2 else (arr.shape[2] if arr.ndim == 3 else 0)
    if channels not in MODES or min(arr.shape[:2]) < 1:
        hint = " (a waveform? pass rate=)" if data.ndim == 1 or (data.ndim == 2 and data.shape[1] <= 8) else ""
        raise UsageError(f"an image must be {IMAGE_SHAPES}; got shape {data.shape}{hint}")
    if np.issubdtype(arr.dtype, np.floating):
        lo, hi = float(arr.min()), float(arr.max())
        if not (0.0 <= lo and hi <= 1.0):
            raise BadInputError(f"float image values must lie in [0, 1]; got [{lo:.3g}, {hi:.3g}]")
        arr = np.round(arr * 255).astype(np.uint8)
    elif arr.dtype != np.uint8:
        raise UsageError(f"an image must be {IMAGE_SHAPES}; got dtype {arr.dtype}")
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(arr), MODES[channels]).save(buf, format="PNG")
    return buf.getvalue()
