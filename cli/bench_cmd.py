"""`vqcodec bench ...`: benchmarks that print tables or JSON."""

from __future__ import annotations

import json
from typing import Optional

import typer

from .errors import guarded

bench_app = typer.Typer(help="Benchmarks: speed, and the quantizer comparison.", no_args_is_help=True)


@bench_app.command("speed")
@guarded
def speed(
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    image_model: Optional[str] = typer.Option(None, "--image-model"),
    speech_model: Optional[str] = typer.Option(None, "--speech-model"),
) -> None:
    """Encode/decode times per image size and real-time factors for speech, with the plain
    float autoregressive decode beside the exact cached one (same run, same machine)."""
    from vqcodec.tools import bench_speed

    result = bench_speed.run(image_model, speech_model)
    if as_json:
        print(json.dumps(result, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    rows = result["images"]
    t = Table(*rows[0].keys(), title=f"images (threads: {result['threads']})")
    for r in rows:
        t.add_row(*[str(v) for v in r.values()])
    console.print(t)
    s = Table("metric", "value", title="speech")
    for k, v in result["speech"].items():
        s.add_row(k, str(v))
    console.print(s)


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
