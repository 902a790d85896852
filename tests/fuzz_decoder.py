"""Mutation fuzzer for the container parser and the whole decompress path.

    python tests/fuzz_decoder.py --cases 20000 [--seed 0]      # a long run (docs/FUZZING.md)

Each case mutates a valid image or audio stream (truncation, bit flips, byte runs, length
fields set to zero or huge, wrong magic or version, cuts at every record boundary) and
decodes it in-process. A case passes when decoding either succeeds or raises one of vqcodec's
own errors within the time bound; anything else (another exception, a hang) is a failure.
"""

from __future__ import annotations

import argparse
import io
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

TIME_BOUND = 10.0  # seconds per case


def mutations(data: bytes, boundaries: list[int], rng: random.Random) -> bytes:
    kind = rng.randrange(8)
    b = bytearray(data)
    if kind == 0:  # truncate anywhere
        return bytes(b[: rng.randrange(len(b) + 1)])
    if kind == 1:  # flip a few bits
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
        return bytes(b)
    if kind == 2:  # overwrite a run of bytes
        i = rng.randrange(len(b))
        for j in range(i, min(len(b), i + rng.randint(1, 8))):
            b[j] = rng.randrange(256)
        return bytes(b)
    if kind == 3:  # a length field (record start) set to zero or huge
        i = rng.choice(boundaries)
        if i < len(b):
            b[i: i + 1] = rng.choice([b"\x00", b"\x01", b"\xff\xff\xff\xff\x7f", b"\x80" * 9 + b"\x01"])
        return bytes(b)
    if kind == 4:  # wrong magic or version
        i = rng.randrange(3)
        b[i] = rng.randrange(256)
        return bytes(b)
    if kind == 5:  # cut exactly at a record boundary (plus or minus one)
        return bytes(b[: max(0, rng.choice(boundaries) + rng.randint(-1, 1))])
    if kind == 6:  # duplicate or drop a record
        i, j = sorted(rng.sample(boundaries, 2)) if len(boundaries) > 1 else (0, len(b))
        return bytes(b[:j] + b[i:j] + b[j:]) if rng.random() < 0.5 else bytes(b[:i] + b[j:])
    return bytes(b) + bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))  # trailing junk


def record_boundaries(data: bytes) -> list[int]:
    from vqcodec.codec import container

    f = io.BytesIO(data)
    h = container.read_header(f)
    out = [h.size]
    while True:
        rec = container.read_record(f)
        out.append(out[-1] + rec.size)
        if rec.last:
            return out


def decode(data: bytes, model: str, path: str) -> None:
    """One of the three readers of a stream: media decoding, `--indices`, or `info`."""
    from vqcodec import api
    from vqcodec.codec import container
    from vqcodec.codec.describe import describe

    if path == "media":
        out = api.decompress(data, model=model)
        if isinstance(out, tuple):
            assert np.isfinite(out[0]).all()
    elif path == "indices":
        f = io.BytesIO(data)
        api.decode_stream_indices(f, container.read_header(f), model)
    else:
        info = describe(io.BytesIO(data))
        assert info["records"] >= 0


def run(cases: int, seed: int, seeds: dict[str, tuple[bytes, str]]) -> dict:
    from vqcodec.errors import VQCodecError

    rng = random.Random(seed)
    counts = {"cases": 0, "ok": 0, "clean_error": 0, "failures": [], "slowest_s": 0.0}
    items = list(seeds.values())
    bounds = {name: record_boundaries(d) for name, (d, _) in seeds.items()}
    names = list(seeds)
    for _ in range(cases):
        name = rng.choice(names)
        data, model = seeds[name]
        mutated = mutations(data, bounds[name], rng)
        path = rng.choice(("media", "media", "indices", "info"))
        t = time.perf_counter()
        try:
            decode(mutated, model, path)
            counts["ok"] += 1
        except VQCodecError:
            counts["clean_error"] += 1
        except Exception as exc:  # noqa: BLE001 - this is what the fuzzer looks for
            counts["failures"].append((name, path, mutated.hex()[:200], f"{type(exc).__name__}: {exc}"))
        dt = time.perf_counter() - t
        counts["slowest_s"] = max(counts["slowest_s"], dt)
        if dt > TIME_BOUND:
            counts["failures"].append((name, path, mutated.hex()[:200], f"took {dt:.1f} s"))
        counts["cases"] += 1
    del items
    return counts


def golden_seeds() -> dict[str, tuple[bytes, str]]:
    g = Path(__file__).parent / "golden"
    return {"image": ((g / "image.vqc").read_bytes(), str(g / "tiny-image.safetensors")),
            "image-flat": ((g / "image-flat.vqc").read_bytes(), str(g / "tiny-image.safetensors")),
            "speech": ((g / "speech.vqc").read_bytes(), str(g / "tiny-speech.safetensors")),
            "speech-partial": ((g / "speech-partial.vqc").read_bytes(),
                               str(g / "tiny-speech.safetensors")),
            "speech-compact": ((g / "speech-compact.vqc").read_bytes(),
                               str(g / "tiny-speech.safetensors"))}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    t0 = time.time()
    res = run(args.cases, args.seed, golden_seeds())
    print(f"{res['cases']} cases in {time.time() - t0:.0f} s: {res['ok']} decoded, "
          f"{res['clean_error']} clean errors, {len(res['failures'])} failures, "
          f"slowest {res['slowest_s']:.2f} s")
    for f in res["failures"][:20]:
        print(f)
    sys.exit(1 if res["failures"] else 0)
