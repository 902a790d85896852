#!/usr/bin/env python3
"""Give a speech model a telephone code set (vqcodec/models/codesets.py): the codebooks and
prior of DONOR, a model with the same networks whose codebooks were fitted to telephone
speech (nb_codebooks.py --init-out) and whose prior was trained on their indices
(`vqcodec train speech --init ... --steps 0`). The result keeps MODEL's codes id, so every
stream MODEL made decodes with it as before.

  python samples/recipes/telephone_set.py MODEL DONOR [-o OUT]    (default: MODEL, in place)
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from vqcodec.models import codesets, modelfile  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("donor")
    ap.add_argument("-o", "--out", help="the new model file (default: MODEL, in place)")
    args = ap.parse_args()
    base, donor = modelfile.load_model(args.model), modelfile.load_model(args.donor)
    out = args.out or str(base.path)
    codesets.add_telephone_set(base, donor, out)
    m = modelfile.load_model(out)
    print(f"{out}: wideband streams {m.code_sets[0].short_id}, telephone streams "
          f"{m.code_sets[1].short_id}, {Path(out).stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
