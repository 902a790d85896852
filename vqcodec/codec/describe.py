"""Describing streams and models without running a network (for `info` and `models`)."""

from __future__ import annotations

import json
from typing import BinaryIO

from . import container
from ..errors import BadStreamError
from ..models.registry import MODELS_DIR, bundled_names, read_metadata


def describe(f: BinaryIO) -> dict:
    """Header fields, record count, sizes and bitrate of a stream; reads only the container."""
    header = container.read_header(f)
    out = header.describe()
    records = payload = damaged = 0
    total = header.size
    last = None
    while True:
        try:
            rec = container.read_record(f)
        except BadStreamError as exc:
            out["error"] = str(exc)
            break
        records += 1
        payload += len(rec.payload)
        damaged += not rec.intact
        total += rec.size
        if rec.last:
            last = rec
            break
    out.update({"records": records, "payload_bytes": payload, "total_bytes": total,
                "damaged_records": damaged})
    if header.modality == container.IMAGE:
        w, h, _ = header.params
        out["bits_per_pixel"] = round(total * 8 / max(1, w * h), 5)
    elif last is not None:
        seconds = last.extra / header.params[0]
        out["samples"] = last.extra
        out["seconds"] = round(seconds, 3)
        out["bits_per_second"] = round(total * 8 / seconds, 1) if seconds else None
    else:
        out.setdefault("error", "truncated stream: no final chunk")
    return out


def bundled_models() -> list[dict]:
    rows = []
    for name in bundled_names():
        path = MODELS_DIR / f"{name}.safetensors"
        meta = read_metadata(path)
        info = json.loads(meta.get("info", "{}"))
        measured = info.get("measured", {})
        rows.append({"name": name, "kind": meta.get("kind", "?"), "id": meta.get("fingerprint", "")[:8],
                     "megabytes": path.stat().st_size / 1e6,
                     "rate": measured.get("rate", "not measured"),
                     "quality": measured.get("quality", "not measured"), "measured": measured})
    return rows
