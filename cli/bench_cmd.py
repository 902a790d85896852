"""`vqcodec bench ...`: benchmarks that print tables or JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from .errors import fail, guarded

bench_app = typer.Typer(help="Benchmarks: speed, whole-process start-up, streaming latency, and "
                             "the quantizer comparison.", no_args_is_help=True)


def _table(title: str, rows: list[dict], headers: dict[str, str] | None = None):
    """A rich table of `rows` (dicts) in the columns `headers` names (key -> header; default:
    every key, itself the header). Values wrap at their spaces but no word is cut: each
    column is at least as wide as its longest word (rich would print 0.912 as "0.8…" in a
    column squeezed narrower), so the headers must leave room for that, at 80 columns too."""
    from rich.table import Table

    headers = headers or {k: k for k in rows[0]}
    t = Table(title=title)
    for key, head in headers.items():
        words = [w for r in rows for w in str(r[key]).split()]
        t.add_column(head, min_width=max(map(len, words), default=0))
    for r in rows:
        t.add_row(*[str(r[key]) for key in headers])
    return t


def _print(*tables) -> None:
    from rich.console import Console

    console = Console()
    for t in tables:
        console.print(t)


@bench_app.command("speed")
@guarded
def speed(
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    image_model: Optional[str] = typer.Option(None, "--image-model"),
    speech_model: Optional[str] = typer.Option(None, "--speech-model"),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="Threads (default: the idle cores)."),
    quick: bool = typer.Option(False, "--quick", help="The 768x512 photo and speech only, no float baseline."),
    speech: Optional[str] = typer.Option(None, "--speech", metavar="FILE", help="Time this recording, repeated to 10 s, instead of a synthetic tone."),
) -> None:
    """Encode/decode times per image size and real-time factors for speech, with the plain
    float autoregressive decode beside the exact cached one (same run, same machine)."""
    from vqcodec import threads as pools
    from vqcodec.tools import bench_speed

    if speech is not None and not Path(speech).is_file():
        fail(f"{speech}: no such file", 2)
    pools.configure(threads)
    result = bench_speed.run(image_model, speech_model, quick, speech)
    if as_json:
        print(json.dumps(result, indent=2))
        return
    _print(*speed_tables(result))


# bench speed's image columns in two tables that fit 80 columns: result key -> header
IMAGE_COLUMNS = {"size": "size", "level": "level", "bytes": "bytes", "bpp": "bpp",
                 "compress_s": "compress s", "decompress_s": "decompress s"}
IMAGE_PART_COLUMNS = {"size": "size", "level": "level",
                      "compress_without_colour_map_s": "compress, no colour map",
                      "prior_decode_s": "prior decode", "decoder_net_s": "decoder net",
                      "prior_positions_per_s": "prior positions per s",
                      "naive_float_prior_decode_s": "naive float prior decode"}


def speed_tables(result: dict) -> list:
    """bench speed's result as rich tables: the images' sizes and times, the parts of their
    coding (seconds unless named), and speech."""
    images = result["images"]
    return [_table(f"images (threads: {result['threads']})", images, IMAGE_COLUMNS),
            _table("image coding in parts (s)", images, IMAGE_PART_COLUMNS),
            _table("speech", [{"metric": k, "value": v} for k, v in result["speech"].items()])]


@bench_app.command("cli")
@guarded
def cli_times(
    repeat: int = typer.Option(5, "--repeat", min=1, help="Runs of each command (median kept)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Whole-process times of --help, info, models, a usage error, and compress/decompress of a
    768x512 photo and 10 s of speech, each against `python -c "import numpy"` in the same run."""
    from vqcodec.tools import bench_cli

    result = bench_cli.run(repeat)
    if as_json:
        print(json.dumps(result, indent=2))
        return
    _print(_table(f"whole processes, median of {result['repeat']} (numpy import "
                  f"{result['numpy_import_s']} s, load {result['load_average']:.1f} on "
                  f"{result['cores']} cores)", result["rows"]))


@bench_app.command("stream")
@guarded
def stream(
    seconds: float = typer.Option(10.0, "--seconds", help="Audio to feed."),
    rate: int = typer.Option(8000, "--rate", help="Sample rate of the fed audio."),
    chunk_ms: int = typer.Option(200, "--chunk-ms", help="compress --stream chunk length."),
    busy: bool = typer.Option(True, "--busy/--idle", help="Keep one core busy elsewhere meanwhile."),
    low_latency: bool = typer.Option(True, "--low-latency/--full-context", help="The stream's synthesis schedule."),
    model: Optional[str] = typer.Option(None, "--model", help="Speech model (default: bundled)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Feed speech at real-time pace through `compress --stream - | decompress -` (processes)
    and report the latency from input to output per decoded block: median and worst."""
    import math

    if not (math.isfinite(seconds) and 0 < seconds <= 3600):
        fail(f"--seconds {seconds}: give more than 0 and at most 3600 seconds of audio to feed", 1)
    if not 1000 <= rate <= 768000:  # what compress --raw takes
        fail(f"--rate {rate} is not supported (1000..768000)", 1)
    if not 20 <= chunk_ms <= 60000:
        fail("--chunk-ms must be between 20 and 60000", 1)
    from vqcodec import api
    from vqcodec.tools import bench_stream

    api.get_model(model, "speech")  # a missing or image model: here, not in the pipeline's processes

    result = bench_stream.run(seconds, rate, chunk_ms, busy, model, low_latency)
    if as_json:
        print(json.dumps(result, indent=2))
    else:
        _print(_table("streaming latency (ms)", [{"metric": k, "value": v} for k, v in result.items()]))
    enc, dec = result["exit_codes"]
    if enc != 0 or dec != 0:  # the figures are then no measurement of the codec
        fail(f"the pipeline failed (compress exited {enc}, decompress {dec}); the figures "
             "above measure nothing", 2)


@bench_app.command("quantizers")
@guarded
def quantizers(
    image_data: str = typer.Option(..., "--image-data", help="Folder of training photos."),
    speech_data: str = typer.Option(..., "--speech-data", help="Folder of training speech."),
    image_val: Optional[str] = typer.Option(None, "--image-val", help="Held-out photos."),
    speech_val: Optional[str] = typer.Option(None, "--speech-val", help="Held-out speech."),
    seeds: int = typer.Option(3, "--seeds", help="Seeds per quantizer (0, 1, ...)."),
    image_steps: int = typer.Option(900, "--image-steps"),
    speech_steps: int = typer.Option(320, "--speech-steps"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    plot: Optional[str] = typer.Option(None, "--plot", help="Write learning curves (PNG)."),
) -> None:
    """STE vs EMA vs NSVQ on a small image and speech task over several seeds: mean and spread
    of reconstruction quality, quantisation error, perplexity and convergence (docs/QUANTIZERS.md)."""
    import sys

    if seeds < 1:
        fail(f"--seeds {seeds}: give at least 1", 1)
    for name, steps in {"--image-steps": image_steps, "--speech-steps": speech_steps}.items():
        if steps < 1:
            fail(f"{name} {steps}: give at least 1", 1)
    if plot is not None and not Path(plot).resolve().parent.is_dir():
        fail(f"--plot {plot}: directory {Path(plot).resolve().parent} does not exist", 4)
    from vqcodec.tools import bench_quantizers as bq

    result = bq.run_benchmark(image_data, speech_data, seeds=tuple(range(seeds)),
                              steps={"image": image_steps, "speech": speech_steps},
                              image_val=image_val, speech_val=speech_val,
                              progress=lambda msg: print(msg, file=sys.stderr))
    if plot:
        bq.plot_curves(result, plot)
    if as_json:
        keep = ("settings", "summary", "convergence")
        print(json.dumps({k: result[k] for k in keep}, indent=1, default=str))
    else:
        print(bq.markdown_table(result))


if __name__ == "__main__":
    bench_app()
