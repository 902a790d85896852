"""The `vqcodec` command line: argument parsing, defaults, progress and errors. No modelling here.

Heavy imports (torch) happen inside the commands, so `vqcodec --help` and `--version` are fast,
and a process builds only the command it runs (`run`).
Exit codes: 0 success, 1 usage (including every option Typer rejects), 2 bad data, 3 model problem, 4 output problem, 130 interrupted,
143 / 129 terminated (SIGTERM / SIGHUP), 141 reader closed the pipe.
"""

from __future__ import annotations

import gc
import importlib
import os
import sys

import typer

from .errors import OneLineErrors, PlainMetavars

HELP = ("Neural compression of images and low-bitrate speech (VQ-VAE + integer PixelCNN prior "
        "+ range coding).")
# Every command, in the order --help lists them: name -> (module of cli, object); an object
# that is a Typer is a group of subcommands.
COMMANDS = {
    "compress": ("codec_cmds", "compress"),
    "decompress": ("codec_cmds", "decompress"),
    "info": ("info_cmds", "info"),
    "models": ("info_cmds", "models"),
    "train": ("train_cmd", "train"),
    "pack": ("pack_cmd", "pack"),
    "sample": ("sample_cmd", "sample"),
    "bench": ("bench_cmd", "bench_app"),
    "eval": ("eval_cmd", "eval_app"),
}


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        print(f"vqcodec {version('vqcodec')}")
        raise typer.Exit()


def main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="Show the version and exit.")) -> None:
    """vqcodec: compress photos and speech with learned codecs."""


def make_app(only: str | None = None) -> typer.Typer:
    """The command line with every command, or with the command named `only` alone."""
    app = typer.Typer(cls=OneLineErrors, add_completion=True, no_args_is_help=True,
                      rich_markup_mode=None, help=HELP)
    app.callback()(main)
    for name, (module, attr) in COMMANDS.items():
        if only not in (None, name):
            continue
        command = getattr(importlib.import_module(f".{module}", __package__), attr)
        if isinstance(command, typer.Typer):
            app.add_typer(command, name=name)
        else:
            app.command(cls=PlainMetavars)(command)
    return app


def __getattr__(name: str):
    """`app`, with every command, made when first imported (tests run it in-process)."""
    if name == "app":
        globals()["app"] = app = make_app()
        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def run() -> None:
    """Console-script entry point. A process runs one command, so when the first argument
    names one, only that command is built: importing and building the others (their modules,
    options and help) took 10 ms of every `vqcodec info` or `compress`. Anything else
    (`--help`, a completion, a name that is no command) gets them all."""
    from .interrupt import Terminated, terminate_on_signals

    # Standard error closed (`2>&-`): print(file=None) would put the messages into the data on
    # stdout. /dev/null also takes descriptor 2, so no output file opened later gets it.
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")
    # OpenBLAS's idle threads spin for 2**28 cycles (~0.1 s) after starting and after every
    # parallel product before they sleep: a core taken from our other thread or from other
    # work (10 s of speech at --threads 2 under load took 1.6 s to compress instead of 0.9).
    # 2**20 (~0.3 ms) was as fast as 2**28 on a quieter machine and as 2**16 under load. Read
    # when numpy is first imported, which the commands do after this.
    if "OPENBLAS_THREAD_TIMEOUT" not in os.environ:
        os.environ["OPENBLAS_THREAD_TIMEOUT"] = "20"
        os.environ["VQCODEC_SET_OPENBLAS_TIMEOUT"] = "1"  # ours: `bench cli` leaves it out
    # A command makes some 30k objects that live to its end (the modules it imports, its
    # model): the collector's 40-odd passes over them took 5-9 ms of each compress or
    # decompress. A pass every 100k new objects still bounds a long stream's cyclic garbage.
    gc.set_threshold(100_000)
    terminate_on_signals()
    first = sys.argv[1] if len(sys.argv) > 1 else None
    try:
        make_app(first if first in COMMANDS else None)()
    except Terminated as exc:  # before the command's own handler (`guarded`): while its
        print("vqcodec: terminated", file=sys.stderr)  # module loads, or its options parse
        raise SystemExit(128 + exc.signum) from None
    finally:
        # The command is over and its files are closed. The interpreter's last collections
        # at exit went over every object it made (modules, the model): 20-30 ms of each
        # process. Frozen, they are skipped; the memory goes back with the process.
        gc.freeze()


if __name__ == "__main__":
    run()
