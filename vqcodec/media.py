"""Media I/O: images through Pillow, audio through soundfile or raw s16le PCM, streaming resampling.

Audio is read and written in blocks so hour-long files stay in bounded memory.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import struct
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

import numpy as np

from .codec.params import DEFAULT_MAX_PIXELS, DEFAULT_MAX_SECONDS, MAX_CHANNELS, MAX_RATE, MIN_RATE
from .errors import BadInputError, LimitError, OutputError, UsageError

AUDIO_BLOCK = 1 << 16  # frames read per block
# File names looked for when scanning folders (single inputs are recognised by content).
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".ppm", ".pgm",
                  ".avif"}
AUDIO_SUFFIXES = {".wav", ".flac", ".ogg"}
PCM16_SCALE = 32768.0  # s16le sample = round(x * PCM16_SCALE), clipped
# libvorbis's encoder set-up covers rates up to 200 kHz; above it (201 kHz, 384 kHz) libsndfile
# 1.2.2 crashes the process inside libvorbis instead of failing (measured), so it is refused.
OGG_MAX_RATE = 200_000


# -- images -------------------------------------------------------------------------------
_PILLOW_LIMIT = threading.RLock()  # one reader at a time changes Pillow's global limit


@contextlib.contextmanager
def own_pixel_limit() -> Iterator[None]:
    """Pillow's decompression-bomb check off, and its warnings silent, for the duration: the
    caller applies vqcodec's own limit (`max_pixels`, checked from the header) instead.

    Pillow reads the limit from a module global (Image.MAX_IMAGE_PIXELS), so it is set to None
    and restored after, under a lock: the host program keeps its guard, and the codec's own
    threads never restore each other's None. (Another thread of the host that opens an image
    meanwhile also opens it without Pillow's check.)"""
    from PIL import Image

    with _PILLOW_LIMIT, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one line per problem: no DecompressionBombWarning
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def read_image(src: str | bytes | BinaryIO, max_pixels: int = DEFAULT_MAX_PIXELS,
               still: bool = True) -> tuple[np.ndarray, int]:
    """Any Pillow-readable image -> (H, W, 3) uint8 RGB and the channel count to restore (1 or 3).

    Alpha is not coded: RGBA and LA images are composited onto white (documented in README).
    An image of several frames (animated, or pages) is refused with `still`, since one frame
    would come back; without it (training) its first frame is read. A camera's MPO (the photo
    and its previews) is its first frame either way.
    The pixel limit is checked from the header, before any pixel is decoded; it is the only
    one (Pillow's own is off while reading: `own_pixel_limit`). Errors name `src` if a path.
    """
    with own_pixel_limit():
        return _read_image(src, max_pixels, still)


def _read_image(src: str | bytes | BinaryIO, max_pixels: int, still: bool) -> tuple[np.ndarray, int]:
    from PIL import Image, ImageOps, UnidentifiedImageError

    name = f"{src}: " if isinstance(src, str) else ""
    fp = io.BytesIO(src) if isinstance(src, bytes) else src
    try:
        img = Image.open(fp)
        w, h = img.size
        if w * h > max_pixels:
            raise LimitError(f"{name}image of {w}x{h} pixels exceeds the limit of {max_pixels} "
                             "(raise it with --max-pixels)")
        if w == 0 or h == 0:
            raise BadInputError(f"{name}image has no pixels")
        if still and getattr(img, "is_animated", False) and img.format != "MPO":
            raise BadInputError(f"{name}image has {img.n_frames} frames (animated or several "
                                "pages); vqcodec codes one still image: save the frame to code "
                                "as a file of its own")
        img.load()
        ImageOps.exif_transpose(img, in_place=True)  # a phone's portrait photo stands upright
    except UnidentifiedImageError:
        raise BadInputError(f"{name}input is not an image Pillow can read") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise BadInputError(f"{name}cannot decode image ({exc})") from None
    channels = 1 if img.mode in ("1", "L", "LA", "I", "I;16", "F", "P") and _is_gray(img) else 3
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    if img.mode.startswith(("I", "F")):  # 16-bit, 32-bit or float grey
        arr = np.asarray(img, dtype=np.float64)
        if not np.isfinite(arr).all():  # NaN or infinities: no colour to code them as
            raise BadInputError(f"{name}image has pixels that are not finite numbers (NaN or "
                                "infinity)")
        arr = np.clip(np.rint(arr * (255 / _full_scale(img.mode, arr))), 0, 255).astype(np.uint8)
        return np.repeat(arr[..., None], 3, axis=2), 1
    return np.asarray(img.convert("RGB")), channels


def _full_scale(mode: str, arr: np.ndarray) -> float:
    """The value that is white in a grey image of more than 8 bits: by its bit depth, never by
    its own brightest pixel (a dark 16-bit photo stays dark). A 16-bit file can open as mode
    I (signed 32-bit), so I is 16-bit unless a value needs more. Floats are 0..1 (brighter
    values clip to white, as in HDR), unless the largest is above 2: then 0..255, or above
    255: 0..65535."""
    if mode.startswith("I;16"):
        return 65535.0
    top = float(arr.max()) if arr.size else 0.0  # finite: read_image refuses NaN and infinities
    if mode == "I":
        return 65535.0 if top <= 65535 else 2147483647.0
    return 1.0 if top <= 2 else 255.0 if top <= 255 else 65535.0


def _is_gray(img) -> bool:
    if img.mode == "P":
        pal = np.asarray(img.convert("RGB"))
        return bool((pal[..., 0] == pal[..., 1]).all() and (pal[..., 1] == pal[..., 2]).all())
    return True


def write_image(rgb: np.ndarray, channels: int, dst: str | BinaryIO, fmt: str | None = None) -> None:
    from PIL import Image

    img = Image.fromarray(rgb, "RGB")
    if channels == 1:
        img = img.convert("L")
    if fmt in ("JPEG", "JPG") and img.mode not in ("RGB", "L"):
        img = img.convert("RGB")
    img.save(dst, format=fmt, **SAVE_OPTIONS.get(fmt, {}))


# How decoded images are saved, by Pillow format. PNG at zlib level 1: 4x faster than Pillow's
# default 6 (60 vs 240 ms on a 768x512 decode), files about 15 % larger; decompressed images
# are for viewing, not for archiving. The lossy formats at high quality, so that saving does
# not undo the level: at Pillow's defaults (JPEG quality 75 with 4:2:0 chroma) level 8 of
# samples/photo.png lost 3.6 dB against the source (35.60 dB as PNG, 31.97 as JPEG). JPEG
# quality 95 at 4:4:4 loses 0.21 dB (45.6 dB against the decoded pixels, 165 kB against the
# PNG's 702 kB); libwebp's lossy mode has 4:2:0 chroma only (quality 95: -0.83 dB, 100:
# -0.69), so WebP is lossless (exact, 503 kB, 0.10 s at method 1; 480 kB in 0.20 s at the
# default 4); AVIF quality 95 at 4:4:4 loses 0.20 dB (140 kB; speed 8: 0.14 s, not 0.53).
SAVE_OPTIONS: dict[str, dict] = {
    "PNG": {"compress_level": 1},
    "JPEG": {"quality": 95, "subsampling": 0},  # 0: 4:4:4
    "WEBP": {"lossless": True, "method": 1},
    "AVIF": {"quality": 95, "subsampling": "4:4:4", "speed": 8},
}


# -- audio input --------------------------------------------------------------------------
@dataclass
class AudioInfo:
    rate: int
    channels: int
    frames: int | None  # None when unknown (raw streams)


def check_raw_params(rate: int | None, channels: int) -> int:
    if rate is None:
        raise UsageError("--raw input needs --rate")
    if not MIN_RATE <= rate <= MAX_RATE:
        raise UsageError(f"--rate {rate} is not a plausible sample rate ({MIN_RATE}..{MAX_RATE})")
    if not 1 <= channels <= MAX_CHANNELS:
        raise UsageError(f"--channels {channels} is out of range (1..{MAX_CHANNELS})")
    return rate


def check_audio_params(rate: int, channels: int) -> None:
    """Refuse audio to code whose rate or channel count a stream cannot state (BadInputError)."""
    if not MIN_RATE <= rate <= MAX_RATE:
        raise BadInputError(f"sample rate {rate} is not supported ({MIN_RATE}..{MAX_RATE})")
    if not 1 <= channels <= MAX_CHANNELS:
        raise BadInputError(f"{channels} channels are not supported (1..{MAX_CHANNELS})")


def sf_name(path: str | Path) -> str | bytes:
    """A path as soundfile takes it: soundfile encodes a str as UTF-8, which a name that is
    not (bytes that os.fsdecode kept as surrogates) fails; such a name goes as its bytes."""
    name = os.fspath(path)
    try:
        name.encode()
    except UnicodeEncodeError:
        return os.fsencode(name)
    return name


def open_audio(src: str | bytes, max_seconds: float,
               on_clipped: Callable[[float, float], None] | None = None,
               ) -> tuple[AudioInfo, Iterator[np.ndarray]]:
    """A file path or in-memory bytes of wav/flac/ogg -> info and (n, ch) float32 blocks.

    Samples must be finite (NaN or infinity: BadInputError). Float samples beyond [-1, 1] are
    clipped to full scale; `on_clipped(peak, seconds)` hears of the first block that has any:
    its peak, and when its first such sample comes."""
    import soundfile as sf

    try:
        f = sf.SoundFile(io.BytesIO(src) if isinstance(src, bytes) else sf_name(src))
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise BadInputError(f"input is not audio soundfile can read ({_sf_reason(exc)})") from None
    if f.frames <= 0:
        f.close()
        raise BadInputError("audio input has no samples")
    if f.frames > max_seconds * f.samplerate:
        f.close()
        raise LimitError(f"audio of {f.frames / f.samplerate:.0f} s exceeds the limit of "
                         f"{max_seconds:.0f} s (raise it with --max-seconds)")
    info = AudioInfo(f.samplerate, f.channels, f.frames)

    def blocks() -> Iterator[np.ndarray]:
        done, clipped = 0, False
        with f:
            while True:
                try:
                    block = f.read(AUDIO_BLOCK, dtype="float32", always_2d=True)
                except (sf.LibsndfileError, RuntimeError) as exc:
                    raise BadInputError(f"corrupt audio ({_sf_reason(exc)})") from None
                if not len(block):
                    return
                if not np.isfinite(block).all():
                    at = done + int(np.argmin(np.isfinite(block).all(axis=1)))
                    raise BadInputError(f"audio input has a NaN or infinite sample at "
                                        f"{at / info.rate:.3f} s")
                peak = float(np.abs(block).max())
                if peak > 1.0:
                    if not clipped and on_clipped is not None:
                        at = done + int(np.argmax((np.abs(block) > 1.0).any(axis=1)))
                        on_clipped(peak, at / info.rate)
                    clipped = True
                    np.clip(block, -1.0, 1.0, out=block)
                done += len(block)
                yield block

    return info, blocks()


def _sf_reason(exc: Exception) -> str:
    return str(exc).splitlines()[0][:120]


def raw_blocks(stream: BinaryIO, channels: int, block_bytes: int = 1 << 14,
               limit: int | None = None, strict: bool = True) -> Iterator[np.ndarray]:
    """Headerless s16le PCM from a (possibly slow) stream -> (n, ch) float32 blocks as they come;
    at most `limit` bytes when given. A partial sample frame at the end is an error if
    `strict`, else dropped (a WAV's samples, as libsndfile drops it from a file)."""
    frame = 2 * channels
    pending = b""
    read = getattr(stream, "read1", stream.read)
    left = limit if limit is not None else -1
    while left != 0:
        data = read(block_bytes if left < 0 else min(block_bytes, left))
        if not data:
            break
        left = left - len(data) if left > 0 else left
        pending += data
        usable = len(pending) - len(pending) % frame
        if usable:
            pcm = np.frombuffer(pending[:usable], dtype="<i2").reshape(-1, channels)
            pending = pending[usable:]
            yield pcm.astype(np.float32) / PCM16_SCALE
    if pending and strict:
        raise BadInputError(f"raw input ends with a partial sample frame ({len(pending)} "
                            f"byte{'s' if len(pending) > 1 else ''})")


def wav_stream(stream: BinaryIO) -> tuple[AudioInfo, Iterator[np.ndarray]] | bytes:
    """A 16-bit PCM WAV arriving on a pipe: parse the header and stream the samples as they
    come (sox and arecord write such streams with unknown sizes). For anything else, return the
    bytes read so far, for the caller to decode whole."""
    head = stream.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return head
    seen = head
    fmt = None
    while True:
        ch = stream.read(8)
        seen += ch
        if len(ch) < 8:
            return seen
        cid, size = ch[:4], struct.unpack("<I", ch[4:])[0]
        if cid == b"data":
            break
        if size > 1 << 20:
            return seen
        body = stream.read(size + (size & 1))
        seen += body
        if cid == b"fmt ":
            fmt = body
    if fmt is None or len(fmt) < 16:
        return seen
    tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", fmt[:16])
    pcm = tag == 1 or (tag == 0xFFFE and len(fmt) >= 26 and fmt[24:26] == b"\x01\x00")
    if not pcm or bits != 16 or not 1 <= channels <= MAX_CHANNELS or not MIN_RATE <= rate <= MAX_RATE:
        return seen
    limit = None if size in (0, 0xFFFFFFFF) else size  # sizes of a pipe's WAV are unknown
    return AudioInfo(rate, channels, None), raw_blocks(stream, channels, limit=limit, strict=False)


def audio_source(src: str | Path | bytes | BinaryIO, raw: bool, rate: int | None, channels: int,
                 max_seconds: float = DEFAULT_MAX_SECONDS,
                 on_clipped: Callable[[float, float], None] | None = None,
                 ) -> tuple[AudioInfo, Iterator[np.ndarray]]:
    """Info and (n, ch) float32 blocks from a path, bytes or stream (raw s16le with `raw`);
    `on_clipped` as for open_audio."""
    if raw:
        rate = check_raw_params(rate, channels)
        stream = io.BytesIO(src) if isinstance(src, bytes) else (
            open(src, "rb") if isinstance(src, (str, Path)) else src)
        return AudioInfo(rate, channels, None), _limited(raw_blocks(stream, channels), rate, max_seconds)
    if not isinstance(src, (str, Path, bytes)):
        streamed = wav_stream(src)  # PCM WAV on a pipe streams; other formats are read whole
        if not isinstance(streamed, bytes):
            info, blocks = streamed
            return info, _limited(blocks, info.rate, max_seconds)
        src = streamed + src.read()
    info, blocks = open_audio(src if isinstance(src, bytes) else str(src), max_seconds, on_clipped)
    check_audio_params(info.rate, info.channels)  # the file, unread, closes with `blocks`
    return info, blocks


def _limited(blocks: Iterator[np.ndarray], rate: int, max_seconds: float) -> Iterator[np.ndarray]:
    """The blocks of audio whose length is not known ahead (a pipe, raw PCM), ending in a
    LimitError once they pass `max_seconds`."""
    left = max_seconds * rate
    for b in blocks:
        left -= len(b)
        if left < 0:
            raise LimitError(f"audio is longer than the limit of {max_seconds:.0f} s "
                             "(raise it with --max-seconds)")
        yield b


# -- streaming resampler ------------------------------------------------------------------
class Resampler:
    """Block-wise band-limited resampling that matches resampling the whole signal at once.

    Input is processed in whole periods of `orig / gcd` samples with `margin` periods of context
    on each side, so block boundaries leave no trace; it holds back `margin` periods (a few ms),
    unless `push_ahead` gives them out early against a guessed continuation.
    """

    def __init__(self, orig: int, new: int, margin: int | None = None):
        g = math.gcd(orig, new)
        self.orig, self.new, self.up, self.down = orig, new, new // g, orig // g
        self.margin = margin or max(1, math.ceil(64 / self.down))  # periods of context
        self.buf = np.zeros((0, 1), dtype=np.float32)
        self.history = 0
        self.skip = 0  # output samples push_ahead gave out already

    def _run(self, x: np.ndarray) -> np.ndarray:
        from .runtime.resample import resample  # torchaudio's filter, in numpy

        return resample(np.ascontiguousarray(x.T), self.orig, self.new).T

    def push(self, block: np.ndarray, final: bool = False) -> np.ndarray:
        out = self._push(block, final)
        drop = min(self.skip, len(out))
        self.skip -= drop
        return out[drop:]

    def push_ahead(self, block: np.ndarray, ahead: np.ndarray) -> np.ndarray:
        """push(block), and at once the output still held back for context, computed as if
        `ahead` followed; later pushes do not give that output again (they drop it)."""
        out = self.push(block)
        if self.orig == self.new:
            return out
        pending = len(self.buf) - self.history  # input samples not yet resampled
        count = math.ceil(pending * self.up / self.down) - self.skip
        if count <= 0:
            return out
        ext = self._run(np.concatenate([self.buf, ahead.astype(np.float32)]))
        lo = self.history * self.up // self.down + self.skip
        self.skip += count
        return np.concatenate([out, ext[lo: lo + count]])

    def _push(self, block: np.ndarray, final: bool = False) -> np.ndarray:
        if self.orig == self.new:
            return block
        if self.buf.shape[1] != block.shape[1]:
            self.buf = np.zeros((0, block.shape[1]), dtype=np.float32)
        self.buf = np.concatenate([self.buf, block.astype(np.float32)])
        ctx = self.margin * self.down
        avail = len(self.buf) - self.history - (0 if final else ctx)
        n = (avail // self.down) * self.down if not final else max(avail, 0)
        if n <= 0:
            return np.zeros((0, self.buf.shape[1]), dtype=np.float32)
        start = self.history
        seg = self.buf[: start + n + (0 if final else ctx)]
        out = self._run(seg)
        lo = start * self.up // self.down
        hi = lo + (math.ceil(n * self.up / self.down) if final else n * self.up // self.down)
        out = out[lo:hi]
        keep = min(ctx, start + n)
        self.buf = self.buf[start + n - keep:]
        self.history = keep
        return out

    def finish(self) -> np.ndarray:
        if self.orig == self.new:
            return np.zeros((0, self.buf.shape[1]), dtype=np.float32)
        return self.push(np.zeros((0, self.buf.shape[1]), dtype=np.float32), final=True)


def resampled_length(n: int, orig: int, new: int) -> int:
    return -(-n * new // orig)


# -- audio output -------------------------------------------------------------------------
def to_pcm16(x: np.ndarray) -> bytes:
    return (np.clip(x, -1.0, 32767 / PCM16_SCALE) * PCM16_SCALE).round().astype("<i2").tobytes()


def check_audio_format(fmt: str, rate: int, name: str | Path) -> None:
    """Refuse a format that cannot hold audio at `rate` (OutputError), before any is decoded."""
    if fmt == "OGG" and rate > OGG_MAX_RATE:
        raise OutputError(f"cannot write {name}: Ogg Vorbis takes sample rates up to "
                          f"{OGG_MAX_RATE} Hz, not {rate} (write .wav or .flac, or give a lower --rate)")


def write_audio(blocks: Iterator[np.ndarray], rate: int, channels: int, out: BinaryIO,
                fmt: str, flush: bool = False) -> int:
    """Write blocks as 'raw' (s16le), 'wav-stream' (WAV for pipes), or a soundfile format."""
    check_audio_format(fmt, rate, "the audio output")  # the caller checks it sooner, named
    n = 0
    if fmt in ("raw", "wav-stream"):
        start = _position(out)
        if fmt == "wav-stream":
            out.write(wav_stream_header(rate, channels))
        for b in blocks:
            out.write(to_pcm16(b))
            n += len(b)
            if flush:
                out.flush()
        if fmt == "wav-stream" and start is not None:  # a file after all: state the real sizes
            data = n * channels * 2
            if data + 36 < 0xFFFFFFFF:
                end = out.tell()
                out.seek(start + 4)
                out.write(struct.pack("<I", data + 36))
                out.seek(start + 40)
                out.write(struct.pack("<I", data))
                out.seek(end)
        return n
    import soundfile as sf

    subtype = "PCM_16" if fmt in ("WAV", "FLAC") else None
    try:  # libsndfile writes a real file itself: no Python callbacks, its own write errors
        out.flush()
        target: BinaryIO | int = out.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        target = out

    def written(call, *args):
        try:
            return call(*args)
        except (sf.LibsndfileError, RuntimeError) as exc:
            reason = _sf_reason(exc)
            with contextlib.suppress(OSError, TypeError):  # libsndfile says only "System error"
                if os.fstatvfs(target).f_bavail == 0:
                    reason = "No space left on device"
            raise OutputError(f"cannot write the audio output: {reason}") from None

    f = written(lambda: sf.SoundFile(target, "w", rate, channels, subtype=subtype, format=fmt,
                                     closefd=False))
    try:
        for b in blocks:
            written(f.write, b)
            n += len(b)
    except BaseException:  # the decoder's error (or a write's) is the one to report
        with contextlib.suppress(Exception):
            f.close()
        raise
    written(f.close)
    return n


def _position(out: BinaryIO) -> int | None:
    """Where a seekable output stands (standard output redirected to a file), else None; None
    too for a file opened to append (`>>`), where every write lands at the end."""
    try:
        if not out.seekable():
            return None
        position = out.tell()
    except (AttributeError, OSError, ValueError):
        return None
    try:
        import fcntl

        if fcntl.fcntl(out.fileno(), fcntl.F_GETFL) & os.O_APPEND:
            return None
    except (AttributeError, OSError, ValueError, ImportError):
        pass  # an in-memory buffer: no descriptor, nothing appends
    return position


def wav_stream_header(rate: int, channels: int) -> bytes:
    """A WAV header for a stream of unknown length (sizes set to the maximum, as sox does)."""
    return (b"RIFF" + struct.pack("<I", 0xFFFFFFFF) + b"WAVEfmt " +
            struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * channels * 2, channels * 2, 16) +
            b"data" + struct.pack("<I", 0xFFFFFFFF))
