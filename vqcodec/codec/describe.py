"""Describing streams and models without running a network (for `info` and `models`)."""

from __future__ import annotations

import json
from typing import BinaryIO

from ..errors import VQCodecError
from ..models.registry import MODELS_DIR, bundled_names, read_metadata
from . import container
from .params import DEFAULT_MAX_SECONDS

MAX_FRAME_RATE = 100.0  # latent frames per second assumed when counting chunks without a model


def describe(f: BinaryIO) -> dict:
    """Header fields, record count, sizes and bitrate of a stream; reads only the container.

    A stream that breaks off or breaks a limit is described as far as it was read, with the
    reason in "error"."""
    header = container.read_header(f)
    out = header.describe()
    records = payload = damaged = 0
    total = header.size
    last = None
    if header.kind == "image":
        recs = iter_image_record(f)
    else:
        recs = container.audio_records(f, header.params,
                                       header.params.max_records(MAX_FRAME_RATE, DEFAULT_MAX_SECONDS))
    try:
        for rec in recs:
            records += 1
            payload += len(rec.payload)
            damaged += not rec.intact
            total += rec.size
            if rec.last:
                last = rec
    except VQCodecError as exc:
        out["error"] = str(exc)
    out.update({"records": records, "payload_bytes": payload, "total_bytes": total,
                "damaged_records": damaged})
    if header.kind == "image":
        p = header.params
        out["bits_per_pixel"] = round(total * 8 / max(1, p.width * p.height), 5)
    elif last is not None:
        seconds = last.extra / header.params.rate
        out["samples"] = last.extra
        out["seconds"] = round(seconds, 3)
        out["bits_per_second"] = round(total * 8 / seconds, 1) if seconds else None
    else:
        out.setdefault("error", "truncated stream: no final chunk")
    return out


def iter_image_record(f: BinaryIO):
    yield container.read_record(f)


def bundled_models() -> list[dict]:
    """Name, kind, id, size and the measured rate and quality of every bundled model. Only
    measurements written by `vqcodec eval ... --record` count; anything else is "not measured"."""
    from ..eval.measured import RECORDED_BY

    rows = []
    for name in bundled_names():
        path = MODELS_DIR / f"{name}.safetensors"
        meta = read_metadata(path)
        info = json.loads(meta.get("info", "{}"))
        measured = info.get("measured", {})
        if measured.get("recorded_by") != RECORDED_BY:
            measured = {}
        rows.append({"name": name, "kind": meta.get("kind", "?"), "id": meta.get("fingerprint", "")[:8],
                     "megabytes": path.stat().st_size / 1e6,
                     "rate": measured.get("rate", "not measured"),
                     "quality": measured.get("quality", "not measured"), "measured": measured})
    return rows
