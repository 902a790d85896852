"""The bundled models and model-file headers, read without numpy or torch (for `info`, `models`
and finding the model a stream names)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

from ..errors import ModelError

MODELS_DIR = Path(__file__).parent  # the bundled .safetensors files sit beside this module
BUNDLED = {"image": "image-default", "speech": "speech-default"}
MAX_HEADER = 100 << 20  # safetensors' own limit on the JSON header


def read_metadata(path: Path) -> dict[str, str]:
    """The string metadata of a safetensors file: u64 little-endian header size, JSON header."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise ValueError("file too short")
            size = struct.unpack("<Q", head)[0]
            if size > MAX_HEADER:
                raise ValueError("header too large")
            raw = f.read(size)
            if len(raw) < size:
                raise ValueError("truncated header")
        header = json.loads(raw)
        if not isinstance(header, dict):
            raise ValueError("invalid header")
        meta = header.get("__metadata__") or {}
        if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
            raise ValueError("invalid metadata")
        return meta
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path}: not a vqcodec model file ({exc})") from None


def resolve(name: str | Path) -> Path:
    """A model path, or a bundled model's name ('image-default', 'speech-default')."""
    p = Path(name)
    if p.is_file():
        return p
    bundled = MODELS_DIR / f"{name}.safetensors"
    if bundled.is_file():
        return bundled
    raise ModelError(f"model not found: {name} (bundled: {', '.join(bundled_names()) or 'none'})")


def bundled_names() -> list[str]:
    return sorted(p.name.removesuffix(".safetensors") for p in MODELS_DIR.glob("*.safetensors"))


def codes_id(meta: dict[str, str]) -> str:
    """The model id its streams carry (hex): its inherited codes id, else its fingerprint."""
    return meta.get("codes") or meta.get("fingerprint", "")


def stream_ids(meta: dict[str, str]) -> dict[str, str]:
    """Every id (hex) the model's streams may carry, by code set (models/codesets.py): its
    wideband set's (a stored newer wideband prior's if it has one, and then its codes id is
    its first prior's) and its telephone set's if it has one."""
    first = codes_id(meta)
    ids = ({"wideband": meta["wideband"], "wideband, first prior": first} if meta.get("wideband")
           else {"wideband": first})
    return ids | ({"telephone": meta["telephone"]} if meta.get("telephone") else {})


def find_stream_model(prefix: bytes) -> tuple[Path, str] | None:
    """The bundled model whose streams carry `prefix` and the code set that id names, if any
    (metadata only); a default model (BUNDLED) before others with the same codes, such as
    the one it replaced."""
    defaults = set(BUNDLED.values())
    for name in sorted(bundled_names(), key=lambda n: n not in defaults):
        path = MODELS_DIR / f"{name}.safetensors"
        for code_set, i in stream_ids(read_metadata(path)).items():
            if i.startswith(prefix.hex()):
                return path, code_set
    return None


def find_by_fingerprint(prefix: bytes) -> Path | None:
    """The bundled model whose streams carry `prefix` (the id of its codes or of one of its
    stored code sets), if any: find_stream_model's model."""
    found = find_stream_model(prefix)
    return found[0] if found else None
