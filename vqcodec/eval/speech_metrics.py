"""Speech quality metrics for evaluation: fixed-delay estimation that works for vocoders
(log-spectrogram cross-correlation), alignment, PESQ and STOI."""

from __future__ import annotations

import warnings

import numpy as np

MAX_DELAY_MS = 50
WAVEFORM_MATCH = 0.5  # normalised correlation above which the waveform refines the delay
STOI_FAILED = 1e-5  # what pystoi returns, exactly, when a clip has too few speech frames


def _log_spec(x: np.ndarray, rate: int, hop: int) -> np.ndarray:
    """(bins, frames) log power, 20 ms windows, each band's mean removed; floor at -50 dB."""
    import torch

    n_fft = rate // 50
    s = torch.stft(torch.from_numpy(np.ascontiguousarray(x, np.float32)), n_fft, hop,
                   window=torch.hann_window(n_fft), center=True, return_complex=True)
    p = (s.abs() ** 2).double().numpy()
    p = np.log(p + max(p.max(), 1e-20) * 1e-5)
    return p - p.mean(axis=1, keepdims=True)


def estimate_delay(ref: np.ndarray, deg: np.ndarray, rate: int,
                   max_ms: float = MAX_DELAY_MS) -> int:
    """Samples by which `deg` lags `ref` (negative: leads), within +-max_ms.

    Cross-correlates log spectrograms at a 1 ms hop, summed over bands, with a parabolic
    refinement of the peak: insensitive to phase, so it works for vocoders too.
    """
    hop = max(1, rate // 1000)
    a, b = _log_spec(ref, rate, hop), _log_spec(deg, rate, hop)
    n = a.shape[1] + b.shape[1]
    corr = np.fft.irfft((np.fft.rfft(b, n, axis=1) * np.conj(np.fft.rfft(a, n, axis=1))).sum(0), n)
    reach = max(1, int(max_ms * rate / 1000) // hop)
    lags = np.arange(-reach, reach + 1)
    vals = corr[lags % n]
    i = int(np.argmax(vals))
    offset = 0.0
    if 0 < i < len(vals) - 1:
        den = vals[i - 1] - 2 * vals[i] + vals[i + 1]
        offset = 0.5 * (vals[i - 1] - vals[i + 1]) / den if den else 0.0
    return _refine(ref, deg, int(round((lags[i] + offset) * hop)), hop)


def _refine(ref: np.ndarray, deg: np.ndarray, delay: int, radius: int) -> int:
    """To the sample, by waveform correlation near `delay`, where the codec keeps the waveform
    (normalised correlation above WAVEFORM_MATCH); vocoders keep the spectral estimate."""
    best, best_c = delay, WAVEFORM_MATCH
    for d in range(delay - radius, delay + radius + 1):
        r, g = align(ref, deg, d)
        c = float(np.dot(r, g)) / (float(np.linalg.norm(r) * np.linalg.norm(g)) or 1.0)
        if c > best_c:
            best, best_c = d, c
    return best


def align(ref: np.ndarray, deg: np.ndarray, delay: int) -> tuple[np.ndarray, np.ndarray]:
    """Remove `delay` samples of lag from `deg`, then cut both to their common length."""
    if delay >= 0:
        deg = deg[delay:]
    else:
        ref = ref[-delay:]
    n = min(len(ref), len(deg))
    return ref[:n], deg[:n]


def pesq_score(rate: int, ref: np.ndarray, deg: np.ndarray) -> float | None:
    """PESQ ('nb' at 8 kHz, 'wb' at 16 kHz); None where PESQ refuses (silent or too short)."""
    from pesq import PesqError, pesq

    try:
        return float(pesq(rate, ref.astype(np.float64), deg.astype(np.float64),
                          "nb" if rate == 8000 else "wb"))
    except (PesqError, ValueError):
        return None


def stoi_score(ref: np.ndarray, deg: np.ndarray, rate: int) -> float | None:
    """STOI of `deg` against `ref`; None where pystoi cannot score the clip (it then returns
    exactly STOI_FAILED). A real score can be zero or negative and is kept."""
    from pystoi import stoi

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        score = float(stoi(ref.astype(np.float64), deg.astype(np.float64), rate))
    return None if score == STOI_FAILED else score


def clip_means(rows: list[tuple]) -> tuple[float, float, float]:
    """(PESQ, STOI, kbit/s) over clips scored as (pesq, stoi, bits, seconds): each metric's
    mean over the clips it scores (None: undefined there), the rate pooled over all of them."""
    pesq = float(np.mean([r[0] for r in rows if r[0] is not None]))
    stoi = float(np.mean([r[1] for r in rows if r[1] is not None]))
    return pesq, stoi, sum(r[2] for r in rows) / sum(r[3] for r in rows) / 1000
