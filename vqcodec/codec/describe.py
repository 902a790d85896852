"""Describing streams and models without running a network (for `info` and `models`)."""

from __future__ import annotations

import json
from typing import BinaryIO

from .. import kinds
from ..errors import ModelError, VQCodecError
from ..models.registry import (MODELS_DIR, bundled_names, codes_id, find_stream_model,
                               read_metadata)
from . import container
from ..files import Counted as _Counted
from .params import image_levels


def describe(f: BinaryIO) -> dict:
    """Header fields, record count, sizes and bitrate of a stream; reads only the container.

    A stream that breaks off, breaks a limit or has damaged chunks is described as far as it
    was read, with the reason in "error". "total_bytes" is the stream's whole size (the file's,
    from where `f` stands), read or not, and the bitrate is over it; "payload_bytes" counts the
    records read."""
    f = _Counted(f)
    header = container.read_header(f)
    kind = kinds.get(header.kind)
    out = header.describe()
    if header.kind == "speech":  # which bundled model and code set, if one is readable
        try:
            bundled = find_stream_model(header.fingerprint)
        except ModelError:  # a bundled file it cannot read: the stream is still described
            bundled = None
        if bundled is not None:
            out["codes"] = f"{bundled[1]} ({bundled[0].name.removesuffix('.safetensors')})"
    records = payload = damaged = 0
    last = None
    try:
        for rec in kind.header_records(f, header.params):
            records += 1
            payload += len(rec.payload)
            damaged += not rec.intact
            if rec.last:
                last = rec
    except VQCodecError as exc:
        out["error"] = str(exc)
    total = f.size()  # a stream that breaks off: the whole file, not only what was parsed
    out.update({"records": records, "payload_bytes": payload, "total_bytes": total,
                "damaged_records": damaged})
    if damaged and "error" not in out:
        out["error"] = f"corrupt stream: {damaged} chunk(s) fail their checksum"
    size = kind.describe_size(header.params, total, last)
    if size is None:
        out.setdefault("error", "truncated stream: no final chunk")
    else:
        out.update(size)
    return out


def _default_level(kind: str | None, config: dict) -> int | float:
    """The level `compress` uses by default: speech its default stages (2.25: a partial third
    stage), images the middle."""
    if kind == "speech":
        return config.get("default_stages", config.get("stages", 1))
    return (image_levels(int(config.get("stages", 1)), config.get("detail", False)) + 1) // 2


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
        config = json.loads(meta.get("config", "{}"))
        stages = int(config.get("stages", 1))
        if meta.get("kind") == "image":
            stages = image_levels(stages, config.get("detail", False))
        rows.append({"name": name, "kind": meta.get("kind", "?"), "id": codes_id(meta)[:8],
                     "wideband_id": meta.get("wideband", "")[:8],  # models/codesets.py
                     "telephone_id": meta.get("telephone", "")[:8],
                     "fingerprint": meta.get("fingerprint", "")[:8],
                     "megabytes": path.stat().st_size / 1e6, "levels": stages,
                     "default_level": _default_level(meta.get("kind"), json.loads(meta["config"]))
                     if "config" in meta else 1,
                     "telephone_default": json.loads(meta.get("config", "{}")).get("telephone_stages"),
                     "rate": measured.get("rate", "not measured"),
                     "quality": measured.get("quality", "not measured"), "measured": measured})
    return rows
