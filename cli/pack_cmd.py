"""`vqcodec pack`: a folder of audio or images -> a memory-mapped training pack."""

from __future__ import annotations

from pathlib import Path
from typing import List

import typer

from .errors import fail, guarded


@guarded
def pack(
    kind: str = typer.Argument(..., metavar="KIND", help="'image' or 'speech'."),
    inputs: List[str] = typer.Argument(..., metavar="INPUT...", help="Folders (searched recursively) or files."),
    out: str = typer.Option(..., "-o", "--out", help="The pack to write: NAME.npy, with its index NAME.json."),
    rate: int = typer.Option(16000, "--rate", help="Speech: sample rate of the pack (the model's rate)."),
    max_side: int = typer.Option(0, "--max-side", help="Images: shrink longer sides to this (0: keep)."),
    force: bool = typer.Option(False, "-f", "--force", help="Overwrite an existing pack."),
    quiet: bool = typer.Option(False, "-q", "--quiet"),
) -> None:
    """Pack training data for `vqcodec train --data NAME.npy`: one flat array that training
    memory-maps (memory does not grow with the corpus), and an index of where every example
    came from. Files are read one at a time; unreadable ones are skipped and listed."""
    from vqcodec.kinds import KINDS

    if kind not in KINDS:
        fail(f"unknown kind {kind!r}: use {' or '.join(map(repr, KINDS))}", 1)
    if not out.endswith(".npy"):
        fail(f"{out}: name the pack NAME.npy", 1)
    if Path(out).exists() and not force:
        fail(f"{out} already exists (use --force to overwrite)", 4)
    parent = Path(out).resolve().parent
    if not parent.is_dir():
        fail(f"-o {out}: directory {parent} does not exist", 4)
    if not 1000 <= rate <= 384000:
        fail(f"--rate {rate} is not a plausible sample rate", 1)
    if max_side < 0:
        fail("--max-side must be positive", 1)
    for src in inputs:
        if not Path(src).exists():
            fail(f"{src}: no such file or folder", 2)
    from rich.console import Console

    from vqcodec.train.packs import write_pack

    from .progress import FileProgress

    err = Console(stderr=True)
    with FileProgress(err, "packing", enabled=not quiet) as progress:
        index = write_pack(kind, inputs, out, rate=rate, max_side=max_side, progress=progress.update)
    if quiet:
        return
    for s in index["skipped"]:
        err.print(f"vqcodec: warning: skipped {s['source']}: {s['error']}", highlight=False, markup=False, soft_wrap=True)
    size = Path(out).stat().st_size / 1e6
    what = f"{index['seconds'] / 3600:.2f} h at {rate} Hz" if kind == "speech" else "images"
    err.print(f"packed {index['count']} files ({what}, {size:.1f} MB), skipped {len(index['skipped'])} -> {out}",
              highlight=False, markup=False, soft_wrap=True)
