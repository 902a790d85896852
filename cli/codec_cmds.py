"""`vqcodec compress` and `vqcodec decompress`: options, several files, --jobs, messages.

The work for one file is vqcodec.api.compress_file / decompress_file; this module only parses,
checks what can be checked before any work, and reports.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Callable, List, Optional

import typer

from vqcodec.codec.params import DEFAULT_MAX_PIXELS, DEFAULT_MAX_SECONDS

from .errors import fail, guarded, refuse_terminal_input
from .interrupt import GracefulStop



def _is_stdin(p: str) -> bool:
    return p == "-"


def _say(quiet: bool, msg: str) -> None:
    """One plain line on stderr: never wrapped or restyled, whether a terminal or a pipe."""
    if not quiet and msg:
        print(msg, file=sys.stderr, flush=True)


def _check_limits(max_pixels: int, max_seconds: float, jobs: int) -> None:
    if max_pixels < 1:
        fail("--max-pixels must be at least 1", 1)
    if not max_seconds > 0:
        fail("--max-seconds must be positive", 1)
    if jobs < 1:
        fail("--jobs must be at least 1", 1)


def _check_inputs(inputs: List[str]) -> None:
    if inputs.count("-") > 1:
        fail("standard input can be read only once; give '-' once", 1)
    for src in inputs:
        if _is_stdin(src):
            continue
        if Path(src).is_dir():
            fail(f"{src}: is a directory (name the files in it)", 1)
        if not Path(src).is_file():
            fail(f"{src}: no such file", 2)


def _stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def _refuse_terminal(force: bool) -> None:
    """Binary output (a stream, audio, an image) on a terminal is refused unless forced, as
    gzip and zstd do: it garbles the terminal and is lost. A closed one (`>&-`: Python has no
    sys.stdout) is an output problem."""
    if sys.stdout is None:
        fail("standard output is closed", 4)
    if not force and _stdout_is_terminal():
        fail("refusing to write binary data to a terminal; redirect it or use -o FILE", 1)


def _refuse_shared_outputs(pairs: list[tuple[str, str | None]]) -> None:
    """Several inputs whose outputs would be the same file (x.wav from two folders into one):
    refused before any work, since the second would overwrite the first."""
    seen: dict[str, str] = {}
    for src, dst in pairs:
        if dst is None:
            continue
        key = str(Path(dst).resolve())
        if key in seen:
            fail(f"{seen[key]} and {src} would both be written to {dst}", 1)
        seen[key] = src


def _compress_one(src: str, dst: str | None, opts, stop: GracefulStop | None = None) -> dict:
    """api.compress_file; then, for a --stream whose input failed midway (`stop` holds the
    error), the error: the audio before it was coded and the stream closed, so it is kept."""
    from vqcodec import api
    from vqcodec.errors import VQCodecError

    try:
        result = api.compress_file(src, dst, opts)
    except VQCodecError:
        error = stop.take_error() if stop else None
        if error is None:
            raise
        raise error from None  # it came first: no audio had arrived ("empty input")
    error = stop.take_error() if stop else None
    if error is not None:
        raise type(error)(f"{error}; the audio before it was coded and the stream closed") from None
    return result


def _run_all(fn: Callable, tasks: list[tuple], report: Callable[[dict], str], jobs: int) -> None:
    """Run fn(*task) for every task; with several tasks, report each failure on one line,
    carry on, and exit with the highest error code."""
    from vqcodec.errors import VQCodecError

    if len(tasks) == 1:
        report(fn(*tasks[0]))
        return
    codes = []

    def one(src: str, call: Callable) -> None:
        try:
            report(call())
        except VQCodecError as exc:
            named = str(exc).startswith(f"{src}: ")  # some messages name their file already
            print(f"vqcodec: error: {'' if named else src + ': '}{exc}", file=sys.stderr)
            codes.append(exc.exit_code)

    if jobs > 1:
        from concurrent.futures import ProcessPoolExecutor, as_completed  # 20 ms: only for --jobs

        import multiprocessing

        from .interrupt import in_worker, worker_started

        stop = multiprocessing.get_context().Event()
        pool = ProcessPoolExecutor(max_workers=jobs, initializer=worker_started, initargs=(stop,))
        try:
            futures = {pool.submit(in_worker, fn, *t): t[0] for t in tasks}
            for fut in as_completed(futures):
                one(futures[fut], fut.result)
        except BaseException:  # Ctrl-C, SIGTERM: stop now, not after the queued files
            stop.set()
            _stop_workers(pool)
            raise
        pool.shutdown()
    else:
        for t in tasks:
            one(t[0], lambda t=t: fn(*t))
    if codes:
        raise typer.Exit(max(codes))


def _stop_workers(pool) -> None:
    """Cancel what has not started and end the files being coded: each worker gets SIGTERM,
    which unwinds the file it is coding (removing its temporary output) and ends it
    (cli.interrupt.worker_started); files already queued to a worker are skipped."""
    import os
    import signal

    pool.shutdown(wait=False, cancel_futures=True)
    for pid in list(getattr(pool, "_processes", None) or {}):  # {pid: process}
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)


def _threads(n: Optional[int], jobs: int) -> None:
    """Settle the thread pools once: --threads, else the idle cores shared among --jobs."""
    from vqcodec import threads

    if n is not None and n < 1:
        fail("--threads must be at least 1", 1)
    threads.configure(n or (max(1, threads.default_threads() // jobs) if jobs > 1 else None))


def _coding(fn: Callable, verb: str, quiet: bool, jobs: int) -> Callable:
    """fn, with a progress bar per file on stderr when it is a terminal (one job, not -q)."""
    if quiet or jobs > 1 or not sys.stderr.isatty():
        return fn  # and rich is not imported: it costs more than a small file's coding
    from rich.console import Console

    from .progress import with_progress

    return with_progress(fn, verb, Console(stderr=True))


def _reporter(as_json: bool, verbose: bool, quiet: bool, line: Callable[[dict], str]):
    def report(result: dict) -> None:
        if as_json:
            print(json.dumps(result), flush=True)
        elif verbose:
            _say(quiet, line(result))

    return report


# -- compress -------------------------------------------------------------------------------
@guarded
def compress(
    inputs: List[str] = typer.Argument(..., metavar="INPUT", help="Image or audio files; '-' reads stdin."),
    output: Optional[str] = typer.Option(None, "-o", "--output", metavar="PATH",
                                         help="Output file, '-' for stdout, or a directory for several inputs."),
    model: Optional[str] = typer.Option(None, "--model", "-m", metavar="MODEL", help="Model file or bundled name."),
    force: bool = typer.Option(False, "-f", "--force", help="Overwrite existing outputs."),
    stdout: bool = typer.Option(False, "-c", "--stdout", help="Write to standard output."),
    raw: bool = typer.Option(False, "--raw", help="Input is headerless s16le PCM."),
    rate: Optional[int] = typer.Option(None, "--rate", "-r", metavar="HZ", help="Sample rate of --raw input."),
    channels: Optional[int] = typer.Option(None, "--channels", metavar="N", show_default="1",
                                           help="Channels of --raw input."),
    stages: Optional[float] = typer.Option(None, "--stages", metavar="N", show_default="the model's default",
                                           help="Speech: residual VQ stages to code (rate control); a fraction codes the last stage on that share of the frames, e.g. 2.5."),
    kbps: Optional[float] = typer.Option(None, "--kbps", metavar="X", help="Speech: the most stages (in 1/256 steps) whose file fits X kbit/s, headers included; reads the whole input first and codes it several times (not with --stream)."),
    quality: Optional[int] = typer.Option(None, "--quality", metavar="Q", show_default="the middle level, ceil(N/2)",
                                          help="Images: quality level 1..N of the model (higher is better; `vqcodec models` lists N)."),
    bpp: Optional[float] = typer.Option(None, "--bpp", metavar="X", help="Images: the highest level whose file fits X bits per pixel."),
    colour: Optional[bool] = typer.Option(None, "--colour-correction/--no-colour-correction", show_default="with",
                                          help="Images: send a map of local colour means (about 0.002 bpp) and paint flat 8x8 blocks exactly. Without both, a level within the model's VQ stages is written as format version 1 or 2, as older vqcodec wrote and reads; a detail level above them (the bundled model's 2 to 8, the default among them) stays version 8, with no colour map."),
    stream: bool = typer.Option(False, "--stream", help="Speech: code and flush chunk by chunk as input arrives."),
    chunk_ms: Optional[int] = typer.Option(None, "--chunk-ms", metavar="MS", help="Speech: chunk length in whole 20 ms frames, rounded up (default 1000, 200 with --stream)."),
    low_latency: Optional[bool] = typer.Option(None, "--low-latency/--full-context", show_default="low latency with --stream",
                                               help="Speech: the decoder emits each chunk at once (padded right context) or waits for the next chunk's first frames."),
    level_control: Optional[bool] = typer.Option(None, "--level-control/--no-level-control", show_default="with",
                                                 help="Speech: scale each chunk towards the level the model was trained at and send the gain (1 byte a chunk; quiet recordings keep their quality); without it the stream is format version 1, 3 or 6, as older vqcodec wrote and reads."),
    codes: Optional[str] = typer.Option(None, "--codes", metavar="SET", show_default="auto",
                                        help="Speech: the model's code set, auto, wideband or telephone (for speech heard through a telephone: 8 kHz, GSM); auto takes the one that fits the first 5 s best (the first chunk with --stream)."),
    max_pixels: int = typer.Option(DEFAULT_MAX_PIXELS, "--max-pixels", metavar="N", help="Refuse larger images."),
    max_seconds: float = typer.Option(DEFAULT_MAX_SECONDS, "--max-seconds", metavar="S", help="Refuse longer audio files."),
    jobs: int = typer.Option(1, "--jobs", "-j", metavar="N", help="Files to work on in parallel."),
    threads: Optional[int] = typer.Option(None, "--threads", metavar="N", help="Threads for the numeric work (default: the idle cores, shared by --jobs)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per file on stdout."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No messages."),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="Report sizes and rates."),
) -> None:
    """Compress images (PNG, JPEG, ...) or speech (wav, flac, ogg, mp3, raw PCM) to .vqc streams."""
    from vqcodec import api

    if stdout and output not in (None, "-"):
        fail("give -c/--stdout or -o, not both", 1)
    to_stdout = stdout or output == "-"
    if len(inputs) > 1 and to_stdout:
        fail("several inputs cannot all go to stdout", 1)
    if as_json and (to_stdout or (_is_stdin(inputs[0]) and output is None)):
        fail("--json prints on stdout, so the stream needs -o", 1)
    if chunk_ms is not None and not 20 <= chunk_ms <= 60000:
        fail("--chunk-ms must be between 20 and 60000", 1)
    if stages is not None and stages < 1:
        fail("--stages must be at least 1", 1)
    if kbps is not None and not 0 < kbps < float("inf"):
        fail("--kbps must be a positive number", 1)
    if kbps is not None and stages is not None:
        fail("give --stages or --kbps, not both", 1)
    if quality is not None and quality < 1:
        fail("--quality must be at least 1", 1)
    if bpp is not None and not bpp > 0:
        fail("--bpp must be a positive number", 1)
    if quality is not None and bpp is not None:
        fail("give --quality or --bpp, not both", 1)
    _check_limits(max_pixels, max_seconds, jobs)
    _check_inputs(inputs)
    refuse_terminal_input(inputs, force)
    _threads(threads, jobs)
    tasks = [(src, None if to_stdout else api.files.compressed_name(src, output, len(inputs) > 1))
             for src in inputs]
    if any(dst is None for _, dst in tasks):
        _refuse_terminal(force)
    for src, dst in tasks:
        api.files.check_not_input(src, dst)
    _refuse_shared_outputs(tasks)
    stop = GracefulStop()  # Ctrl-C / SIGTERM end a live stream cleanly instead of the process
    opts = api.Options(model=model, force=force, raw=raw, rate=rate, channels=channels,
                       stages=stages, kbps=kbps, quality=quality, bpp=bpp, colour=colour, stream=stream,
                       low_latency=low_latency, level_control=level_control, codes=codes,
                       chunk_frames=-(-chunk_ms // 20) if chunk_ms else None,  # whole frames, up
                       max_pixels=max_pixels, max_seconds=max_seconds,
                       audio_blocks=stop.blocks if stream else None,
                       on_clipped=(lambda peak, at: _say(quiet, (
                           f"vqcodec: warning: float samples beyond full scale from {at:.3f} s "
                           f"(peak {peak:.3g}) are clipped to [-1, 1]"))) if jobs == 1 else None)
    for _, dst in tasks:
        if dst is not None:
            api.files.check_output(dst, force)
    report = _reporter(as_json, verbose, quiet, lambda r: (
        f"{r['input']} -> {r['output']}: {r['bytes']} bytes, "
        + (f"{r['bpp']:.4f} bpp at level {r['level']}" if "bpp" in r
           else f"{r['bit_per_second']:.0f} bit/s at {r['stages']:g} stages"
           + (f" ({r['codes']} codes)" if r.get("codes", "wideband") != "wideband" else ""))
        + (f" (detail layer {r['detail_bytes']} bytes; index stream"
           if r.get("detail_bytes") else " (payload")
        + f" {r['overhead_percent']:+.2f}% vs the prior's ideal)"))
    from vqcodec.errors import VQCodecError

    try:
        with stop if stream else contextlib.nullcontext():
            _run_all(_coding(_compress_one, "compressing", quiet, jobs),
                     [(src, dst, opts, stop if stream else None) for src, dst in tasks], report, jobs)
    except VQCodecError:
        if stop.exit_code is None:
            raise
        fail("interrupted before any audio arrived", stop.exit_code)
    if stop.exit_code is not None:
        _say(False, "vqcodec: interrupted; the stream was closed and decodes completely")
        raise typer.Exit(stop.exit_code)


# -- decompress -----------------------------------------------------------------------------
@guarded
def decompress(
    inputs: List[str] = typer.Argument(..., metavar="INPUT", help=".vqc files; '-' reads stdin."),
    output: Optional[str] = typer.Option(None, "-o", "--output", metavar="PATH",
                                         help="Output file (format from its extension), '-' for stdout, or a directory."),
    model: Optional[str] = typer.Option(None, "--model", "-m", metavar="MODEL", help="Model file (default: the bundled model the stream names)."),
    force: bool = typer.Option(False, "-f", "--force", help="Overwrite existing outputs."),
    stdout: bool = typer.Option(False, "-c", "--stdout", help="Write to standard output."),
    raw: bool = typer.Option(False, "--raw", help="Speech: write headerless s16le PCM."),
    rate: Optional[int] = typer.Option(None, "--rate", "-r", metavar="HZ", help="Speech: output sample rate (default: the input's)."),
    channels: Optional[int] = typer.Option(None, "--channels", metavar="N", help="Speech: output channels (default: the input's)."),
    conceal: bool = typer.Option(False, "--conceal", help="Speech: replace damaged chunks by silence (a warning each) instead of failing."),
    postfilter: Optional[bool] = typer.Option(None, "--postfilter/--no-postfilter", show_default="with",
                                              help="Speech: the decoder's pitch postfilter, which cleans up voiced sounds (16 kHz models; README)."),
    max_pixels: int = typer.Option(DEFAULT_MAX_PIXELS, "--max-pixels", metavar="N", help="Refuse streams claiming larger images."),
    max_seconds: float = typer.Option(DEFAULT_MAX_SECONDS, "--max-seconds", metavar="S", help="Refuse audio streams longer than this."),
    indices: Optional[str] = typer.Option(None, "--indices", metavar="NPY", help="Write the decoded codebook indices to this .npy instead of media."),
    jobs: int = typer.Option(1, "--jobs", "-j", metavar="N", help="Files to work on in parallel."),
    threads: Optional[int] = typer.Option(None, "--threads", metavar="N", help="Threads for the numeric work (default: the idle cores, shared by --jobs)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per file on stdout."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No messages."),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="Report what was written."),
) -> None:
    """Decompress .vqc streams back to images (PNG by default) or audio (WAV by default).

    Decoding is strict: a damaged stream is an error (exit 2) and nothing is written, unless
    --conceal is given."""
    from vqcodec import api, kinds

    if stdout and output not in (None, "-"):
        fail("give -c/--stdout or -o, not both", 1)
    to_stdout = stdout or output == "-"
    if len(inputs) > 1 and (to_stdout or indices):
        fail("several inputs cannot all go to one output", 1)
    if indices and (output is not None or stdout or raw or rate is not None or channels is not None
                    or postfilter is not None):
        fail("--indices writes the codebook indices instead of media; -o, -c, --raw, --rate, "
             "--channels and --(no-)postfilter do not apply", 1)
    if as_json and (to_stdout or (_is_stdin(inputs[0]) and output is None and not indices)):
        fail("--json prints on stdout, so the output needs -o", 1)
    _check_limits(max_pixels, max_seconds, jobs)
    _check_inputs(inputs)
    refuse_terminal_input(inputs, force)
    if to_stdout or (not indices and output is None and any(map(_is_stdin, inputs))):
        _refuse_terminal(force)
    opts = api.Options(model=model, force=force, raw=raw, rate=rate, channels=channels,
                       max_pixels=max_pixels, max_seconds=max_seconds, conceal=conceal,
                       postfilter=postfilter)
    if output and not to_stdout and not Path(output).is_dir() and len(inputs) == 1 and not indices:
        api.files.check_not_input(inputs[0], output)
        api.files.check_output(output, force)
        header = None if _is_stdin(inputs[0]) else api.files.stream_header(inputs[0])
        if header is not None:  # the stream's own kind judges the name (a stdin's, once read)
            kinds.get(header.kind).output_format(output, header, opts)
    if indices:
        api.files.check_output(indices, force)
    if len(inputs) > 1 and not to_stdout:
        _refuse_shared_outputs([(src, api.files.decompressed_output(src, output)) for src in inputs])
    damaged = []

    def on_damage(n: int) -> None:
        damaged.append(n)
        _say(quiet, f"vqcodec: warning: {n} damaged chunk(s) replaced by silence")

    def on_truncated(seconds: float) -> None:
        _say(quiet, f"vqcodec: warning: the stream breaks off; decoded the {seconds:.2f} s before the break")

    _threads(threads, jobs)
    opts.on_damage = on_damage if jobs == 1 else None
    opts.on_truncated = on_truncated if jobs == 1 else None
    report = _reporter(as_json, verbose, quiet, lambda r: (
        f"{r['input']} -> {r['output']}: " + (f"indices {tuple(r['shape'])}" if "shape" in r else
                                              f"{r['width']}x{r['height']}" if "width" in r else
                                              f"{r['audio_seconds']:.2f} s at {r['rate']} Hz, {r['channels']} ch")))
    out = "-" if to_stdout else output
    _run_all(_coding(api.decompress_file, "decompressing", quiet, jobs),
             [(src, out, opts, len(inputs) > 1, indices) for src in inputs], report, jobs)
    if damaged:
        _say(quiet, f"vqcodec: warning: {sum(damaged)} damaged chunk(s) in all were concealed")
