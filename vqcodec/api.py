"""The library's entry points: compress and decompress images and audio on paths, bytes, arrays
and file objects (`compress`, `decompress`), and whole files as the CLI does (`compress_file`,
`decompress_file`, from vqcodec.files). The CLI is a thin layer over these.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

import numpy as np

from . import kinds, threads
from .arrays import image_png, waveform
from .codec import container
from .codec.params import DEFAULT_MAX_PIXELS, DEFAULT_MAX_SECONDS, joined_stages
from .errors import BadInputError, ModelError, TruncatedStreamError, UsageError
from . import files
from .files import Options, atomic_output, compress_file, decompress_file, sniff
from .media import AudioInfo, check_audio_params, read_image, write_audio, write_image
from .models.modelfile import BUNDLED, CodecModel, find_by_fingerprint, load_model

__all__ = ["compress", "decompress", "compress_file", "decompress_file", "Options", "Report",
           "atomic_output", "get_model", "write_image", "write_audio"]


@dataclass
class Report:
    """What a call did: sizes, rates and, for compression, the ideal code length."""

    kind: str
    output_bytes: int = 0
    ideal_bits: float = 0.0
    payload_bytes: int = 0
    extra: dict = field(default_factory=dict)


_cache: dict[str, CodecModel] = {}


def get_model(name: str | Path | None, kind: str) -> CodecModel:
    """Load (once per process) a model by path or bundled name; the bundled default if None."""
    model = load_any_model(name or BUNDLED[kind])
    if model.kind != kind:
        raise ModelError(f"model {model.name} is {kinds.get(model.kind).article} {model.kind} "
                         f"model, but the input is {kind}")
    return model


def load_any_model(name: str | Path) -> CodecModel:
    """Load (once per process) a model of either kind; settles the thread pools on first use."""
    key = str(name)
    if key not in _cache:
        threads.count()
        _cache[key] = load_model(key)
    return _cache[key]


# -- compression ----------------------------------------------------------------------------
def compress_image_to(data: bytes | str | Path, out: BinaryIO, model: str | Path | None = None,
                      max_pixels: int = DEFAULT_MAX_PIXELS,
                      progress: Callable[[int, int], None] | None = None,
                      quality: int | None = None, bpp: float | None = None,
                      colour: bool = True) -> Report:
    """Code at level `quality` (default: the model's middle level) or the highest level that
    fits `bpp`, with the colour correction map (and the flat block map, where it pays) unless
    `colour` is False (then a level within the model's VQ stages is format version 1 or 2, as
    older vqcodec wrote and reads, and a detail level version 8 with no colour map);
    `progress(done, total)`, if given, hears how far the coding got."""
    from .codec.image import check_quality, compress_image

    m = get_model(model, "image")
    check_quality(m, quality, bpp)
    rgb, channels = read_image(data if isinstance(data, bytes) else str(data), max_pixels)
    blob, stats = compress_image(m, rgb, channels, progress, quality, bpp, colour)
    out.write(blob)
    return Report("image", output_bytes=len(blob), ideal_bits=stats.ideal_bits,
                  payload_bytes=stats.payload_bytes,
                  extra={"width": rgb.shape[1], "height": rgb.shape[0], "model": m.name,
                         "level": stats.level, "colour_bytes": stats.colour_bytes,
                         "flat_blocks": stats.flat_blocks, "detail_bytes": stats.detail_bytes})


def compress_audio_to(blocks: Iterator[np.ndarray], info: AudioInfo, out: BinaryIO,
                      model: str | Path | None = None, stages: float | None = None,
                      chunk_frames: int = 50, flush: bool = False,
                      low_latency: bool = False, level_control: bool = True,
                      kbps: float | None = None, codes: str | None = "auto") -> Report:
    """Code audio blocks as they come; with `flush`, each chunk is flushed as soon as written;
    `low_latency` marks the stream for the decoder's low-latency schedule (codec/speech.py);
    `level_control=False` writes no gains (format version 1, 3 or 6, as older vqcodec wrote
    and reads). `kbps`, instead of `stages`: the most stages whose stream fits that many
    kbit/s (codec/speech.py: fit_rate), the whole input read first. `codes`: the model's
    code set (models/codesets.py: "auto", "wideband" or "telephone"); auto lets the first
    records choose."""
    from .codec.params import FULL_CONTEXT, LOW_LATENCY
    from .codec.speech import SpeechEncoderStream, fit_rate

    m = get_model(model, "speech")
    schedule = LOW_LATENCY if low_latency else FULL_CONTEXT

    def encoder(s: float | None, latents: dict | None = None) -> SpeechEncoderStream:
        return SpeechEncoderStream(m, info.rate, info.channels, s, chunk_frames,
                                   batch_chunks=1 if flush else 16, schedule=schedule, live=flush,
                                   level_control=level_control, latents=latents,
                                   codes=codes)

    if kbps is not None:
        audio = [b for b in blocks if len(b)]
        if not audio:
            raise BadInputError("empty input: no audio samples to compress")
        whole = np.concatenate(audio)
        latents: dict = {}  # the encoder network's output, the same for every stage count
        made: dict[float, SpeechEncoderStream] = {}

        def code(s: float) -> bytes:
            made[s] = encoder(s, latents)
            return made[s].push(whole) + made[s].finish()

        data, chosen = fit_rate(code, len(whole) / info.rate, kbps, m.config.stages)
        out.write(data)
        return _audio_report(made[chosen], len(data), m)
    enc = encoder(stages)
    written = 0

    def put(b: bytes) -> None:
        nonlocal written
        if b:
            out.write(b)
            written += len(b)
            if flush:
                out.flush()

    if flush:  # a live stream: the reader can load its model while the first chunk fills
        put(enc.start())
    for block in blocks:
        put(enc.push(block))
    if enc.total_in == 0:
        raise BadInputError("empty input: no audio samples to compress")
    put(enc.finish())
    return _audio_report(enc, written, m)


def _audio_report(enc, written: int, m: CodecModel) -> Report:
    return Report("speech", output_bytes=written, ideal_bits=enc.ideal_bits,
                  payload_bytes=enc.payload_bytes,
                  extra={"samples": enc.total_in, "rate": enc.rate, "channels": enc.channels,
                         "stages": joined_stages(enc.stages, enc.share), "model": m.name,
                         "codes": enc.model.set_name})


# -- decompression --------------------------------------------------------------------------
def model_for_stream(header: container.Header, model: str | Path | None) -> CodecModel:
    """The model a stream names (bundled), or `model` after checking it made the stream."""
    kind = header.kind
    if model is None:
        path = find_by_fingerprint(header.fingerprint)
        if path is None:
            raise ModelError(f"stream was made by model {header.fingerprint.hex()}, which is not "
                             "bundled; name it with --model")
        model = path
    m = load_any_model(model)
    coded = m.code_set(header.fingerprint)  # the model, or the code set the stream names
    if coded is None:
        ids = " or ".join(dict.fromkeys([s.short_id for s in m.code_sets] + [m.short_id]))
        raise ModelError(f"stream was made by model {header.fingerprint.hex()}, but model "
                         f"{m.name} is {ids}")
    get_model(model, kind)  # of the stream's kind
    return coded


def decompress_image_from(stream: BinaryIO, header: container.Header, model: str | Path | None,
                          max_pixels: int = DEFAULT_MAX_PIXELS,
                          progress: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, int]:
    """`progress(done, total)`, if given, hears how far the decoding got."""
    from .codec.image import decompress_payload, read_image_stream

    payload = read_image_stream(stream, header, max_pixels)
    m = model_for_stream(header, model)
    return decompress_payload(m, header, payload, progress), header.params.channels


def decode_audio_blocks(stream: BinaryIO, header: container.Header, model: str | Path | None,
                        rate: int | None = None, channels: int | None = None,
                        batch_records: int = 16,
                        on_damage: Callable[[int], None] | None = None,
                        max_seconds: float = DEFAULT_MAX_SECONDS,
                        conceal: bool = False,
                        postfilter: bool = True,
                        on_truncated: Callable[[float], None] | None = None,
                        ) -> tuple[int, int, Iterator[np.ndarray]]:
    """Returns (output rate, channels, iterator of (n, ch) float32 blocks). Strict unless
    `conceal`: then damaged chunks become silence and `on_damage(count)` hears of them, and a
    stream that breaks off ends where it breaks (the audio of every whole record received) and
    `on_truncated(seconds decoded)` hears of it. `postfilter=False` leaves out the pitch
    postfilter (vqcodec.codec.postfilter)."""
    from .codec.speech import SpeechDecoderStream
    from .media import check_raw_params

    m = model_for_stream(header, model)
    if rate is not None or channels is not None:
        check_raw_params(header.params.rate if rate is None else rate, 1 if channels is None else channels)
    dec = SpeechDecoderStream(m, header, rate, channels, max_seconds, conceal,
                              postfilter=postfilter)
    records = container.audio_records(stream, header.params, dec.max_records)

    def blocks() -> Iterator[np.ndarray]:
        pending: list[container.Record] = []
        try:
            for rec in records:
                pending.append(rec)
                if rec.last or len(pending) >= batch_records:
                    before = dec.damaged
                    batch, pending = pending, []  # pushed once: a failure is not retried below
                    block = dec.push(batch)
                    if on_damage and dec.damaged > before:
                        on_damage(dec.damaged - before)
                    yield block
            if not dec.finished:
                raise TruncatedStreamError("truncated stream: no final chunk")
        except TruncatedStreamError:
            if not conceal or not dec.received + sum(rec.intact for rec in pending):
                raise
            if pending:
                yield dec.push(pending)
            yield dec.end_early()
            if on_truncated:
                on_truncated(dec.produced / dec.out_rate)
        except Exception:
            if pending and conceal:  # give out what arrived intact before reporting the damage
                yield dec.push(pending)
            raise

    return dec.out_rate, dec.out_channels, blocks()


def decode_stream_indices(stream: BinaryIO, header: container.Header, model: str | Path | None,
                          conceal: bool = False, max_pixels: int = DEFAULT_MAX_PIXELS,
                          max_seconds: float = DEFAULT_MAX_SECONDS) -> np.ndarray:
    """Entropy-decode a stream to its codebook indices only: (h, w) for images, (frames,
    stages) for audio (damaged chunks as -1 with `conceal`). Validated as decoding is."""
    m = model_for_stream(header, model)
    limits = Options(conceal=conceal, max_pixels=max_pixels, max_seconds=max_seconds)
    return kinds.get(header.kind).stream_indices(stream, header, m, limits)


# -- convenience API for programs ---------------------------------------------------------
def compress(data, model: str | Path | None = None, *, rate: int | None = None,
             stages: float | None = None, quality: int | None = None,
             bpp: float | None = None, colour: bool | None = None,
             level_control: bool | None = None, kbps: float | None = None,
             codes: str | None = None) -> bytes:
    """Compress an image or a sound to bytes.

    Images: `quality` is the level, 1 to the model's levels (higher is better; default the
    middle one), or `bpp` picks the highest level whose stream fits that many bits per pixel;
    `colour=False` leaves out the colour correction map and the flat block map
    (vqcodec.codec.colour, vqcodec.codec.flat).
    Speech: `stages` sets the rate, or `kbps` picks the most stages whose stream fits that
    many kbit/s; `level_control=False` writes no gains (the stream older
    vqcodec reads; vqcodec.codec.speech); `codes` names the model's code set ("wideband",
    "telephone"; default: the one that fits, vqcodec.models.codesets).

    `data` may be a path, the bytes of an image or audio file (told apart by content), a PIL
    image, or a numpy array / torch tensor. Arrays follow one rule (vqcodec.arrays): with
    `rate=` a waveform, (n,) or (n, channels), integer PCM scaled by its dtype or float in
    [-1, 1]; without it an image, (H, W[, 1|2|3|4]) uint8 or float in [0, 1], alpha
    composited onto white.
    """
    out = io.BytesIO()
    if hasattr(data, "detach"):
        data = data.detach().cpu().numpy()
    if hasattr(data, "convert") and hasattr(data, "save"):  # PIL image
        buf = io.BytesIO()
        data.save(buf, format="PNG")
        data = buf.getvalue()
    if isinstance(data, np.ndarray):
        if rate is None:
            if level_control is not None or kbps is not None or codes is not None:
                flag = ("level_control=" if level_control is not None else
                        "kbps=" if kbps is not None else "codes=")
                raise UsageError(f"{flag} applies to speech; the input is an image")
            compress_image_to(image_png(data), out, model, quality=quality, bpp=bpp,
                              colour=colour is not False)
            return out.getvalue()
        if quality is not None or bpp is not None or colour is not None:
            raise UsageError("quality=, bpp= and colour= apply to images; speech sets its rate with stages=")
        wave = waveform(data)
        check_audio_params(rate, wave.shape[1])
        opts = Options(model=model, stages=stages, kbps=kbps, level_control=level_control,
                       codes=codes)
        kinds.get("speech").check_compress(opts)
        compress_audio_to(iter([wave]), AudioInfo(rate, wave.shape[1], len(wave)), out, model, stages,
                          level_control=level_control is not False, kbps=kbps, codes=codes)
        return out.getvalue()
    if rate is not None:
        raise UsageError("rate= describes an array; a file states its own rate")
    raw = Path(data).read_bytes() if isinstance(data, (str, Path)) else data
    kind = kinds.get(sniff(raw))
    opts = Options(model=model, stages=stages, quality=quality, bpp=bpp, colour=colour,
                   level_control=level_control, kbps=kbps, codes=codes)
    kind.check_compress(opts)
    kind.compress_to(raw, out, opts)
    return out.getvalue()


def decompress(data: bytes | str | Path, model: str | Path | None = None, *,
               postfilter: bool | None = None):
    """Decompress bytes (or a .vqc path): an (H, W, 3) / (H, W) uint8 array for images, or
    (waveform (n, channels) float32, sample rate) for audio. Speech: `postfilter=False`
    leaves out the decoder's pitch postfilter (vqcodec.codec.postfilter); an image stream
    refuses any `postfilter=` (UsageError)."""
    raw = Path(data).read_bytes() if isinstance(data, (str, Path)) else data
    stream = io.BytesIO(raw)
    header = container.read_header(stream)
    opts = Options(model=model, postfilter=postfilter)
    return kinds.get(header.kind).decompress_array(stream, header, opts)
