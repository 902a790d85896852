"""Reading Debian packages' machine-readable copyright files (shared by the corpus recipes)."""

from __future__ import annotations

import fnmatch


def copyright_licence(text: str, relpath: str) -> str | None:
    """The License of the last stanza whose Files pattern matches `relpath`, else that of the
    first `Files: *` stanza, else None (a free-form copyright file)."""
    best, fallback = None, None
    for stanza in text.split("\n\n"):
        fields = {}
        for line in stanza.splitlines():
            if line[:1].strip() and ":" in line:
                key, value = line.split(":", 1)
                fields[key.strip()] = value.strip()
        if "License" not in fields or "Files" not in fields:
            continue
        patterns = fields["Files"].split()
        if "*" in patterns and fallback is None:
            fallback = fields["License"]
        if any(fnmatch.fnmatch(relpath, p) or fnmatch.fnmatch(relpath, "*/" + p)
               for p in patterns if p != "*"):
            best = fields["License"]
    return best or fallback
