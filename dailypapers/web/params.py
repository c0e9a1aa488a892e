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
