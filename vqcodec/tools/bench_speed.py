"""Speed benchmark: image and speech coding times, and the prior's decoding rate next to the
plain float path (a float PixelCNN re-run over the whole map at every wavefront, the way
autoregressive decoders are usually written), measured in one run.
"""

from __future__ import annotations

import io
import time

import numpy as np
import torch

from .. import api
from ..codec import container
from ..codec.image import decode_indices, decompress_indices, encode_indices
from ..prior import GatedPixelCNN


def _timed(fn, repeat: int = 3) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def _photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth synthetic test image (speed does not depend on content much)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    img = np.stack([np.sin(6 * x + rng.random()) * np.cos(4 * y), np.sin(3 * x * y + 1), x - y], -1)
    img += 0.05 * rng.standard_normal(img.shape)
    return ((img - img.min()) / np.ptp(img) * 255).astype(np.uint8)


def bench_images(model_name=None, sizes=((512, 768), (1024, 1024)), repeat: int = 3,
                 naive: bool = True) -> list[dict]:
    """The first size at every level of the model, the others at its default level."""
    m = api.get_model(model_name, "image")
    rows = []
    runs = [(size, q) for q in range(1, m.config.levels + 1) for size in sizes[:1]]
    runs += [(size, m.config.default_level) for size in sizes[1:]]
    for (h, w), level in runs:
        rgb = _photo(h, w)
        png = io.BytesIO()
        api.write_image(rgb, 3, png, "PNG")
        enc_s, blob = _timed(lambda: _compress(png.getvalue(), model_name, level), repeat)
        plain_s, _ = _timed(lambda: _compress(png.getvalue(), model_name, level, False), repeat)
        dec_s, _ = _timed(lambda: _decompress(blob, model_name), repeat)
        idx = encode_indices(m, rgb, level=min(level, m.config.stages))  # a detail level: all stages
        stream = io.BytesIO(blob)
        header = container.read_header(stream)
        payload = container.read_record(stream).payload
        prior_s, _ = _timed(lambda: decode_indices(m, header, payload), repeat)
        net_s, _ = _timed(lambda: decompress_indices(m, idx, w, h), repeat)
        float_s = _naive_float_decode_seconds(m.config.prior, idx.shape[:2]) if naive else None
        rows.append({"size": f"{w}x{h}", "level": level, "compress_s": round(enc_s, 3),
                     "compress_without_colour_map_s": round(plain_s, 3),
                     "decompress_s": round(dec_s, 3),
                     "prior_decode_s": round(prior_s, 3), "decoder_net_s": round(net_s, 3),
                     "prior_positions_per_s": round(idx.size / prior_s),
                     "naive_float_prior_decode_s": round(float_s, 3) if naive else None,
                     "bytes": len(blob), "bpp": round(len(blob) * 8 / (h * w), 4)})
    return rows


def _compress(data: bytes, model_name, level: int, colour: bool = True) -> bytes:
    out = io.BytesIO()
    api.compress_image_to(data, out, model_name, quality=level, colour=colour)
    return out.getvalue()


def _decompress(blob: bytes, model_name) -> np.ndarray:
    s = io.BytesIO(blob)
    return api.decompress_image_from(s, container.read_header(s), model_name)[0]


@torch.inference_mode()
def _naive_float_decode_seconds(cfg, shape: tuple[int, int], sample_steps: int = 8) -> float:
    """A float PixelCNN of the same size, run over the whole map once per wavefront: the time
    of `sample_steps` passes, scaled to the 2h + w - 1 wavefronts a decode needs."""
    h, w = shape
    net = GatedPixelCNN(cfg).eval()
    idx = torch.zeros(1, h, w, dtype=torch.long)
    net(idx)
    t = time.perf_counter()
    for _ in range(sample_steps):
        net(idx)
    return (time.perf_counter() - t) / sample_steps * (2 * (h - 1) + w)


def bench_speech(model_name=None, seconds: float = 10.0, stages: float | None = None,
                 recording: str | None = None) -> dict:
    """Real-time factors on `seconds` of a synthetic tone, or of `recording` (a sound file,
    mixed to mono and repeated or cut to that length, at its own rate)."""
    from ..codec.params import split_stages
    from ..eval.speech import load_mono
    from ..media import AudioInfo

    m = api.get_model(model_name, "speech")
    if recording is None:
        rate = 16000
        rng = np.random.default_rng(0)
        t = np.arange(int(seconds * rate)) / rate
        wave = (0.1 * np.sin(2 * np.pi * 150 * t) * (1 + np.sin(2 * np.pi * 3 * t))
                + 0.01 * rng.standard_normal(len(t))).astype(np.float32)[:, None]
    else:
        x, rate = load_mono(recording)
        n = int(seconds * rate)
        wave = np.tile(x, -(-n // len(x)))[:n, None]

    def enc():
        out = io.BytesIO()
        api.compress_audio_to(iter([wave]), AudioInfo(rate, 1, len(wave)), out, model_name, stages)
        return out.getvalue()

    enc_s, blob = _timed(enc, 2)
    dec_s, _ = _timed(lambda: api.decompress(blob, model_name), 2)
    coded, share = split_stages(stages or m.config.default_stages, m.config.stages)
    steps = round(seconds * 50) * (coded + (1 if share else 0))  # a flag is a step too
    return {"audio_seconds": seconds, "encode_rtf": round(seconds / enc_s, 1),
            "decode_rtf": round(seconds / dec_s, 1),
            "round_trip_rtf": round(seconds / (enc_s + dec_s), 1),
            "prior_symbols_per_s_in_decode": round(steps / dec_s),
            "bits_per_second": round(len(blob) * 8 / seconds, 1)}


def run(model_image=None, model_speech=None, quick: bool = False,
        recording: str | None = None) -> dict:
    """Everything, or with `quick` the 768x512 photo and speech only (no float baseline);
    speech on a synthetic tone or on `recording`."""
    from .. import threads

    threads.use_torch()
    sizes = ((512, 768),) if quick else ((512, 768), (1024, 1024))
    return {"threads": threads.count(), "torch_threads": torch.get_num_threads(),
            "images": bench_images(model_image, sizes, naive=not quick),
            "speech": bench_speech(model_speech, recording=recording)}
