"""Learning curves of a training run, from its JSON-lines log to a PNG."""

from __future__ import annotations

import json
from pathlib import Path


def plot_curves(log_path: Path, png: Path) -> bool:
    """Learning curves from a training log (JSON lines) to a PNG; False if matplotlib is absent."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    recs = [json.loads(line) for line in log_path.read_text().splitlines()]
    panels = [("autoencoder", "rec"), ("autoencoder", "qerr"), ("prior", "bits_per_index")]
    fig, axes = plt.subplots(1, len(panels), figsize=(12, 3.2))
    for ax, (stage, key) in zip(axes, panels):
        pts = [(r["step"], r[key]) for r in recs if r.get("stage") == stage and key in r]
        if pts:
            ax.plot(*zip(*pts))
        ax.set_title(f"{stage}: {key}")
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png, dpi=90)
    plt.close(fig)
    return True
