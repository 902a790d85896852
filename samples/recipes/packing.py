"""The recipes' packs: the format `vqcodec pack` writes and `vqcodec train --data FILE.npy`
memory-maps (see vqcodec/train/packs.py), from this checkout's vqcodec."""
from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def pack_files(kind: str, inputs: list, out, rate: int = 16000) -> None:
    from vqcodec.train.packs import write_pack

    index = write_pack(kind, inputs, out, rate=rate)
    size = os.path.getsize(out) / 1e6
    print(f"packed {index['count']} files ({size:.1f} MB), skipped {len(index['skipped'])} -> {out}")
