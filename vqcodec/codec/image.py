"""Image compression: pixels -> VQ-VAE indices -> integer PixelCNN -> range coder -> container.

The networks run in numpy (`model.runtime`), tile by tile; no torch is imported. Memory does
not grow with the image beyond the pixels themselves (the encoder also holds its own decoding,
for the colour correction) and the index map (one int per 8 x 8).
"""

from __future__ import annotations

import io
import struct
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from . import colour, container, detail, entropy, flat
from ..errors import BadStreamError, UsageError
from ..models.modelfile import CodecModel
from ..networks.config import FACTOR
from ..threads import single
from .entropy import Progress
from .params import DEFAULT_MAX_PIXELS, DETAIL_UNIT, ImageParams, detail_step

# The shares of the time each stage takes, where a progress bar matters; they only map the
# stages onto one progress count. compress: the encoder, then the prior (the decoder, for the
# colour correction, runs beside it); decompress: the prior, then the decoder. Measured on the
# bundled model at 6 MP (the networks took 0.74 of compress and 0.69 of decompress).
SHARES = {"compress": (0.6,), "decompress": (0.35,)}
DETAIL_SHARE = 0.15  # of a detail level's count: the detail layer (codec/detail.py)
STEPS = 1000  # what `progress` counts to


@dataclass
class ImageStats:
    ideal_bits: float  # sum of -log2 p under the integer prior
    payload_bytes: int  # the index stream's
    level: int = 1  # quality level: residual stages coded, then the detail layer's rank
    colour_bytes: int = 0  # the colour correction's and the flat block map's, with their lengths
    flat_blocks: int = 0  # blocks painted flat (vqcodec.codec.flat)
    detail_bytes: int = 0  # the detail layer's (vqcodec.codec.detail)


def split_progress(progress: Progress | None, *shares: float) -> list[Progress | None]:
    """Callbacks for the consecutive stages of one job, each stage's (done, total) reported to
    `progress` as a rising (done, STEPS), stage i taking `shares[i]` of the count (the last
    stage the rest)."""
    if progress is None:
        return [None] * (len(shares) + 1)
    last = -1

    def part(lo: float, share: float) -> Progress:
        def report(done: int, total: int) -> None:
            nonlocal last
            now = round(STEPS * (lo + share * done / total))
            if now > last:
                last = now
                progress(now, STEPS)

        return report

    starts = [sum(shares[:i]) for i in range(len(shares) + 1)]
    return [part(a, b - a) for a, b in zip(starts, starts[1:] + [1.0])]


def encode_indices(model: CodecModel, rgb: np.ndarray, progress: Progress | None = None,
                   level: int | None = None) -> np.ndarray:
    """(H, W, 3) uint8 -> (h, w) codebook indices, or (h, w, level) of the first `level` stages."""
    return model.runtime.encode_image(rgb, progress=progress, level=level)


def check_quality(model: CodecModel, quality: int | None, bpp: float | None) -> None:
    """Refuse a --quality the model does not have, or a --bpp below zero, before any work."""
    n = model.config.levels
    if quality is not None and bpp is not None:
        raise UsageError("give --quality or --bpp, not both")
    if quality is not None and not 1 <= quality <= n:
        if n == 1:
            raise UsageError(f"--quality {quality} is out of range: this model ({model.name}) "
                             "has one level (1)")
        raise UsageError(f"--quality must be between 1 and {n} for model {model.name}")
    if bpp is not None and not bpp > 0:
        raise UsageError("--bpp must be a positive number")  # NaN too
    if bpp is not None and bpp == float("inf"):
        raise UsageError("--bpp must be finite (the highest level is --quality "
                         f"{model.config.levels})")


def compress_image(model: CodecModel, rgb: np.ndarray, channels: int,
                   progress: Progress | None = None, quality: int | None = None,
                   bpp: float | None = None, correct: bool = True,
                   flat_blocks: bool = True) -> tuple[bytes, ImageStats]:
    """Code an (H, W, 3) uint8 image at level `quality` (default: the model's middle level),
    or at the highest level whose stream fits `bpp` bits per pixel (UsageError when none
    does), with a colour correction map unless `correct` is False, and with a map of the flat
    blocks where it pays (`vqcodec.codec.colour`, `vqcodec.codec.flat`; `flat_blocks=False`
    never sends one: format version 4 as vqcodec wrote before version 5). Levels above the
    model's stages add a detail layer (`vqcodec.codec.detail`, version 8).
    `progress(done, STEPS)` hears how far it got."""
    check_quality(model, quality, bpp)
    stages = model.config.stages
    top = model.config.levels if bpp is not None else quality or model.config.default_level
    with_detail = top > stages
    if with_detail:
        main, detail_progress = split_progress(progress, 1 - DETAIL_SHARE)
    else:
        main, detail_progress = progress, None
    net_progress, prior_progress = split_progress(main, *SHARES["compress"])
    idx = encode_indices(model, rgb, net_progress, level=min(top, stages))  # every prefix
    height, width = rgb.shape[:2]
    flats = flat.find(rgb) if correct and flat_blocks else None
    detail_base: list[tuple[bytes, bytes | None, np.ndarray]] = []  # every detail level's

    cancel = threading.Event()

    def stop_if_cancelled(done: int, total: int) -> None:
        if cancel.is_set():
            raise InterruptedError("the range coder failed; the decoder stops")

    def correction(vq: int, step: int) -> tuple[bytes, bytes | None, np.ndarray | None]:
        """The maps, and for a detail level the decoder's picture with them (its base)."""
        # one thread: the range coder has the other
        decoded = decompress_indices(model, idx[..., :vq], width, height, stop_if_cancelled, 1)
        if not correct:
            return b"", None, decoded
        colour_map, flat_map = correction_maps(rgb, decoded, flats, idx)
        if not step:
            return colour_map, flat_map, None
        base = colour.apply(decoded, colour.decode(colour_map, colour.grid(height, width, colour.TILE)),
                            colour.TILE, out=decoded)
        return colour_map, flat_map, flat.paint(base, flats) if flat_map else base

    def code(level: int) -> tuple[bytes, ImageStats]:
        h, w = idx.shape[:2]
        vq, step = min(level, stages), detail_step(level, stages)
        plan = model.prior.plan((1, h, w, vq))
        with single(), ThreadPoolExecutor(1) as pool:  # the decoder beside the coder: 2 cores
            again = step and detail_base  # --bpp: the levels above the stages share one base
            corr = None if again or not (correct or step) else pool.submit(correction, vq, step)
            try:
                streams, ideal = entropy.encode(plan, idx[..., :vq].reshape(-1), 1, prior_progress)
            except BaseException:  # Ctrl-C, out of memory: the decoder stops after its tile
                cancel.set()
                raise
            maps = detail_base[0] if again else corr.result() if corr is not None else None
            if step and not again:
                detail_base.append(maps)
        payload, tile, block, layer = streams[0], 0, 0, b""
        if maps is not None:
            colour_map, flat_map, base = maps
            tile = colour.TILE if correct else 0
            block = flat.BLOCK if flat_map else 0
            if step:
                mine = base if bpp is None else base.copy()  # --bpp may code another level
                layer = detail.encode(rgb, mine, step / DETAIL_UNIT, channels, detail_progress)[0]
                payload = join_payload(streams[0], colour_map, flat_map, layer)
            elif correct:
                payload = join_payload(streams[0], colour_map, flat_map)
        params = ImageParams(width, height, channels, vq, tile, block, step)
        header = container.Header("image", model.codes[:4], params).to_bytes()
        stats = ImageStats(ideal, len(streams[0]), params.quality,
                           len(payload) - len(streams[0]) - len(layer),
                           flats.count if block else 0, len(layer))
        return header + container.record_bytes(payload, last=True), stats

    if bpp is None:
        return code(top)
    return _fit(code, top, bpp * height * width / 8, bpp)


class Payload(NamedTuple):
    indices: bytes  # the index stream
    colour: bytes | None  # the colour correction map (vqcodec.codec.colour), version 4, 5, 8
    flat: bytes | None  # the flat block map (vqcodec.codec.flat), version 5, 8
    detail: bytes | None = None  # the detail layer (vqcodec.codec.detail), version 8


def correction_maps(rgb: np.ndarray, decoded: np.ndarray, flats: flat.FlatMap | None,
                    idx: np.ndarray) -> tuple[bytes, bytes | None]:
    """The colour correction map for `decoded`, the network's decoding of `rgb`'s indices `idx`,
    and the flat block map where it pays: where painting the flat blocks `flats` lowers the
    squared error by more than flat.LAMBDA per bit it adds, or where flat blocks are most of
    the image and would come back more than flat.TOLERANCE off (flat.must_paint). Then the
    colour map is measured again, on the other pixels. Otherwise None: a version 4 stream."""
    plain_q = colour.measure(rgb, decoded, colour.TILE)
    plain = colour.encode(plain_q)
    if flats is None or not flats.count:
        return plain, None
    corrected = colour.apply(decoded, plain_q, colour.TILE)
    flat_map = flat.encode(flats, flat.same_as_left(idx))
    bits = 8 * (len(flat_map) + 4 + 1)  # the colour map's u32 length, the header's flat field
    must = flat.must_paint(corrected, flats)
    if not must and flat.painted_error(corrected, flats) <= flat.LAMBDA * bits:
        return plain, None  # painting with the plain colour map would not pay: no second look

    def paint(img: np.ndarray) -> np.ndarray:
        return flat.paint(img, flats)

    share = flat.painted_share(flats, *rgb.shape[:2], colour.TILE)
    q = colour.measure(rgb, decoded, colour.TILE, paint, share)
    colour_map = colour.encode(q)
    gain = (squared_error(rgb, corrected)
            - squared_error(rgb, paint(colour.apply(decoded, q, colour.TILE))))
    bits += 8 * (len(colour_map) - len(plain))
    return (colour_map, flat_map) if must or gain > flat.LAMBDA * bits else (plain, None)


def squared_error(x: np.ndarray, y: np.ndarray) -> int:
    """Sum of squared differences of two uint8 images, band by band (bounded temporaries)."""
    rows = max(1, (4 << 20) // (x.shape[1] * x.shape[2] * 4))
    total = 0
    for a in range(0, x.shape[0], rows):
        d = x[a: a + rows].astype(np.int32) - y[a: a + rows]
        total += int(np.einsum("ijk,ijk->", d, d, dtype=np.int64))
    return total


def join_payload(indices: bytes, correction: bytes, flats: bytes | None = None,
                 layer: bytes | None = None) -> bytes:
    """A version 4 payload: the index stream's length (u32le), the index stream, the colour
    correction; with `flats`, version 5: the same with the colour correction's length (u32le)
    before it and the flat block map after it; with `layer`, version 8: the index stream, the
    colour correction (empty without one) and the flat block map (empty without one), each
    after its length (u32le), then the detail layer."""
    head = struct.pack("<I", len(indices)) + indices
    if layer is not None:
        flats = flats or b""
        return (head + struct.pack("<I", len(correction)) + correction
                + struct.pack("<I", len(flats)) + flats + layer)
    if flats is None:
        return head + correction
    return head + struct.pack("<I", len(correction)) + correction + flats


def split_payload(header: container.Header, payload: bytes) -> Payload:
    """The parts of a stream's payload; BadStreamError when the lengths do not fit."""
    p = header.params
    if p.detail:
        indices, rest = _take(payload, "index stream")
        correction, rest = _take(rest, "colour correction")
        flats, layer = _take(rest, "flat block map")
        if bool(correction) != bool(p.colour) or bool(flats) != bool(p.flat):
            raise BadStreamError("malformed stream: the image payload's maps disagree with its header")
        return Payload(indices, correction or None, flats or None, layer)
    if not header.params.colour:
        return Payload(payload, None, None)
    indices, rest = _take(payload, "index stream")
    if not header.params.flat:
        return Payload(indices, rest, None)
    return Payload(indices, *_take(rest, "colour correction"))


def _take(data: bytes, what: str) -> tuple[bytes, bytes]:
    """A u32le-length-prefixed part of `data`, and what follows it."""
    n = struct.unpack_from("<I", data)[0] if len(data) >= 4 else len(data)
    if n > len(data) - 4:
        raise BadStreamError(f"malformed stream: image payload shorter than its {what}")
    return data[4: 4 + n], data[4 + n:]


def _fit(code, levels: int, budget: float, bpp: float) -> tuple[bytes, ImageStats]:
    """The highest level whose stream is at most `budget` bytes, by bisection over levels (a
    level adds a stage, so its stream is longer): about log2(levels) codings, each real."""
    best, lo, hi, smallest = None, 1, levels, None
    while lo <= hi:
        mid = (lo + hi) // 2
        data, stats = code(mid)
        if len(data) <= budget:
            best, lo = (data, stats), mid + 1
        else:
            hi = mid - 1
            smallest = len(data) if mid == 1 else smallest
    if best is None:
        pixels = budget * 8 / bpp
        raise UsageError(f"no level fits {bpp:g} bpp: the lowest, level 1, takes "
                         f"{smallest * 8 / pixels:.4f} bpp")
    return best


def read_image_stream(stream: io.BufferedIOBase, header: container.Header,
                      max_pixels: int = DEFAULT_MAX_PIXELS) -> bytes:
    """Validate an image header's parameters and return its (checksummed) payload."""
    header.params.validate(max_pixels)
    rec = container.read_record(stream)
    if not rec.intact:
        raise BadStreamError("corrupt stream: payload checksum mismatch")
    if not rec.last:
        raise BadStreamError("malformed stream: image payload is not a single record")
    if stream.read(1):
        raise BadStreamError("trailing data after the end of the image stream")
    return rec.payload


def decode_indices(model: CodecModel, header: container.Header, payload: bytes,
                   progress: Progress | None = None) -> np.ndarray:
    """The indices of a stream's payload: (h, w) at level 1, else (h, w, level)."""
    p = header.params.check_level(model.config.stages)
    h, w = -(-p.height // FACTOR), -(-p.width // FACTOR)
    stream = split_payload(header, payload).indices
    idx = entropy.decode(model.prior.plan((1, h, w, p.level)), [stream], h * w * p.level,
                         progress=progress)
    return idx.reshape(h, w) if p.level == 1 else idx.reshape(h, w, p.level)


def decompress_indices(model: CodecModel, idx: np.ndarray, width: int, height: int,
                       progress: Progress | None = None, workers: int | None = None) -> np.ndarray:
    """(h, w) or (h, w, level) indices -> (H, W, 3) uint8 image, on `workers` threads."""
    return model.runtime.decode_image(np.asarray(idx), height, width, progress=progress,
                                      workers=workers)


def decompress_payload(model: CodecModel, header: container.Header, payload: bytes,
                       progress: Progress | None = None) -> np.ndarray:
    """A stream's payload -> (H, W, 3) uint8 image; `progress(done, STEPS)` hears how far."""
    p = header.params
    detail_progress = None
    if p.detail:
        progress, detail_progress = split_progress(progress, 1 - DETAIL_SHARE)
    prior_progress, net_progress = split_progress(progress, *SHARES["decompress"])
    parts = split_payload(header, payload)
    q = flats = None  # the maps checked first: a damaged one fails before the long work
    if parts.colour is not None:
        q = colour.decode(parts.colour, colour.grid(p.height, p.width, p.colour))
    if parts.flat is not None:
        flat.check(parts.flat, np.prod(colour.grid(p.height, p.width, p.flat)))
    idx = decode_indices(model, header, payload, prior_progress)
    if parts.flat is not None:  # its contexts need the indices
        flats = flat.decode(parts.flat, flat.same_as_left(idx))
    rgb = decompress_indices(model, idx, p.width, p.height, net_progress)
    if q is not None:
        rgb = colour.apply(rgb, q, p.colour, out=rgb)
    if flats is not None:
        rgb = flat.paint(rgb, flats, p.flat)
    if parts.detail is not None:
        rgb = detail.decode(parts.detail, rgb, p.detail / DETAIL_UNIT, p.channels, detail_progress)
    return rgb
