"""`vqcodec sample`: generate from the latent space and compare the three schemes."""

from __future__ import annotations

import json
from typing import Optional

import typer

from .errors import fail, guarded


def _err():
    """A rich console on stderr, made on first use (rich costs start-up time)."""
    from rich.console import Console

    return Console(stderr=True)


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
    from vqcodec import api, kinds
    from vqcodec.tools import sampling

    m = api.get_model(model, "image") if model is None else api.load_any_model(model)
    kind = kinds.get(m.kind)
    size = size or kind.sample_size
    kind.check_sample_size(size)
    kind.check_sample_output(output, bool(compare))
    if not 1 <= n <= 256:
        fail("-n must be between 1 and 256", 1)
    if compare:
        table, outputs = sampling.compare(m, compare, n, size, seed)
        kind.write_comparison(outputs, output, force)
        if as_json:
            print(json.dumps(table, indent=2))
        else:
            from rich.console import Console
            from rich.table import Table

            cols = list(next(iter(table.values())).keys())
            t = Table("scheme", *cols)
            for name, row in table.items():
                t.add_row(name, *[str(row[c]) for c in cols])
            Console().print(t)
        return
    hist = sampling.collect_histogram(m, data) if data else None
    s = sampling.sample_indices(m, scheme, n, size, temperature, seed, hist)
    kind.write_samples(m, s.indices, output, force)
    _err().print(f"{scheme}: {n} samples, {s.bits_per_index:.3f} bits/index under the prior", highlight=False)
