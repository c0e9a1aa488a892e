"""Query-string parameters shared by the JSON APIs: parsed strictly, refused with a message."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field


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


# --- OpenAPI ----------------------------------------------------------------------------------
# The routes read ``request.query_params`` themselves (so a bad value is our 400, never FastAPI's
# 422), which leaves FastAPI nothing to document: these helpers describe the same parameters as
# OpenAPI 3.1 parameter objects, passed to the route decorators with ``**api_doc(...)``.


class ApiError(BaseModel):
    """The body of every 4xx answer of the JSON API."""

    error: str = Field(description="What was wrong, naming the parameter at fault.",
                       examples=["limit must be between 1 and 100, got 0"])


def query_doc(name: str, description: str, type_: str = "string", *, example: Any = None,
              **schema: Any) -> dict[str, Any]:
    """One optional query parameter. ``schema`` holds JSON Schema keywords (``default``,
    ``minimum``, ``maximum``, ``enum``, ``format``, ``pattern``, ``maxLength``); ``None`` values
    are left out."""
    param: dict[str, Any] = {
        "name": name, "in": "query", "required": False, "description": description,
        "schema": {"type": type_, **{k: v for k, v in schema.items() if v is not None}},
    }
    if example is not None:
        param["example"] = example
    return param


def int_doc(name: str, description: str, default: int, low: int, high: int) -> dict[str, Any]:
    """An :func:`int_param`: the same default and bounds."""
    return query_doc(name, f"{description} ({low} to {high}).", "integer", default=default,
                     minimum=low, maximum=high)


def bool_doc(name: str, description: str, default: bool | None = None) -> dict[str, Any]:
    return query_doc(name, f"{description} Also accepted: 1/0, yes/no, on/off.", "boolean",
                     default=default)


def api_doc(*parameters: dict[str, Any], not_found: str | None = None) -> dict[str, Any]:
    """Keyword arguments for a JSON route's decorator: its query parameters, the 400 they can
    give and, given its description, a 404; both with the ``{"error": ...}`` body."""
    responses: dict[int | str, dict[str, Any]] = {}
    if parameters:
        responses[400] = {"model": ApiError,
                          "description": "A parameter was refused; the message names it."}
    if not_found:
        responses[404] = {"model": ApiError, "description": not_found}
    return {"openapi_extra": {"parameters": list(parameters)} if parameters else None,
            "responses": responses}
