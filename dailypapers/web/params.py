"""Query-string parameters shared by the JSON APIs: parsed strictly, refused with a message."""

from __future__ import annotations

from collections.abc import Mapping


class BadParam(ValueError):
    """A parameter we refuse; ``str(exc)`` is the message the API returns with a 400."""


def int_param(params: Mapping[str, str], name: str, default: int, low: int,
              high: int | None = None) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadParam(f"{name} must be an integer, got {raw[:40]!r}") from None
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise BadParam(f"{name} must be {bound}, got {value}")
    return value


def text_param(params: Mapping[str, str], name: str, max_length: int = 200) -> str | None:
    """A free-text value, ``None`` when absent or empty. NUL and other control characters are
    refused: no name or word holds them, and PostgreSQL cannot even compare text with a NUL."""
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if len(raw) > max_length:
        raise BadParam(f"{name} must be at most {max_length} characters, got {len(raw)}")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in raw):
        raise BadParam(f"{name} must not contain control characters, got {raw[:40]!r}")
    return raw
