"""The library's entry points: compress and decompress images and audio on paths, bytes, arrays
and file objects. The CLI is a thin layer over these.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

import numpy as np

from . import threads
from .codec import container
from .errors import BadInputError, ModelError, OutputError, UsageError
from .media import (DEFAULT_MAX_PIXELS, AudioInfo, check_raw_params, open_audio, raw_blocks,
                    read_image, to_pcm16, wav_stream, wav_stream_header, write_image)
from .models.modelfile import BUNDLED, CodecModel, find_by_fingerprint, load_model

DEFAULT_MAX_SECONDS = 24 * 3600.0
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".ppm", ".pgm"}
AUDIO_SUFFIXES = {".wav", ".flac", ".ogg"}


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
        raise ModelError(f"model {model.name} is a {model.kind} model, but the input is {kind}")
    return model


def load_any_model(name: str | Path) -> CodecModel:
    """Load (once per process) a model of either kind; settles the thread pools on first use."""
    key = str(name)
    if key not in _cache:
        threads.count()
        _cache[key] = load_model(key)
    return _cache[key]


def sniff_kind(head: bytes, name: str | None = None) -> str:
    """'image' or 'speech' from the first bytes (or the file name when the bytes don't tell)."""
    if head[:4] in (b"RIFF", b"fLaC", b"OggS", b"FORM"):
        return "speech"
    suffix = Path(name).suffix.lower() if name else ""
    if suffix in AUDIO_SUFFIXES:
        return "speech"
    return "image"


# -- atomic outputs -------------------------------------------------------------------------
@contextlib.contextmanager
def atomic_output(path: str | Path, force: bool = False) -> Iterator[BinaryIO]:
    """A temporary file beside `path`, renamed over it only if the block succeeds."""
    path = Path(path)
    if path.exists() and not force:
        raise OutputError(f"{path} already exists (use -f/--force to overwrite)")
    if path.is_dir():
        raise OutputError(f"{path} is a directory")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent or ".")
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would hide outputs from other users
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# -- compression ----------------------------------------------------------------------------
def compress_image_to(data: bytes | str | Path, out: BinaryIO, model: str | Path | None = None,
                      max_pixels: int = DEFAULT_MAX_PIXELS) -> Report:
    from .codec.image import compress_image

    m = get_model(model, "image")
    rgb, channels = read_image(data if isinstance(data, bytes) else str(data), max_pixels)
    blob, stats = compress_image(m, rgb, channels)
    out.write(blob)
    return Report("image", output_bytes=len(blob), ideal_bits=stats.ideal_bits,
                  payload_bytes=stats.payload_bytes,
                  extra={"width": rgb.shape[1], "height": rgb.shape[0], "model": m.name})


def compress_audio_to(blocks: Iterator[np.ndarray], info: AudioInfo, out: BinaryIO,
                      model: str | Path | None = None, stages: int | None = None,
                      chunk_frames: int = 50, flush: bool = False) -> Report:
    """Code audio blocks as they come; with `flush`, each chunk is flushed as soon as written."""
    from .codec.speech import SpeechEncoderStream

    m = get_model(model, "speech")
    enc = SpeechEncoderStream(m, info.rate, info.channels, stages, chunk_frames,
                              batch_chunks=1 if flush else 16)
    written = 0

    def put(b: bytes) -> None:
        nonlocal written
        if b:
            out.write(b)
            written += len(b)
            if flush:
                out.flush()

    first = True
    if flush:  # a live stream: the reader can load its model while the first chunk fills
        put(enc.header)
        first = False
    for block in blocks:
        if first:
            put(enc.header)
            first = False
        put(enc.push(block))
    if enc.total_in == 0:
        raise BadInputError("empty input: no audio samples to compress")
    put(enc.finish())
    return Report("speech", output_bytes=written, ideal_bits=enc.ideal_bits,
                  payload_bytes=enc.payload_bytes,
                  extra={"samples": enc.total_in, "rate": info.rate, "channels": info.channels,
                         "stages": enc.stages, "model": m.name})


def audio_source(src: str | Path | bytes | BinaryIO, raw: bool, rate: int | None, channels: int,
                 max_seconds: float = DEFAULT_MAX_SECONDS) -> tuple[AudioInfo, Iterator[np.ndarray]]:
    if raw:
        rate = check_raw_params(rate, channels)
        stream = io.BytesIO(src) if isinstance(src, bytes) else (
            open(src, "rb") if isinstance(src, (str, Path)) else src)
        return AudioInfo(rate, channels, None), raw_blocks(stream, channels)
    if not isinstance(src, (str, Path, bytes)):
        streamed = wav_stream(src)  # PCM WAV on a pipe streams; other formats are read whole
        if not isinstance(streamed, bytes):
            return streamed
        src = streamed + src.read()
    return open_audio(src if isinstance(src, bytes) else str(src), max_seconds)


# -- decompression --------------------------------------------------------------------------
def model_for_stream(header: container.Header, model: str | Path | None) -> CodecModel:
    kind = "image" if header.modality == container.IMAGE else "speech"
    if model is None:
        path = find_by_fingerprint(header.fingerprint)
        if path is None:
            raise ModelError(f"stream was made by model {header.fingerprint.hex()}, which is not "
                             "bundled; name it with --model")
        model = path
    m = load_any_model(model)
    if m.fingerprint[:4] != header.fingerprint:
        raise ModelError(f"stream was made by model {header.fingerprint.hex()}, but model "
                         f"{m.name} is {m.short_id}")
    return get_model(model, kind)


def decompress_image_from(stream: BinaryIO, header: container.Header, model: str | Path | None,
                          max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[np.ndarray, int]:
    from .codec.image import decode_indices, decompress_indices, read_image_stream

    payload = read_image_stream(stream, header, max_pixels)
    if stream.read(1):
        raise BadInputError("trailing data after the end of the image stream")
    m = model_for_stream(header, model)
    idx = decode_indices(m, header, payload)
    width, height, channels = header.params
    return decompress_indices(m, idx, width, height), channels


def decode_audio_blocks(stream: BinaryIO, header: container.Header, model: str | Path | None,
                        rate: int | None = None, channels: int | None = None,
                        batch_records: int = 16,
                        on_damage: Callable[[int], None] | None = None,
                        max_seconds: float = DEFAULT_MAX_SECONDS) -> tuple[int, int, Iterator[np.ndarray]]:
    """Returns (output rate, channels, iterator of (n, ch) float32 blocks)."""
    from .codec.speech import SpeechDecoderStream

    m = model_for_stream(header, model)
    if rate is not None and not 1000 <= rate <= 768000:
        raise UsageError(f"--rate {rate} is not a plausible sample rate")
    if channels is not None and not 1 <= channels <= 64:
        raise UsageError(f"--channels {channels} is out of range (1..64)")
    dec = SpeechDecoderStream(m, header, rate, channels, max_seconds)

    def blocks() -> Iterator[np.ndarray]:
        pending: list[container.Record] = []
        while not dec.finished:
            try:
                rec = container.read_record(stream)
            except Exception:
                if pending:  # give out what arrived intact before reporting the damage
                    yield dec.push(pending)
                raise
            pending.append(rec)
            if rec.last or len(pending) >= batch_records:
                before = dec.damaged
                yield dec.push(pending)
                if on_damage and dec.damaged > before:
                    on_damage(dec.damaged - before)
                pending = []
        if stream.read(1):
            raise BadInputError("trailing data after the end of the audio stream")

    return dec.out_rate, dec.out_channels, blocks()


def write_audio(blocks: Iterator[np.ndarray], rate: int, channels: int, out: BinaryIO,
                fmt: str, flush: bool = False) -> int:
    """Write blocks as 'raw' (s16le), 'wav-stream' (WAV for pipes), or a soundfile format."""
    n = 0
    if fmt in ("raw", "wav-stream"):
        if fmt == "wav-stream":
            out.write(wav_stream_header(rate, channels))
        for b in blocks:
            out.write(to_pcm16(b))
            n += len(b)
            if flush:
                out.flush()
        return n
    import soundfile as sf

    subtype = "PCM_16" if fmt in ("WAV", "FLAC") else None
    with sf.SoundFile(out, "w", rate, channels, subtype=subtype, format=fmt) as f:
        for b in blocks:
            f.write(b)
            n += len(b)
    return n


def decode_stream_indices(stream: BinaryIO, header: container.Header,
                          model: str | Path | None) -> np.ndarray:
    """Entropy-decode a stream to its codebook indices only: (h, w) for images, (frames,
    stages) for audio, damaged chunks as -1. For research and for cross-machine checks."""
    from .codec import entropy
    from .codec.image import decode_indices, read_image_stream
    from .codec.speech import frames_for

    m = model_for_stream(header, model)
    if header.modality == container.IMAGE:
        return decode_indices(m, header, read_image_stream(stream, header))
    rate, _, stages, chunk = header.params
    out = []
    while True:
        rec = container.read_record(stream)
        length = chunk
        if rec.last:
            total = frames_for(rec.extra, rate, m.config.sample_rate, m.config.frame)[1]
            length = total - sum(len(o) for o in out)
        if rec.intact:
            plan = m.prior.plan([length], stages)
            out.append(entropy.decode(plan, [rec.payload], length * stages).reshape(length, stages))
        else:
            out.append(np.full((length, stages), -1, dtype=np.int64))
        if rec.last:
            return np.concatenate(out)


# -- convenience API for programs ---------------------------------------------------------
def compress(data, model: str | Path | None = None, *, rate: int | None = None,
             stages: int | None = None) -> bytes:
    """Compress an image or a sound to bytes.

    `data` may be a path, the bytes of an image or audio file, an (H, W, 3) uint8 array or PIL
    image, or a float waveform array/tensor ((n,) or (n, channels)) together with `rate`.
    """
    out = io.BytesIO()
    if hasattr(data, "detach"):
        data = data.detach().cpu().numpy()
    if hasattr(data, "convert") and hasattr(data, "save"):  # PIL image
        buf = io.BytesIO()
        data.save(buf, format="PNG")
        data = buf.getvalue()
    if isinstance(data, np.ndarray):
        if data.dtype == np.uint8 and data.ndim == 3:
            buf = io.BytesIO()
            write_image(data, 3, buf, "PNG")
            compress_image_to(buf.getvalue(), out, model)
            return out.getvalue()
        if rate is None:
            raise UsageError("compressing a waveform array needs rate=")
        wave = data.astype(np.float32).reshape(len(data), -1)
        info = AudioInfo(rate, wave.shape[1], len(wave))
        compress_audio_to(iter([wave]), info, out, model, stages)
        return out.getvalue()
    raw = Path(data).read_bytes() if isinstance(data, (str, Path)) else data
    name = str(data) if isinstance(data, (str, Path)) else None
    if sniff_kind(raw[:16], name) == "speech":
        info, blocks = audio_source(raw, False, None, 1)
        compress_audio_to(blocks, info, out, model, stages)
    else:
        compress_image_to(raw, out, model)
    return out.getvalue()


def decompress(data: bytes | str | Path, model: str | Path | None = None):
    """Decompress bytes (or a .vqc path): an (H, W, 3) / (H, W) uint8 array for images, or
    (waveform (n, channels) float32, sample rate) for audio."""
    raw = Path(data).read_bytes() if isinstance(data, (str, Path)) else data
    stream = io.BytesIO(raw)
    header = container.read_header(stream)
    if header.modality == container.IMAGE:
        rgb, channels = decompress_image_from(stream, header, model)
        if channels == 1:
            from PIL import Image

            return np.asarray(Image.fromarray(rgb, "RGB").convert("L"))
        return rgb
    rate, _, blocks = decode_audio_blocks(stream, header, model)
    parts = list(blocks)
    return (np.concatenate(parts) if parts else np.zeros((0, 1), np.float32)), rate
