"""arXiv identifiers: one canonical, version-less form used everywhere, URLs included.

New-style ids look like ``2401.12345`` (or ``0704.0001`` before 2015); old-style ids carry the
archive, ``cs/0112017``. Old ids are sometimes written with a subject class (``math.GT/0309136``),
which is not part of the identifier, so it is dropped.
"""

from __future__ import annotations

import re

# Versions are bounded: int() refuses strings of more than 4300 digits with a ValueError.
_NEW = re.compile(r"^(\d{4}\.\d{4,5})(?:v(\d{1,9}))?$")
_OLD = re.compile(r"^([a-z][a-z\-]*)(?:\.[A-Za-z\-]+)?/(\d{7})(?:v(\d{1,9}))?$")
_PREFIXES = (
    "https://arxiv.org/abs/",
    "http://arxiv.org/abs/",
    "https://arxiv.org/pdf/",
    "http://arxiv.org/pdf/",
    "https://export.arxiv.org/abs/",
    "http://export.arxiv.org/abs/",
    "oai:arxiv.org:",
    "arxiv:",
)


class InvalidArxivId(ValueError):
    pass


def split_arxiv_id(raw: str) -> tuple[str, int | None]:
    """Return ``(canonical id, version or None)`` or raise InvalidArxivId."""
    text = (raw or "").strip()
    lowered = text.lower()
    for prefix in _PREFIXES:
        if lowered.startswith(prefix):
            text = text[len(prefix):]
            break
    if text.endswith(".pdf"):
        text = text[:-4]
    m = _NEW.match(text)
    if m:
        return m.group(1), int(m.group(2)) if m.group(2) else None
    m = _OLD.match(text)
    if m:
        return f"{m.group(1)}/{m.group(2)}", int(m.group(3)) if m.group(3) else None
    raise InvalidArxivId(f"not an arXiv identifier: {raw!r}")


def normalize_arxiv_id(raw: str) -> str:
    return split_arxiv_id(raw)[0]
