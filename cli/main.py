"""The `vqcodec` command line: argument parsing, defaults, progress and errors. No modelling here.

Heavy imports (torch) happen inside the commands, so `vqcodec --help` and `--version` are fast.
Exit codes: 0 success, 1 usage (including every option Typer rejects), 2 bad data, 3 model problem, 4 output problem, 130 interrupted,
143 / 129 terminated (SIGTERM / SIGHUP), 141 reader closed the pipe.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List

import typer

from .errors import OneLineErrors, PlainMetavars, fail, guarded

app = typer.Typer(cls=OneLineErrors, add_completion=True, no_args_is_help=True, rich_markup_mode=None,
                  help="Neural compression of images and low-bitrate speech (VQ-VAE + integer "
                       "PixelCNN prior + range coding).")


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


# -- info and models ------------------------------------------------------------------------
@guarded
def info(
    files: List[str] = typer.Argument(..., metavar="INPUT", help=".vqc files ('-' for stdin)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Describe .vqc streams (header, sizes, bitrate) without loading a model.

    A stream that breaks off, breaks a limit or has damaged chunks is described as far as it
    goes, with a line on stderr, and the exit status is 2 (1 for a folder); the other files
    are still described."""
    from vqcodec.codec.describe import describe
    from vqcodec.errors import VQCodecError

    results, code = [], 0
    for src in files:
        r: dict = {"file": src}
        status, named = 2, True  # a file's own problems name it; a stream's only among several
        if Path(src).is_dir():
            r["error"], status = "is a directory (name the files in it)", 1
        elif not _is_stdin(src) and not Path(src).exists():
            r["error"] = "no such file"
        else:
            named = len(files) > 1
            try:
                with (sys.stdin.buffer if _is_stdin(src) else open(src, "rb")) as f:
                    r.update(describe(f))
            except (VQCodecError, OSError) as exc:
                r["error"] = getattr(exc, "strerror", None) or str(exc)
        if "error" in r:
            print(f"vqcodec: error: {src + ': ' if named else ''}{r['error']}", file=sys.stderr)
            code = max(code, status)
        if len(r) > 2:  # described, at least in part (an unreadable file has its line on stderr)
            results.append(r)
    if as_json and results:
        print(json.dumps(results if len(files) > 1 else results[0], indent=2))
    for r in results if not as_json else []:
        for k, v in r.items():
            print(f"{k:>16}: {v}")
        if len(results) > 1:
            print()
    if code:
        raise typer.Exit(code)


@guarded
def models(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the bundled models with their levels (image --quality, speech --stages), rate and
    measured quality."""
    from vqcodec.codec.describe import bundled_models

    rows = bundled_models()
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    cols = ("name", "kind", "model id", "size", "levels", "rate", "quality")
    cells = [cols] + [(r["name"], r["kind"], r["id"], f"{r['megabytes']:.1f} MB",
                       _levels(r["levels"], r["default_level"]), str(r["rate"]),
                       str(r["quality"])) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(cols))]
    for c in cells:  # plain columns: rich's import would cost more than the command itself
        print("  ".join(v.ljust(w) for v, w in zip(c, widths)).rstrip())


def _levels(n: int, default: int) -> str:
    return "1" if n == 1 else f"1-{n} (default {default})"


def _register_subcommands() -> None:
    from .bench_cmd import bench_app
    from .codec_cmds import compress, decompress
    from .pack_cmd import pack
    from .sample_cmd import sample
    from .train_cmd import train

    for command in (compress, decompress, info, models, train, pack, sample):
        app.command(cls=PlainMetavars)(command)

    from .eval_cmd import eval_app

    app.add_typer(bench_app, name="bench")
    app.add_typer(eval_app, name="eval")


_register_subcommands()


def run() -> None:
    """Console-script entry point."""
    from .interrupt import terminate_on_signals

    terminate_on_signals()
    app()


if __name__ == "__main__":
    run()
