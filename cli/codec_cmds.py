"""`vqcodec compress` and `vqcodec decompress`: paths, stdin/stdout, several files, --jobs."""

from __future__ import annotations

import contextlib
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Callable, List, Optional

import typer

from vqcodec.errors import UsageError

from .errors import fail, guarded

VQC = ".vqc"
MAGIC_AUDIO = (b"RIFF", b"fLaC", b"OggS", b"FORM")


def _is_stdin(p: str) -> bool:
    return p == "-"


def _say(quiet: bool, msg: str) -> None:
    """One plain line on stderr: never wrapped or restyled, whether a terminal or a pipe."""
    if not quiet and msg:
        print(msg, file=sys.stderr, flush=True)


class _Stdout:
    """Standard output as a context manager that flushes on success."""

    def __enter__(self):
        return sys.stdout.buffer

    def __exit__(self, *exc):
        if exc[0] is None:
            sys.stdout.buffer.flush()
        return False


def _output(dst: Optional[str], force: bool):
    from vqcodec import api

    return api.atomic_output(dst, force) if dst else _Stdout()


def _run_all(fn: Callable, tasks: list[tuple], opts: dict, jobs: int) -> None:
    """Run fn(src, dst, opts) for every task; with several tasks, report each failure on one
    line, carry on, and exit with the highest error code."""
    from vqcodec.errors import VQCodecError

    if len(tasks) == 1:
        _say(opts["quiet"], fn(*tasks[0], opts))
        return
    codes = []

    def report(src: str, call: Callable) -> None:
        try:
            _say(opts["quiet"], call())
        except VQCodecError as exc:
            print(f"vqcodec: error: {src}: {exc}", file=sys.stderr)
            codes.append(exc.exit_code)

    if jobs > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = {pool.submit(fn, *t, opts): t[0] for t in tasks}
            for fut in as_completed(futures):
                report(futures[fut], fut.result)
    else:
        for t in tasks:
            report(t[0], lambda t=t: fn(*t, opts))
    if codes:
        raise typer.Exit(max(codes))


# -- compress -------------------------------------------------------------------------------
@guarded
def compress(
    inputs: List[str] = typer.Argument(..., help="Image or audio files; '-' reads stdin."),
    output: Optional[str] = typer.Option(None, "-o", "--output",
                                         help="Output file, '-' for stdout, or a directory for several inputs."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Model file or bundled name."),
    force: bool = typer.Option(False, "-f", "--force", help="Overwrite existing outputs."),
    stdout: bool = typer.Option(False, "-c", "--stdout", help="Write to standard output."),
    raw: bool = typer.Option(False, "--raw", help="Input is headerless s16le PCM."),
    rate: Optional[int] = typer.Option(None, "--rate", "-r", help="Sample rate of --raw input."),
    channels: int = typer.Option(1, "--channels", help="Channels of --raw input."),
    stages: Optional[int] = typer.Option(None, "--stages", help="Speech: residual VQ stages to code (rate control)."),
    stream: bool = typer.Option(False, "--stream", help="Speech: code and flush chunk by chunk as input arrives."),
    chunk_ms: Optional[int] = typer.Option(None, "--chunk-ms", help="Speech: chunk length (default 1000, 200 with --stream)."),
    max_pixels: int = typer.Option(16_000_000, "--max-pixels", help="Refuse larger images."),
    max_seconds: float = typer.Option(86400.0, "--max-seconds", help="Refuse longer audio files."),
    jobs: int = typer.Option(1, "--jobs", "-j", help="Files to work on in parallel."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="Threads for the numeric work (default: the idle cores, shared by --jobs)."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No messages."),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="Report sizes and rates."),
) -> None:
    """Compress images (PNG, JPEG, ...) or speech (wav, flac, ogg, raw PCM) to .vqc streams."""
    if len(inputs) > 1 and (stdout or output == "-"):
        fail("several inputs cannot all go to stdout", 1)
    chunk = chunk_ms or (200 if stream else 1000)
    if not 20 <= chunk <= 60000:
        fail("--chunk-ms must be between 20 and 60000", 1)
    tasks = []
    for src in inputs:
        if not _is_stdin(src) and not Path(src).is_file():
            fail(f"{src}: no such file", 2)
        to_stdout = stdout or output == "-" or (_is_stdin(src) and output is None)
        tasks.append((src, None if to_stdout else _compressed_name(src, output, len(inputs) > 1)))
    opts = dict(model=model, force=force, raw=raw, rate=rate, channels=channels, stages=stages,
                stream=stream, chunk_frames=max(1, round(chunk / 20)), max_pixels=max_pixels,
                max_seconds=max_seconds, quiet=quiet, verbose=verbose, threads=threads, jobs=jobs)
    _run_all(_compress_one, tasks, opts, jobs)


def _compress_one(src: str, dst: Optional[str], o: dict) -> str:
    from vqcodec import api

    from .interrupt import GracefulStop

    _threads(o)
    data_src = _stdin() if _is_stdin(src) else src
    stop = GracefulStop()
    with _output(dst, o["force"]) as out:
        if o["raw"] or _looks_like_audio(src, data_src):
            info, blocks = api.audio_source(data_src, o["raw"], o["rate"], o["channels"], o["max_seconds"])
            with (stop if o["stream"] else contextlib.nullcontext()):  # Ctrl-C closes a live stream
                rep = api.compress_audio_to(stop.blocks(blocks), info, out, o["model"], o["stages"],
                                            o["chunk_frames"], flush=o["stream"])
            secs = rep.extra["samples"] / info.rate
            detail = f"{rep.output_bytes} bytes, {rep.output_bytes * 8 / max(secs, 1e-9):.0f} bit/s"
        else:
            data = data_src.read() if _is_stdin(src) else src
            rep = api.compress_image_to(data, out, o["model"], o["max_pixels"])
            px = rep.extra["width"] * rep.extra["height"]
            detail = f"{rep.output_bytes} bytes, {rep.output_bytes * 8 / px:.4f} bpp"
    if stop.exit_code is not None:
        secs = rep.extra["samples"] / info.rate
        print(f"vqcodec: interrupted; the stream was closed after {secs:.2f} s and decodes completely",
              file=sys.stderr)
        raise typer.Exit(stop.exit_code)
    if not o["verbose"]:
        return ""
    overhead = rep.payload_bytes * 8 / max(rep.ideal_bits, 1e-9) * 100 - 100
    return f"{src} -> {dst or 'stdout'}: {detail} (payload {overhead:+.2f}% vs the prior's ideal)"


def _threads(o: dict) -> None:
    """Settle the thread pools once: --threads, else the idle cores shared among --jobs."""
    from vqcodec import threads

    n = o.get("threads") or (max(1, threads.default_threads() // o["jobs"]) if o.get("jobs", 1) > 1 else None)
    threads.configure(n)


def _stdin():
    import io

    stdin = sys.stdin.buffer
    return stdin if hasattr(stdin, "peek") else io.BufferedReader(stdin)


def _looks_like_audio(src: str, stream) -> bool:
    from vqcodec.api import AUDIO_SUFFIXES

    if _is_stdin(src):
        return stream.peek(4)[:4] in MAGIC_AUDIO
    if Path(src).suffix.lower() in AUDIO_SUFFIXES:
        return True
    with open(src, "rb") as f:
        return f.read(4) in MAGIC_AUDIO


def _compressed_name(src: str, output: Optional[str], many: bool) -> Optional[str]:
    if output and (many or Path(output).is_dir()):
        if not Path(output).is_dir():
            fail(f"{output}: not a directory (several inputs need -o DIR)", 1)
        return str(Path(output) / (Path(src).name + VQC))
    if output:
        return output
    return None if _is_stdin(src) else src + VQC


# -- decompress -----------------------------------------------------------------------------
@guarded
def decompress(
    inputs: List[str] = typer.Argument(..., help=".vqc files; '-' reads stdin."),
    output: Optional[str] = typer.Option(None, "-o", "--output",
                                         help="Output file (format from its extension), '-' for stdout, or a directory."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Model file (default: the bundled model the stream names)."),
    force: bool = typer.Option(False, "-f", "--force", help="Overwrite existing outputs."),
    stdout: bool = typer.Option(False, "-c", "--stdout", help="Write to standard output."),
    raw: bool = typer.Option(False, "--raw", help="Speech: write headerless s16le PCM."),
    rate: Optional[int] = typer.Option(None, "--rate", "-r", help="Speech: output sample rate (default: the input's)."),
    channels: Optional[int] = typer.Option(None, "--channels", help="Speech: output channels (default: the input's)."),
    max_pixels: int = typer.Option(16_000_000, "--max-pixels", help="Refuse streams claiming larger images."),
    max_seconds: float = typer.Option(86400.0, "--max-seconds", help="Refuse audio streams longer than this."),
    indices: Optional[str] = typer.Option(None, "--indices", help="Write the decoded codebook indices to this .npy instead of media."),
    jobs: int = typer.Option(1, "--jobs", "-j", help="Files to work on in parallel."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="Threads for the numeric work (default: the idle cores, shared by --jobs)."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No messages."),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="Report what was written."),
) -> None:
    """Decompress .vqc streams back to images (PNG by default) or audio (WAV by default)."""
    if len(inputs) > 1 and (stdout or output == "-" or indices):
        fail("several inputs cannot all go to one output", 1)
    for src in inputs:
        if not _is_stdin(src) and not Path(src).is_file():
            fail(f"{src}: no such file", 2)
    to_stdout = stdout or output == "-"
    opts = dict(model=model, force=force, raw=raw, rate=rate, channels=channels,
                max_pixels=max_pixels, max_seconds=max_seconds, indices=indices, quiet=quiet, verbose=verbose,
                output=output, many=len(inputs) > 1, stdout=to_stdout, threads=threads, jobs=jobs)
    _run_all(_decompress_one, [(src, None) for src in inputs], opts, jobs)


def _decompress_one(src: str, _dst: None, o: dict) -> str:
    from vqcodec import api
    from vqcodec.codec import container

    _threads(o)
    with (sys.stdin.buffer if _is_stdin(src) else open(src, "rb")) as f:
        header = container.read_header(f)
        if o["indices"]:
            import numpy as np

            idx = api.decode_stream_indices(f, header, o["model"])
            with api.atomic_output(o["indices"], o["force"]) as out:
                np.save(out, idx)
            return f"{src} -> {o['indices']}: indices {idx.shape}" if o["verbose"] else ""
        image = header.modality == container.IMAGE
        to_stdout = o["stdout"] or (_is_stdin(src) and o["output"] is None)
        dst = None if to_stdout else _decompressed_name(src, o["output"], o["many"], image)
        if image:
            rgb, ch = api.decompress_image_from(f, header, o["model"], o["max_pixels"])
            with _output(dst, o["force"]) as out:
                api.write_image(rgb, ch, out, "PNG" if dst is None else _image_format(dst))
            detail = f"{rgb.shape[1]}x{rgb.shape[0]}"
        else:
            out_rate, out_ch, blocks = api.decode_audio_blocks(
                f, header, o["model"], o["rate"], o["channels"], batch_records=1 if dst is None else 16,
                on_damage=lambda n: _say(o["quiet"], f"vqcodec: warning: {n} damaged chunk(s) replaced by silence"),
                max_seconds=o["max_seconds"])
            fmt = ("raw" if o["raw"] else "wav-stream") if dst is None else ("raw" if o["raw"] else _audio_format(dst))
            with _output(dst, o["force"]) as out:
                n = api.write_audio(blocks, out_rate, out_ch, out, fmt, flush=dst is None)
            detail = f"{n / out_rate:.2f} s at {out_rate} Hz, {out_ch} ch"
    return f"{src} -> {dst or 'stdout'}: {detail}" if o["verbose"] else ""


def _decompressed_name(src: str, output: Optional[str], many: bool, image: bool) -> Optional[str]:
    from vqcodec.api import AUDIO_SUFFIXES, IMAGE_SUFFIXES

    base = Path(src).name
    base = base[: -len(VQC)] if base.endswith(VQC) else base + ".out"
    suffix = Path(base).suffix.lower()
    if image:
        base = str(Path(base).with_suffix(".png")) if suffix in IMAGE_SUFFIXES else base + ".png"
    elif suffix not in AUDIO_SUFFIXES:
        base += ".wav"
    if output and (many or Path(output).is_dir()):
        if not Path(output).is_dir():
            raise UsageError(f"{output}: not a directory (several inputs need -o DIR)")
        return str(Path(output) / base)
    if output:
        return output
    return None if _is_stdin(src) else str(Path(src).parent / base)


def _image_format(path: str) -> str:
    from PIL import Image

    Image.init()
    fmt = Image.EXTENSION.get(Path(path).suffix.lower())
    if fmt is None:
        raise UsageError(f"{path}: unknown image format (use .png, .jpg, .webp, ...)")
    return fmt


def _audio_format(path: str) -> str:
    fmt = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".raw": "raw", ".pcm": "raw"}.get(
        Path(path).suffix.lower())
    if fmt is None:
        raise UsageError(f"{path}: unknown audio format (use .wav, .flac, .ogg or --raw)")
    return fmt
