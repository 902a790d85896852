#!/usr/bin/env python3
"""Give a speech model a stored code set (vqcodec/models/codesets.py) from DONOR, a model with
the same networks:
- `--set telephone` (the default): DONOR's codebooks, fitted to telephone speech
  (nb_codebooks.py --init-out), and its prior, trained on their indices
  (`vqcodec train speech --init ... --steps 0`);
- `--set wideband`: DONOR's prior alone, trained on MODEL's own codebooks' indices
  (`vqcodec train speech --init MODEL --steps 0`, more examples); encoders then use it for
  wideband speech, and MODEL's first prior stays for the streams it made.
The result keeps MODEL's codes id and its other sets, so every stream MODEL made decodes with
it as before. A MODEL that has a set of that name already is refused unless --replace: the
streams made with that set would no longer decode.

  python samples/recipes/code_set.py MODEL DONOR [--set telephone|wideband] [--replace] [-o OUT]
      (default OUT: MODEL, in place)
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from vqcodec.errors import VQCodecError  # noqa: E402
from vqcodec.models import codesets, modelfile  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("donor")
    ap.add_argument("--set", default=codesets.TELEPHONE, choices=codesets.NAMES)
    ap.add_argument("--replace", action="store_true",
                    help="replace a set of that name (its streams will no longer decode)")
    ap.add_argument("-o", "--out", help="the new model file (default: MODEL, in place)")
    args = ap.parse_args()
    try:
        base, donor = modelfile.load_model(args.model), modelfile.load_model(args.donor)
        out = args.out or str(base.path)
        codesets.add_set(base, donor, out, args.set, args.replace)
    except VQCodecError as exc:
        sys.exit(f"code_set.py: error: {exc}")
    m = modelfile.load_model(out)
    ids = ", ".join(f"{s.set_name} streams {s.short_id}" for s in m.code_sets)
    print(f"{out}: {ids}; streams of its first prior {m.short_id}; "
          f"{Path(out).stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
