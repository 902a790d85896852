"""The `vqcodec` command line: argument parsing, defaults, progress and errors. No modelling here.

Heavy imports (torch) happen inside the commands, so `vqcodec --help` and `--version` are fast.
Exit codes: 0 success, 1 usage, 2 bad data, 3 model problem, 4 output problem, 130 interrupted,
141 reader closed the pipe.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

from .errors import fail, guarded

app = typer.Typer(add_completion=True, no_args_is_help=True, rich_markup_mode=None,
                  help="Neural compression of images and low-bitrate speech (VQ-VAE + integer "
                       "PixelCNN prior + range coding).")
err = Console(stderr=True)
VQC = ".vqc"


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        print(f"vqcodec {version('vqcodec')}")
        raise typer.Exit()


@app.callback()
def main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="Show the version and exit.")) -> None:
    """vqcodec: compress photos and speech with learned codecs."""


def _is_stdin(p: str) -> bool:
    return p == "-"


def _out_stream():
    return sys.stdout.buffer


def _say(quiet: bool, msg: str) -> None:
    if not quiet:
        err.print(msg, highlight=False)


# -- compress -------------------------------------------------------------------------------
@app.command()
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
    max_pixels: int = typer.Option(50_000_000, "--max-pixels", help="Refuse larger images."),
    max_seconds: float = typer.Option(86400.0, "--max-seconds", help="Refuse longer audio files."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No messages."),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="Report sizes and rates."),
) -> None:
    """Compress images (PNG, JPEG, ...) or speech (wav, flac, ogg, raw PCM) to .vqc streams."""
    from vqcodec import api

    if len(inputs) > 1 and (stdout or output == "-"):
        fail("several inputs cannot all go to stdout", 1)
    for src in inputs:
        to_stdout = stdout or output == "-" or (_is_stdin(src) and output is None)
        dst = None if to_stdout else _compressed_name(src, output, len(inputs) > 1)
        if not _is_stdin(src) and not Path(src).is_file():
            fail(f"{src}: no such file", 2)
        data_src = sys.stdin.buffer if _is_stdin(src) else src
        is_speech = raw or _looks_like_audio(src)
        with api.atomic_output(dst, force) if dst else _nullctx(_out_stream()) as out:
            if is_speech:
                chunk = chunk_ms or (200 if stream else 1000)
                if not 20 <= chunk <= 60000:
                    fail("--chunk-ms must be between 20 and 60000", 1)
                info, blocks = api.audio_source(data_src, raw, rate, channels, max_seconds)
                rep = api.compress_audio_to(blocks, info, out, model, stages,
                                            max(1, round(chunk / 20)), flush=stream)
                secs = rep.extra["samples"] / info.rate
                detail = f"{rep.output_bytes} bytes, {rep.output_bytes * 8 / max(secs, 1e-9):.0f} bit/s"
            else:
                data = data_src.read() if _is_stdin(src) else src
                rep = api.compress_image_to(data, out, model, max_pixels)
                px = rep.extra["width"] * rep.extra["height"]
                detail = f"{rep.output_bytes} bytes, {rep.output_bytes * 8 / px:.4f} bpp"
        if verbose:
            _say(quiet, f"{src} -> {dst or 'stdout'}: {detail} "
                        f"(payload {rep.payload_bytes * 8 / max(rep.ideal_bits, 1e-9) * 100 - 100:+.2f}% vs ideal)")


def _looks_like_audio(src: str) -> bool:
    from vqcodec.api import AUDIO_SUFFIXES

    if _is_stdin(src):
        return _stdin_head()[:4] in (b"RIFF", b"fLaC", b"OggS", b"FORM")
    if Path(src).suffix.lower() in AUDIO_SUFFIXES:
        return True
    with open(src, "rb") as f:
        return f.read(4) in (b"RIFF", b"fLaC", b"OggS", b"FORM")


def _stdin_head() -> bytes:
    return sys.stdin.buffer.peek(4)[:4] if hasattr(sys.stdin.buffer, "peek") else b""


def _compressed_name(src: str, output: Optional[str], many: bool) -> str:
    if output and (many or Path(output).is_dir()):
        if not Path(output).is_dir():
            fail(f"{output}: not a directory (several inputs need -o DIR)", 1)
        return str(Path(output) / (Path(src).name + VQC))
    if output:
        return output
    if _is_stdin(src):
        return None
    return src + VQC


class _nullctx:
    def __init__(self, value):
        self.value = value

    def __enter__(self):
        return self.value

    def __exit__(self, *exc):
        if exc[0] is None:
            self.value.flush()
        return False


# -- decompress -----------------------------------------------------------------------------
@app.command()
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
    max_pixels: int = typer.Option(50_000_000, "--max-pixels", help="Refuse streams claiming larger images."),
    indices: Optional[str] = typer.Option(None, "--indices", help="Write the decoded codebook indices to this .npy instead of media."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No messages."),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="Report what was written."),
) -> None:
    """Decompress .vqc streams back to images (PNG by default) or audio (WAV by default)."""
    from vqcodec import api, container

    if len(inputs) > 1 and (stdout or output == "-"):
        fail("several inputs cannot all go to stdout", 1)
    for src in inputs:
        if not _is_stdin(src) and not Path(src).is_file():
            fail(f"{src}: no such file", 2)
        f = sys.stdin.buffer if _is_stdin(src) else open(src, "rb")
        with f:
            header = container.read_header(f)
            if indices:
                import numpy as np

                idx = api.decode_stream_indices(f, header, model)
                with api.atomic_output(indices, force) as out:
                    np.save(out, idx)
                continue
            to_stdout = stdout or output == "-" or (_is_stdin(src) and output is None)
            dst = None if to_stdout else _decompressed_name(src, output, len(inputs) > 1,
                                                            header.modality == container.IMAGE)
            if header.modality == container.IMAGE:
                rgb, ch = api.decompress_image_from(f, header, model, max_pixels)
                fmt = "PNG" if dst is None else _image_format(dst)
                with api.atomic_output(dst, force) if dst else _nullctx(_out_stream()) as out:
                    api.write_image(rgb, ch, out, fmt)
                detail = f"{rgb.shape[1]}x{rgb.shape[0]}"
            else:
                out_rate, out_ch, blocks = api.decode_audio_blocks(
                    f, header, model, rate, channels, batch_records=1 if to_stdout else 16,
                    on_damage=lambda n: _say(quiet, f"vqcodec: warning: {n} damaged chunk(s) replaced by silence"))
                fmt = ("raw" if raw else "wav-stream") if dst is None else (
                    "raw" if raw else _audio_format(dst))
                with api.atomic_output(dst, force) if dst else _nullctx(_out_stream()) as out:
                    n = api.write_audio(blocks, out_rate, out_ch, out, fmt, flush=dst is None)
                detail = f"{n / out_rate:.2f} s at {out_rate} Hz, {out_ch} ch"
        if verbose:
            _say(quiet, f"{src} -> {dst or 'stdout'}: {detail}")


def _decompressed_name(src: str, output: Optional[str], many: bool, image: bool) -> str:
    from vqcodec.api import AUDIO_SUFFIXES, IMAGE_SUFFIXES

    base = Path(src).name
    base = base[: -len(VQC)] if base.endswith(VQC) else base + ".out"
    suffix = Path(base).suffix.lower()
    if image and suffix not in IMAGE_SUFFIXES | {".png"}:
        base += ".png"
    elif image:
        base = str(Path(base).with_suffix(".png"))
    elif not image and suffix not in AUDIO_SUFFIXES:
        base += ".wav"
    if output and (many or Path(output).is_dir()):
        if not Path(output).is_dir():
            fail(f"{output}: not a directory (several inputs need -o DIR)", 1)
        return str(Path(output) / base)
    if output:
        return output
    if _is_stdin(src):
        return None
    return str(Path(src).parent / base)


def _image_format(path: str) -> str:
    from PIL import Image

    Image.init()
    fmt = Image.EXTENSION.get(Path(path).suffix.lower())
    if fmt is None:
        fail(f"{path}: unknown image format (use .png, .jpg, .webp, ...)", 1)
    return fmt


def _audio_format(path: str) -> str:
    fmt = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".raw": "raw", ".pcm": "raw"}.get(
        Path(path).suffix.lower())
    if fmt is None:
        fail(f"{path}: unknown audio format (use .wav, .flac, .ogg or --raw)", 1)
    return fmt


# -- info and models ------------------------------------------------------------------------
@app.command()
@guarded
def info(
    files: List[str] = typer.Argument(..., help=".vqc files ('-' for stdin)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Describe .vqc streams (header, sizes, bitrate) without loading a model."""
    from vqcodec.inspect import describe

    results = []
    for src in files:
        if not _is_stdin(src) and not Path(src).is_file():
            fail(f"{src}: no such file", 2)
        with (sys.stdin.buffer if _is_stdin(src) else open(src, "rb")) as f:
            results.append({"file": src, **describe(f)})
    if as_json:
        print(json.dumps(results if len(results) > 1 else results[0], indent=2))
        return
    for r in results:
        for k, v in r.items():
            print(f"{k:>16}: {v}")
        if len(results) > 1:
            print()


@app.command()
@guarded
def models(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the bundled models with their rate and measured quality."""
    from vqcodec.inspect import bundled_models

    rows = bundled_models()
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    table = Table("name", "kind", "model id", "size", "rate", "quality")
    for r in rows:
        table.add_row(r["name"], r["kind"], r["id"], f"{r['megabytes']:.1f} MB", r["rate"], r["quality"])
    Console().print(table)


# -- training -------------------------------------------------------------------------------
@app.command()
@guarded
def train(
    kind: str = typer.Argument(..., help="'image' or 'speech'."),
    data: str = typer.Option(..., "--data", help="Folder of training images / wav+flac files (recursive), or a packed .npy."),
    out: str = typer.Option(..., "--out", help="Model file to write (checkpoint beside it: OUT.ckpt)."),
    steps: int = typer.Option(20000, "--steps", help="Autoencoder training steps."),
    prior_steps: int = typer.Option(10000, "--prior-steps", help="Prior training steps."),
    batch: int = typer.Option(16, "--batch"),
    lr: float = typer.Option(5e-4, "--lr"),
    quantizer: str = typer.Option("ema", "--quantizer", help="ste, ema or nsvq."),
    seed: int = typer.Option(0, "--seed"),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    precision: str = typer.Option("32", "--precision", help="32, bf16 or 16-mixed."),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUT.ckpt."),
    checkpoint_every: int = typer.Option(500, "--checkpoint-every"),
    val_data: Optional[str] = typer.Option(None, "--val-data", help="Held-out data for the summary."),
    config: Optional[str] = typer.Option(None, "--config", help='Model overrides as JSON, e.g. \'{"codebook_size": 256}\'.'),
    crop: int = typer.Option(64, "--crop", help="Image training crop size."),
    seconds: float = typer.Option(1.0, "--seconds", help="Speech training segment length."),
    prior_examples: int = typer.Option(2000, "--prior-examples", help="Examples encoded for the prior."),
    ae_minutes: float = typer.Option(0.0, "--ae-minutes", help="Wall-clock budget for the autoencoder (fewer steps if needed)."),
    prior_minutes: float = typer.Option(0.0, "--prior-minutes", help="Wall-clock budget for the prior."),
    quiet: bool = typer.Option(False, "-q", "--quiet"),
) -> None:
    """Train a VQ-VAE and its prior. Example on a GPU: vqcodec train speech --data D --out m.safetensors --device cuda --precision bf16"""
    if kind not in ("image", "speech"):
        fail(f"unknown kind {kind!r}: use 'image' or 'speech'", 1)
    if quantizer not in ("ste", "ema", "nsvq"):
        fail(f"unknown quantizer {quantizer!r}: use ste, ema or nsvq", 1)
    if precision not in ("32", "bf16", "16-mixed"):
        fail(f"unknown precision {precision!r}: use 32, bf16 or 16-mixed", 1)
    try:
        overrides = json.loads(config) if config else {}
    except json.JSONDecodeError as exc:
        fail(f"--config is not valid JSON ({exc.msg})", 1)
    from vqcodec.train import TrainOptions
    from vqcodec.train import train as run_training

    from .progress import TrainingProgress

    opts = TrainOptions(kind, data, Path(out), steps=steps, prior_steps=prior_steps, batch=batch,
                        lr=lr, quantizer=quantizer, seed=seed, device=device, precision=precision,
                        resume=resume, checkpoint_every=checkpoint_every, val_data=val_data,
                        model=overrides, crop=crop, seconds=seconds, prior_examples=prior_examples,
                        ae_minutes=ae_minutes, prior_minutes=prior_minutes)
    with TrainingProgress(err, enabled=not quiet) as progress:
        summary = run_training(opts, progress.update)
    if quiet:
        return
    from .progress import print_summary

    print_summary(err, summary)


# -- sampling ---------------------------------------------------------------------------------
@app.command()
@guarded
def sample(
    output: str = typer.Option(..., "-o", "--output", help="PNG grid (image models) or WAV path/folder (speech)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Model file or bundled name (default: the image model)."),
    scheme: str = typer.Option("prior", "--scheme", help="uniform, histogram or prior."),
    n: int = typer.Option(8, "-n", help="How many samples."),
    temperature: float = typer.Option(1.0, "--temperature", help="Prior sampling temperature."),
    seed: int = typer.Option(0, "--seed"),
    size: Optional[int] = typer.Option(None, "--size", help="Image side in pixels (default 128) or speech frames of 20 ms (default 150)."),
    data: Optional[str] = typer.Option(None, "--data", help="Recompute the code histogram from this folder."),
    compare: Optional[str] = typer.Option(None, "--compare", help="Run all three schemes and compare with real data in this folder."),
    as_json: bool = typer.Option(False, "--json", help="With --compare: print JSON."),
    force: bool = typer.Option(False, "-f", "--force"),
) -> None:
    """Generate from the latent space: uniform indices, the code histogram, or the PixelCNN prior."""
    from vqcodec import api, sampling

    m = api.get_model(model, "image") if model is None else api.load_any_model(model)
    size = size or (128 if m.kind == "image" else 150)
    if m.kind == "image" and (size < 8 or size % 8):
        fail("--size must be a positive multiple of 8 for images", 1)
    if not 1 <= n <= 256:
        fail("-n must be between 1 and 256", 1)
    if compare:
        table, outputs = sampling.compare(m, compare, n, size, seed)
        if m.kind == "image":
            import numpy as np

            strip = np.concatenate([np.pad(g, ((0, 0), (0, 8), (0, 0)), constant_values=255)
                                    for g in outputs.values()], axis=1)
            with api.atomic_output(output, force) as f:
                api.write_image(strip, 3, f, "PNG")
        if as_json:
            print(json.dumps(table, indent=2))
        else:
            from rich.table import Table

            cols = list(next(iter(table.values())).keys())
            t = Table("scheme", *cols)
            for name, row in table.items():
                t.add_row(name, *[str(row[c]) for c in cols])
            Console().print(t)
        return
    hist = sampling.collect_histogram(m, data) if data else None
    s = sampling.sample_indices(m, scheme, n, size, temperature, seed, hist)
    if m.kind == "image":
        with api.atomic_output(output, force) as f:
            api.write_image(sampling.render_images(m, s.indices), 3, f, "PNG")
    else:
        import soundfile as sf

        out = Path(output)
        paths = ([out.with_name(f"{out.stem}_{i}.wav") for i in range(n)] if out.suffix == ".wav"
                 else [out / f"sample_{i}.wav" for i in range(n)])
        if out.suffix != ".wav":
            out.mkdir(parents=True, exist_ok=True)
        for p, wave in zip(paths, sampling.render_speech(m, s.indices)):
            with api.atomic_output(p, force) as f:
                sf.write(f, wave, m.config.sample_rate, format="WAV", subtype="PCM_16")
    err.print(f"{scheme}: {n} samples, {s.bits_per_index:.3f} bits/index under the prior", highlight=False)


def _register_subcommands() -> None:
    from .bench_cmd import bench_app

    app.add_typer(bench_app, name="bench")
    try:
        from .eval_cmd import eval_app
    except ImportError:  # pragma: no cover - the eval commands are optional
        return
    app.add_typer(eval_app, name="eval")


_register_subcommands()


def run() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    run()
