#!/usr/bin/env python3
"""Rate and quality of the speech encoder's entropy-constrained VQ search at several rate
weights, on one folder of clips: a copy of the model per weight (`set_rate_weight`), then
`vqcodec eval speech DIR --no-peers --stages ...` on each.

  python samples/recipes/rate_weight.py data/real/val 0 1 1.5 2 3 --stages 2.3125,2.4375 \
      [--model FILE] [--json OUT] [-j 2]

Weight 0 is the nearest codes (the search before the eighteenth session); the weight is the
squared latent distance one bit of prior cost is worth (codec.speech.coded_symbols). Only the
encoder changes: every stream decodes with any version. Tune on the validation speakers only.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from typer.testing import CliRunner  # noqa: E402

from cli.main import app  # noqa: E402
from vqcodec.models import modelfile  # noqa: E402

KEEP = ("codec", "clips", "kbps", "kbps_pooled", "pesq_nb", "pesq_wb", "stoi", "encode_rtf",
        "decode_rtf")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder")
    ap.add_argument("weights", type=float, nargs="+")
    ap.add_argument("--stages", default="2.4375", help="stage counts, comma-separated")
    ap.add_argument("--model", default="speech-default", help="speech model (default: bundled)")
    ap.add_argument("--json", help="write the averages per weight here")
    ap.add_argument("-j", "--jobs", default="1", help="eval's --jobs")
    args = ap.parse_args()
    source = modelfile.resolve(args.model)  # a bundled name or a file
    out = {"folder": args.folder, "model": args.model, "stages": args.stages, "weights": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for weight in args.weights:
            copy = Path(tmp) / f"w{weight:g}.safetensors"
            shutil.copy(source, copy)
            modelfile.set_rate_weight(copy, weight)
            cmd = ["eval", "speech", args.folder, "--model", str(copy), "--no-peers", "--json",
                   "-q", "--stages", args.stages, "-j", args.jobs]
            res = CliRunner().invoke(app, cmd)
            if res.exit_code:
                sys.exit(f"weight {weight:g}: eval failed: {res.output.strip()}")
            rows = [{k: a[k] for k in KEEP} for a in json.loads(res.stdout)["averages"]]
            out["weights"][f"{weight:g}"] = rows
            for r in rows:
                print(f"weight {weight:4g}  {r['codec']:16s} {r['kbps_pooled']:.4f} kbit/s pooled"
                      f" ({r['kbps']:.4f} mean of files)  PESQ-nb {r['pesq_nb']:.4f}  "
                      f"STOI {r['stoi']:.4f}  encode {r['encode_rtf']:.0f}x", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
