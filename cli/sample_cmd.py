"""`vqcodec sample`: generate from the latent space and compare the three schemes."""

from __future__ import annotations

import json
from pathlib import Path
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
    from vqcodec import api
    from vqcodec.tools import sampling

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
            from rich.console import Console

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
        if out.suffix == ".wav":  # one sample goes exactly there; several get numbered names
            paths = [out] if n == 1 else [out.with_name(f"{out.stem}_{i}.wav") for i in range(n)]
        else:
            paths = [out / f"sample_{i}.wav" for i in range(n)]
        if out.suffix != ".wav":
            out.mkdir(parents=True, exist_ok=True)
        for p, wave in zip(paths, sampling.render_speech(m, s.indices)):
            with api.atomic_output(p, force) as f:
                sf.write(f, wave, m.config.sample_rate, format="WAV", subtype="PCM_16")
    _err().print(f"{scheme}: {n} samples, {s.bits_per_index:.3f} bits/index under the prior", highlight=False)
