#!/usr/bin/env python3
"""Rate and quality of the speech encoder's residual VQ search at several beam widths, on one
folder of clips: `vqcodec eval speech DIR --no-peers` once per width, in one process.

  python samples/recipes/beam_width.py data/real/val 1 4 16 [--model FILE] [--json OUT]

Width 1 is greedy coding (each stage takes the code nearest to what the stages before left),
the encoder before beam search; `vqcodec.runtime.vq.BEAM` is the default. Only the encoder
changes: every stream decodes with any version.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from typer.testing import CliRunner  # noqa: E402

from cli.main import app  # noqa: E402
from vqcodec.runtime import vq  # noqa: E402

KEEP = ("codec", "clips", "kbps", "kbps_pooled", "pesq_nb", "pesq_wb", "stoi", "encode_rtf",
        "decode_rtf")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder")
    ap.add_argument("beams", type=int, nargs="+")
    ap.add_argument("--model", help="speech model file (default: bundled)")
    ap.add_argument("--json", help="write the averages per width here")
    args = ap.parse_args()
    out = {"folder": args.folder, "model": args.model or "speech-default", "beams": {}}
    for beam in args.beams:
        vq.BEAM = beam
        cmd = ["eval", "speech", args.folder, "--no-peers", "--json", "-q"]
        res = CliRunner().invoke(app, cmd + (["--model", args.model] if args.model else []))
        if res.exit_code:
            sys.exit(f"beam {beam}: eval failed: {res.output.strip()}")
        rows = [{k: a[k] for k in KEEP} for a in json.loads(res.stdout)["averages"]]
        out["beams"][str(beam)] = rows
        for r in rows:
            print(f"beam {beam:3d}  {r['codec']:12s} {r['kbps_pooled']:.4f} kbit/s  "
                  f"PESQ-nb {r['pesq_nb']:.3f}  STOI {r['stoi']:.4f}  encode {r['encode_rtf']:.0f}x",
                  flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
