"""The registry of modalities: one object per kind of media, looked up by name or stream code.

Adding a modality means one new module here (a `Kind` subclass) and one line in `KINDS`.
Importing the registry is cheap: each kind imports its networks only when asked for them.
"""

from __future__ import annotations

from ..errors import ModelError
from .base import Kind
from .image import IMAGE
from .speech import SPEECH

KINDS: dict[str, Kind] = {k.name: k for k in (IMAGE, SPEECH)}


def get(name: str) -> Kind:
    """The kind called `name` ('image', 'speech')."""
    try:
        return KINDS[name]
    except KeyError:
        raise ModelError(f"unknown model kind {name!r} (known: {', '.join(KINDS)})") from None


def by_code(code: int) -> Kind | None:
    """The kind whose streams carry modality byte `code`, or None."""
    return next((k for k in KINDS.values() if k.code == code), None)


__all__ = ["KINDS", "Kind", "by_code", "get"]
