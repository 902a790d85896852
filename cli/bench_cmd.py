"""`vqcodec bench ...`: benchmarks that print tables or JSON."""

from __future__ import annotations

import json
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from .errors import guarded

bench_app = typer.Typer(help="Benchmarks: speed (and quantizers, where available).", no_args_is_help=True)


@bench_app.command("speed")
@guarded
def speed(
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    image_model: Optional[str] = typer.Option(None, "--image-model"),
    speech_model: Optional[str] = typer.Option(None, "--speech-model"),
) -> None:
    """Encode/decode times per image size and real-time factors for speech, with the plain
    float autoregressive decode beside the exact cached one (same run, same machine)."""
    from vqcodec import bench_speed

    result = bench_speed.run(image_model, speech_model)
    if as_json:
        print(json.dumps(result, indent=2))
        return
    console = Console()
    rows = result["images"]
    t = Table(*rows[0].keys(), title=f"images (torch threads: {result['torch_threads']})")
    for r in rows:
        t.add_row(*[str(v) for v in r.values()])
    console.print(t)
    s = Table("metric", "value", title="speech")
    for k, v in result["speech"].items():
        s.add_row(k, str(v))
    console.print(s)


if __name__ == "__main__":
    bench_app()
