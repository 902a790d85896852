"""Files in, files out: what `vqcodec compress` / `decompress` do for one input.

Sniffing (audio or image, by content), output names and formats, the checks that can fail
before any coding starts, and atomic outputs; what differs per modality (its options, its coder,
its output format) the stream's kind does (vqcodec.kinds). The CLI parses options and calls these.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import stat
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

from . import kinds
from .errors import BadInputError, OutputError, UsageError
from .codec.params import DEFAULT_MAX_PIXELS, DEFAULT_MAX_SECONDS

VQC = ".vqc"
STDIN_NAME = "stdin"  # the base name of outputs made from standard input
AUDIO_MAGIC = (b"RIFF", b"fLaC", b"OggS", b"FORM", b"ID3")  # RIFF only with WAVE: WebP is RIFF too
AUDIO_FORMATS = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".raw": "raw", ".pcm": "raw"}


@dataclass
class Options:
    """Everything `compress_file` / `decompress_file` need besides the paths."""

    model: str | None = None
    force: bool = False
    raw: bool = False  # compress: input is s16le PCM; decompress: write s16le PCM
    rate: int | None = None
    channels: int | None = None
    stages: float | None = None
    kbps: float | None = None  # speech: the most stages whose file fits this many kbit/s
    quality: int | None = None  # images: the level, 1..N (None: the model's middle level)
    bpp: float | None = None  # images: the highest level that fits this many bits per pixel
    colour: bool | None = None  # images: send the colour correction map (None: yes)
    level_control: bool | None = None  # speech: scale each chunk towards the model's level (None: yes)
    codes: str | None = None  # speech: the model's code set, models/codesets.py (None: auto)
    stream: bool = False
    low_latency: bool | None = None  # speech: the low-latency synthesis schedule (None: with `stream`)
    chunk_frames: int | None = None  # speech: frames per chunk (None: 50, 10 with `stream`)
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_seconds: float = DEFAULT_MAX_SECONDS
    conceal: bool = False
    postfilter: bool | None = None  # speech: the decoder's pitch postfilter (None: yes)
    on_damage: Callable[[int], None] | None = None
    on_truncated: Callable[[float], None] | None = None  # speech, `conceal`: seconds decoded
    # speech: hears (peak, seconds) once when float input beyond full scale is clipped
    on_clipped: Callable[[float, float], None] | None = None
    progress: Callable[[int, int], None] | None = None  # hears (done, total) while coding an image
    # wraps the iterator of audio blocks; the CLI uses it to end a live stream on a signal
    audio_blocks: Callable[[Iterator], Iterator] | None = None


# -- atomic outputs -------------------------------------------------------------------------
def descriptor(path: str | Path) -> int | None:
    """The open file descriptor a name such as /dev/stdout, /dev/fd/3 or /proc/self/fd/3 stands
    for (written through a copy of it, never reopened: reopening would truncate a file that
    `>>` appends to), else None."""
    p = str(path)
    named = {"/dev/stdin": 0, "/dev/stdout": 1, "/dev/stderr": 2}
    if p in named:
        return named[p]
    for prefix in ("/dev/fd/", "/proc/self/fd/", f"/proc/{os.getpid()}/fd/"):
        if p.startswith(prefix) and p[len(prefix):].isdigit():
            return int(p[len(prefix):])
    return None


def is_special(path: str | Path) -> bool:
    """Whether `path` (a link followed) is a device, FIFO or socket, or names an open
    descriptor: written in place, never replaced (`-o /dev/null`, a named pipe)."""
    if descriptor(path) is not None:
        return True
    mode = _mode(path)
    return mode is not None and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def is_pipe(path: str | Path) -> bool:
    """Whether `path` (a link followed) is a FIFO or socket: a reader waits on each block."""
    mode = _mode(path)
    return mode is not None and (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode))


def _mode(path: str | Path) -> int | None:
    try:
        return os.stat(path).st_mode
    except OSError:
        return None


def check_output(path: str | Path, force: bool) -> None:
    """Refuse an output that exists (without force), is a folder, or sits in no writable folder;
    a name ending in a slash names a folder, which must exist. A device or FIFO is written in
    place, so it needs no force."""
    if str(path).endswith(os.sep) and not Path(path).is_dir():
        raise OutputError(f"cannot write {path}: no such folder {Path(path)}")
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path} is a directory")
    if is_special(path):
        if descriptor(path) is None and not os.access(path, os.W_OK):
            raise OutputError(f"cannot write {path}: permission denied")
        return
    if path.exists() and not force:
        raise OutputError(f"{path} already exists (use -f/--force to overwrite)")
    folder = Path(os.path.realpath(path)).parent  # a link's target is what gets replaced
    if not folder.is_dir():
        raise OutputError(f"cannot write {path}: no such folder {folder}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {path}: folder {folder} is not writable")


def check_not_input(src: str, dst: str | None) -> None:
    """Refuse an output that is the input file itself, by any name (a link to it, a hard link):
    replacing it would lose the input."""
    if src == "-" or dst is None or is_special(dst):
        return
    try:
        same = os.path.samefile(src, dst)
    except OSError:  # no such output yet (or no such input: its own error comes later)
        return
    if same:
        raise UsageError(f"{dst} is the input file; name another output")


def new_file_mode() -> int:
    """The permissions `open` gives a new file under the process's umask: 0666 & ~umask."""
    umask = os.umask(0)  # the only way to read it; set back at once
    os.umask(umask)
    return 0o666 & ~umask


# a write that fails for want of room is the output's problem (exit 4), not the input's
NO_ROOM = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


@contextlib.contextmanager
def atomic_output(path: str | Path, force: bool = False) -> Iterator[BinaryIO]:
    """A temporary file beside `path`, renamed over it only if the block succeeds. A symbolic
    link stays and its target is replaced; a device or FIFO is written in place."""
    path = Path(path)
    check_output(path, force)
    if is_special(path):
        fd = descriptor(path)
        try:
            f = open(path, "wb") if fd is None else os.fdopen(os.dup(fd), "wb")
        except OSError as exc:
            raise OutputError(f"cannot write {path}: {exc.strerror}") from None
        with _no_room(path), f:  # the close flushes: its error is the output's too
            yield f
        return
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    try:
        # the name's start only: a name near the file system's 255 bytes must fit with ".part"
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name[:32]}.", suffix=".part", dir=target.parent)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with _no_room(path), os.fdopen(fd, "wb") as f:
            yield f
        os.chmod(tmp, new_file_mode())  # mkstemp's 0600 would hide outputs from other users
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def _no_room(path: Path) -> Iterator[None]:
    """A full disk or quota inside the block becomes an OutputError naming `path`."""
    try:
        yield
    except OSError as exc:
        if exc.errno in NO_ROOM:
            raise OutputError(f"cannot write {path}: {exc.strerror}") from None
        raise


@contextlib.contextmanager
def _stdout() -> Iterator[BinaryIO]:
    with _no_room(Path("standard output")):
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()


def open_output(dst: str | None, force: bool):
    """An atomic output at `dst`, or standard output for None."""
    return atomic_output(dst, force) if dst else _stdout()


# -- sniffing -------------------------------------------------------------------------------
def read_head(stream: BinaryIO, n: int = 16) -> bytes:
    """Up to `n` bytes, reading again after short reads (a slow pipe hands out few at a time)."""
    head = b""
    while len(head) < n:
        more = stream.read(n - len(head))
        if not more:
            break
        head += more
    return head


class _Prefixed(io.RawIOBase):
    """A stream whose first bytes were already read: they are handed out again first."""

    def __init__(self, head: bytes, rest: BinaryIO):
        self.head, self.rest = head, rest

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        if self.head:
            n = min(len(buf), len(self.head))
            buf[:n], self.head = self.head[:n], self.head[n:]
            return n
        data = getattr(self.rest, "read1", self.rest.read)(len(buf))
        buf[: len(data)] = data
        return len(data)


class Counted:
    """A stream that counts the bytes read from it (a stream on stdin has no file size), and
    can tell its whole size."""

    def __init__(self, stream: BinaryIO):
        self.stream, self.count = stream, 0

    def read(self, n: int = -1) -> bytes:
        data = self.stream.read(n)
        self.count += len(data or b"")
        return data

    def size(self) -> int:
        """The bytes read so far plus those left: found by seeking where the stream can seek
        (a file), else by reading the rest in blocks (a pipe)."""
        try:
            here = self.stream.tell()
            return self.count + max(0, self.stream.seek(0, 2) - here)
        except (OSError, ValueError, AttributeError):
            while self.read(1 << 16):
                pass
            return self.count

    def __enter__(self) -> "Counted":
        return self

    def __exit__(self, *exc) -> None:
        pass  # standard input stays open, as before


def audio_magic(head: bytes) -> bool:
    """Whether the first 12 or more bytes start an audio container."""
    if head.startswith(b"RIFF"):
        return head[8:12] == b"WAVE"
    return head.startswith(AUDIO_MAGIC)


def sniff(src: str | Path | bytes) -> str:
    """'image' or 'speech' by content, for every format Pillow or soundfile reads here."""
    if not isinstance(src, bytes) and Path(src).stat().st_size == 0:
        raise BadInputError(f"{src}: empty file")
    if isinstance(src, bytes):
        head = src[:16]
    else:
        with open(src, "rb") as f:
            head = f.read(16)
    # What starts like audio goes to soundfile first: Pillow, failing on it, would first
    # import and try every one of its plugins (40-50 ms of a speech command). Pillow still
    # gets what soundfile refuses: some images may start with those bytes too (an IM
    # file's first header line may be "ID3: ...").
    readers = ((_speech, "speech"), (_image, "image"))
    for reads, kind in readers if audio_magic(head) else readers[::-1]:
        if reads(io.BytesIO(src) if isinstance(src, bytes) else str(src)):
            return kind
    name = "input" if isinstance(src, bytes) else str(src)
    if isinstance(src, bytes) and not src:
        raise BadInputError("empty input: nothing to compress")
    raise BadInputError(f"{name}: neither an image nor an audio reader recognised it")


def _image(data: str | io.BytesIO) -> bool:
    """Whether Pillow recognises `data`, whatever its size: vqcodec's pixel limit, not Pillow's,
    decides later whether it is coded (media.read_image)."""
    from PIL import Image, UnidentifiedImageError

    from .media import own_pixel_limit

    try:
        with own_pixel_limit(), Image.open(data):
            return True
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return False


def _speech(data: str | io.BytesIO) -> bool:
    import soundfile as sf

    from .media import sf_name

    try:
        sf.info(data if isinstance(data, io.BytesIO) else sf_name(data))
        return True
    except Exception:  # soundfile raises several types for unreadable input
        return False


# -- names and formats ----------------------------------------------------------------------
def _place(base: str, beside: str | None, output: str | None, many: bool) -> str | None:
    """`output` itself, `base` inside the folder `output`, or `beside` when no -o (None: stdout)."""
    if output == "-":
        return None
    if output and (many or Path(output).is_dir()):
        if not Path(output).is_dir():
            raise UsageError(f"{output}: not a directory (several inputs need -o DIR)")
        return str(Path(output) / base)
    return output or beside


def compressed_name(src: str, output: str | None, many: bool) -> str | None:
    """Where compressing `src` goes: None for stdout."""
    base = (STDIN_NAME if src == "-" else Path(src).name) + VQC
    return _place(base, None if src == "-" else src + VQC, output, many)


def decompressed_name(src: str, output: str | None, many: bool, kind: str) -> str | None:
    """Where decompressing `src` goes (None for stdout), given the stream's kind."""
    base = STDIN_NAME + VQC if src == "-" else Path(src).name
    base = kinds.get(kind).output_name(base[: -len(VQC)] if base.endswith(VQC) else base + ".out")
    return _place(base, None if src == "-" else str(Path(src).parent / base), output, many)


def image_format(path: str) -> str:
    from PIL import Image

    ext = Path(path).suffix.lower()
    Image.preinit()  # PNG, JPEG, BMP, GIF, PPM: the full plugin scan costs 0.15 s of start-up
    fmt = Image.EXTENSION.get(ext)
    if fmt is None:
        Image.init()
        fmt = Image.EXTENSION.get(ext)
    if fmt is None:
        raise UsageError(f"{path}: unknown image format (use .png, .jpg, .webp, ...)")
    return fmt


def audio_format(path: str, raw: bool) -> str:
    fmt = "raw" if raw else AUDIO_FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise UsageError(f"{path}: unknown audio format (use .wav, .flac, .ogg or --raw)")
    return fmt


def decoded_audio_format(dst: str | None, raw: bool) -> str:
    """How decoded audio is written to `dst` (None: stdout): s16le with `raw`; to a pipe, a
    device or a FIFO a WAV that streams ('wav-stream') unless the name asks for another
    format; else the format the name's extension says. `raw` under a name that says another
    audio format (.wav, .flac, .ogg) is a contradiction, refused."""
    named = None if dst is None else AUDIO_FORMATS.get(Path(dst).suffix.lower())
    if raw and named not in (None, "raw"):
        raise UsageError(f"{dst}: --raw writes headerless PCM, not {named} "
                         "(name it .raw or .pcm, or leave out --raw)")
    if dst is None or is_special(dst):
        if raw:
            return "raw"
        fmt = None if dst is None else AUDIO_FORMATS.get(Path(dst).suffix.lower())
        if fmt not in (None, "WAV", "raw"):
            raise OutputError(f"cannot write {dst}: {fmt} needs a file it can seek in "
                              "(write .wav or --raw to a pipe or device)")
        return "raw" if fmt == "raw" else "wav-stream"
    return audio_format(dst, raw)


def decoded_image_format(dst: str | None) -> str:
    """The format of a decoded image at `dst` (None: stdout): PNG to a pipe, or to a device
    or FIFO whose name has no image extension; else the extension's."""
    if dst is None or (is_special(dst) and not Path(dst).suffix):
        return "PNG"
    fmt = image_format(dst)
    if is_special(dst) and fmt not in STREAMED_IMAGES:
        raise OutputError(f"cannot write {dst}: {fmt} needs a file it can seek in "
                          "(write .png or .jpg to a pipe or device)")
    return fmt


STREAMED_IMAGES = ("PNG", "JPEG", "BMP", "PPM", "WEBP")  # Pillow writes these front to back


def decompressed_output(src: str, output: str | None) -> str | None:
    """Where decompressing `src` goes as one of several inputs (the stream's header read for
    its kind); None where the header cannot be read (its own error comes when it is decoded)."""
    header = stream_header(src)
    return None if header is None else decompressed_name(src, output, True, header.kind)


def stream_header(src: str):
    """The header of the stream in the file `src`, or None where it cannot be read (its own
    error comes when the stream is decoded)."""
    from .codec import container
    from .errors import VQCodecError

    try:
        with open(src, "rb") as f:
            return container.read_header(f)
    except (OSError, VQCodecError):
        return None


# -- one file each way ----------------------------------------------------------------------
def compress_file(src: str, dst: str | None, o: Options) -> dict:
    """Compress one input ('-' for stdin) to `dst` (None: stdout); returns what was done."""
    t0 = time.perf_counter()
    check_not_input(src, dst)
    if dst is not None:
        check_output(dst, o.force)
    if src == "-":
        head = read_head(sys.stdin.buffer)
        stream: BinaryIO = io.BufferedReader(_Prefixed(head, sys.stdin.buffer))
        kind = "speech" if o.raw or audio_magic(head) else None
        data: str | bytes | BinaryIO = stream
        if kind is None:
            data = stream.read()
            kind = sniff(data)
    else:
        data = src
        kind = "speech" if o.raw else sniff(src)
    k = kinds.get(kind)
    k.check_compress(o)
    with open_output(dst, o.force) as out:
        rep = k.compress_to(data, out, o)
    result = {"input": src, "output": dst or "-", "bytes": rep.output_bytes,
              "model": rep.extra["model"], "seconds": round(time.perf_counter() - t0, 3),
              k.rate_name: k.rate(rep.output_bytes, max(k.extent(rep.extra), 1e-9))}
    for key in ("level", "stages", "codes", "colour_bytes", "flat_blocks", "detail_bytes"):
        if key in rep.extra:
            result[key] = rep.extra[key]
    result["overhead_percent"] = round(rep.payload_bytes * 8 / max(rep.ideal_bits, 1e-9) * 100 - 100, 2)
    return result


def decompress_file(src: str, output: str | None, o: Options, many: bool = False,
                    indices: str | None = None) -> dict:
    """Decompress one stream ('-' for stdin) to media, or to a .npy of indices with `indices`."""
    from . import api
    from .codec import container

    t0 = time.perf_counter()
    if indices:
        check_not_input(src, indices)
        check_output(indices, o.force)
    with (Counted(sys.stdin.buffer) if src == "-" else open(src, "rb")) as f:
        header = container.read_header(f)
        if indices:
            import numpy as np

            idx = api.decode_stream_indices(f, header, o.model, o.conceal, o.max_pixels, o.max_seconds)
            with atomic_output(indices, o.force) as out:
                np.save(out, idx)
            return {"input": src, "output": indices, "shape": list(idx.shape),
                    "seconds": round(time.perf_counter() - t0, 3)}
        dst = decompressed_name(src, output, many, header.kind)
        check_not_input(src, dst)
        if dst is not None:
            check_output(dst, o.force)
        k = kinds.get(header.kind)
        detail, extent = k.decompress_to(f, header, dst, o)
    size = Path(src).stat().st_size if src != "-" else f.count
    model = api.model_for_stream(header, o.model)
    out = {"input": src, "output": dst or "-", "bytes": size, "model": model.name,
           "seconds": round(time.perf_counter() - t0, 3), **detail}
    if header.kind == "speech":
        out["codes"] = model.set_label  # the code set the stream names (models/codesets.py)
    if size is not None and extent:
        out[k.rate_name] = k.rate(size, extent)
    return out
