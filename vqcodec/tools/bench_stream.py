"""Streaming latency through real processes: audio fed at real-time pace into
`vqcodec compress --stream - | vqcodec decompress --raw -`, timed from input to output.

Per chunk of input, latency is the time from writing its last sample into the encoder to
reading that sample back from the decoder. The encoder holds a chunk until ENC_RIGHT frames of
look-ahead arrive (40 ms). With the low-latency schedule (the `--stream` default) the decoder
emits the chunk at once: 40 ms plus the work. With `--full-context` it keeps the chunk's last
SYN_RIGHT frames until the next chunk arrives, so with 200 ms chunks that is 240 ms plus the
work. The first sample of each decoded block waits longest (a whole chunk more); that figure
is reported too.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time

import numpy as np

from .bench_cli import SAMPLES, VQCODEC

BLOCK_MS = 20  # what arecord/sox hand over at a time


def _speech(seconds: float, rate: int) -> np.ndarray:
    import soundfile as sf

    wave, r = sf.read(str(SAMPLES / "speech.wav"), dtype="float32")
    if r != rate:
        from vqcodec.runtime.resample import resample

        wave = resample(wave, r, rate)
    n = int(seconds * rate)
    return (np.tile(wave, n // len(wave) + 1)[:n] * 32767).astype("<i2")


def run(seconds: float = 10.0, rate: int = 8000, chunk_ms: int = 200, busy: bool = True,
        model: str | None = None, low_latency: bool = True) -> dict:
    """Feed `seconds` of speech in BLOCK_MS blocks at real-time pace; per-block latencies.
    `low_latency` False streams with the full-context schedule (as before version 3)."""
    pcm = _speech(seconds, rate)
    hog = None
    if busy:  # one core busy elsewhere, as the target asks
        hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    extra = ["--model", model] if model else []
    enc = subprocess.Popen(VQCODEC + ["compress", "-q", "--stream", "--chunk-ms", str(chunk_ms),
                                      "--raw", "--rate", str(rate), "-", "-c",
                                      "--low-latency" if low_latency else "--full-context"] + extra,
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    dec = subprocess.Popen(VQCODEC + ["decompress", "-q", "--raw", "-"] + extra,
                           stdin=enc.stdout, stdout=subprocess.PIPE)
    enc.stdout.close()
    arrivals: list[tuple[float, int]] = []  # (time, samples out so far)

    def reader() -> None:
        total = 0
        while True:
            data = os.read(dec.stdout.fileno(), 1 << 16)
            if not data:
                return
            total += len(data) // 2
            arrivals.append((time.perf_counter(), total))

    th = threading.Thread(target=reader, daemon=True)
    th.start()
    try:
        time.sleep(5.0)  # both processes started and loaded before the clock starts
        step = rate * BLOCK_MS // 1000
        fed = np.zeros(-(-len(pcm) // step))
        t0 = time.perf_counter()
        for i in range(0, len(pcm), step):
            k = i // step
            delay = t0 + k * BLOCK_MS / 1000 - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            enc.stdin.write(pcm[i: i + step].tobytes())
            enc.stdin.flush()
            fed[k] = time.perf_counter()
        enc.stdin.close()
        th.join(60)
        enc.wait(60)
        dec.wait(60)
    finally:
        for p in (enc, dec, hog):
            if p is not None and p.poll() is None:
                p.kill()
    written_at = lambda s: fed[min(s // step, len(fed) - 1)]  # noqa: E731
    out_at = lambda s: next((t for t, total in arrivals if total > s), None)  # noqa: E731
    chunk = rate * chunk_ms // 1000
    per_chunk = []  # last sample of each input chunk: written -> decoded
    for end in range(chunk - 1, len(pcm) - chunk, chunk):  # the final chunk waits for end of input
        t = out_at(end)
        if t is not None:
            per_chunk.append(t - written_at(end))
    oldest, prev = [], 0
    for t, total in arrivals:
        if total > prev:
            oldest.append(t - written_at(prev))
        prev = total
    ms = lambda x: round(1000 * float(x), 1)  # noqa: E731
    tail_end = arrivals[-1][0] - fed[-1] if arrivals else None
    return {"seconds": seconds, "rate": rate, "chunk_ms": chunk_ms, "busy_core": busy,
            "schedule": "low-latency" if low_latency else "full-context",
            "load_average": round(os.getloadavg()[0], 2),
            "chunks": len(per_chunk), "samples_in": len(pcm), "samples_out": prev,
            "chunk_median_ms": ms(statistics.median(per_chunk)) if per_chunk else None,
            "chunk_worst_ms": ms(max(per_chunk)) if per_chunk else None,
            "first_sample_of_block_median_ms": ms(statistics.median(oldest[:-1])) if len(oldest) > 1 else None,
            "first_sample_of_block_worst_ms": ms(max(oldest[:-1])) if len(oldest) > 1 else None,
            "end_of_input_to_last_output_ms": ms(tail_end) if tail_end is not None else None,
            "exit_codes": [enc.returncode, dec.returncode]}
