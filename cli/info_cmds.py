"""`vqcodec info` and `vqcodec models`: describe streams and the bundled models, without
loading a model (or numpy)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List

import typer

from .errors import guarded, refuse_terminal_input


def _is_stdin(p: str) -> bool:
    return p == "-"


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

    refuse_terminal_input(files)
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
    cells = [cols] + [(r["name"], r["kind"],
                       _ids(r),
                       f"{r['megabytes']:.2f} MB",
                       _levels(r["levels"], r["default_level"], r["telephone_default"]), str(r["rate"]),
                       str(r["quality"])) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(cols))]
    for c in cells:  # plain columns: rich's import would cost more than the command itself
        print("  ".join(v.ljust(w) for v, w in zip(c, widths)).rstrip())


def _ids(r: dict) -> str:
    """The ids a model's streams carry: the one its encoders write first."""
    ids = f"{r['wideband_id']} (first prior {r['id']})" if r["wideband_id"] else r["id"]
    return ids + (f", telephone {r['telephone_id']}" if r["telephone_id"] else "")


def _levels(n: int, default: int, telephone: float | None = None) -> str:
    if n == 1:
        return "1"
    return f"1-{n} (default {default}" + (f", telephone {telephone})" if telephone else ")")
