"""Query-string parameters shared by the JSON APIs: parsed strictly, refused with a message."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field

from dailypapers.catalog import FIRST_DAY, LAST_DAY


_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?\Z", re.ASCII)


class BadParam(ValueError):
    """A parameter we refuse; ``str(exc)`` is the message the API returns with a 400."""


def int_param(params: Mapping[str, str], name: str, default: int, low: int,
              high: int | None = None) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    # JSON's integers, as JSON Schema reads them: 10, and 10.0 or 1e1 (integral numbers). Not
    # what int() also takes (" 10", "1_0", "٣"), which the OpenAPI description does not allow.
    if not _JSON_NUMBER.match(raw):
        raise BadParam(f"{name} must be an integer, got {raw[:40]!r}")
    number = Decimal(raw)
    if number != number.to_integral_value():
        raise BadParam(f"{name} must be an integer, got {raw[:40]!r}")
    if high is None:
        high = 2**63 - 1  # a 64-bit SQL integer; int() of 1e999999999 would take minutes
    if number < low or number > high:
        bound = f"between {low} and {high}"
        raise BadParam(f"{name} must be {bound}, got {raw[:40]}")
    return int(number)


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
    are left out. Every parameter reads an empty value (``?week=``, what an empty form field
    sends) as absent: ``allowEmptyValue`` says so."""
    param: dict[str, Any] = {
        "name": name, "in": "query", "required": False, "description": description,
        "allowEmptyValue": True,
        "schema": {"type": type_, **{k: v for k, v in schema.items() if v is not None}},
    }
    if example is not None:
        param["example"] = example
    return param


def int_doc(name: str, description: str, default: int, low: int, high: int) -> dict[str, Any]:
    """An :func:`int_param`: the same default and bounds."""
    return query_doc(name, f"{description} ({low} to {high}).", "integer", default=default,
                     minimum=low, maximum=high)


def _year_pattern() -> str:
    """The years catalog.parse_day/week/month accept (1900 to 2199), as a regular expression."""
    first, last = FIRST_DAY.year, LAST_DAY.year
    assert first % 100 == 0 and (last + 1) % 100 == 0, "whole centuries only"
    return "(?:" + "|".join(str(c) for c in range(first // 100, (last + 1) // 100)) + ")[0-9]{2}"


def _long_iso_years() -> list[int]:
    """Years with an ISO week 53 (December 28 always falls in the year's last week)."""
    return [y for y in range(FIRST_DAY.year, LAST_DAY.year + 1)
            if dt.date(y, 12, 28).isocalendar()[1] == 53]


NO_CONTROL_CHARACTERS = "^[^\\x00-\\x1f\\x7f]*$"  # what text_param refuses
YEARS = f"only years {FIRST_DAY.year} to {LAST_DAY.year}"
DAY_PATTERN = f"^{_year_pattern()}-[0-9]{{2}}-[0-9]{{2}}$"  # with format: date, a real day
MONTH_PATTERN = f"^{_year_pattern()}-(?:0[1-9]|1[0-2])$"
# Week 53 exists in 53 of these 300 years: they are listed, so that the schema admits exactly
# the weeks parse_week does.
WEEK_PATTERN = (f"^(?:{_year_pattern()}-W(?:0[1-9]|[1-4][0-9]|5[0-2])"
                f"|(?:{'|'.join(map(str, _long_iso_years()))})-W53)$")


def day_doc(name: str, description: str, example: str | None = None) -> dict[str, Any]:
    """A day read by catalog.parse_day: YYYY-MM-DD, a real day, in the years served."""
    return query_doc(name, f"{description} YYYY-MM-DD ({YEARS}).", format="date",
                     pattern=DAY_PATTERN, example=example)


def week_doc(name: str, description: str) -> dict[str, Any]:
    """An ISO week read by catalog.parse_week: YYYY-Www, week 53 only in years that have one.
    Its example sits in the schema's ``examples``, which Swagger UI does not fill in."""
    return query_doc(name, f"{description} ISO week YYYY-Www ({YEARS}; W53 only in years "
                     "that have one).", pattern=WEEK_PATTERN, examples=["2026-W14"])


def month_doc(name: str, description: str) -> dict[str, Any]:
    """A month read by catalog.parse_month: YYYY-MM (example as in :func:`week_doc`)."""
    return query_doc(name, f"{description} YYYY-MM ({YEARS}).", pattern=MONTH_PATTERN,
                     examples=["2026-03"])


def bool_doc(name: str, description: str, default: bool | None = None) -> dict[str, Any]:
    return query_doc(name, f"{description} Also accepted: 1/0, yes/no, on/off.", "boolean",
                     default=default)


def api_doc(*parameters: dict[str, Any], ok: dict[str, Any] | None = None,
            not_found: str | None = None) -> dict[str, Any]:
    """Keyword arguments for a JSON route's decorator: its query parameters, its 200 (``ok``,
    from web/api_schemas.ok_response), the 400 they can give and, given its description, a
    404; both with the ``{"error": ...}`` body."""
    responses: dict[int | str, dict[str, Any]] = {200: ok} if ok else {}
    if parameters:
        responses[400] = {"model": ApiError,
                          "description": "A parameter was refused; the message names it."}
    if not_found:
        responses[404] = {"model": ApiError, "description": not_found}
    return {"openapi_extra": {"parameters": list(parameters)} if parameters else None,
            "responses": responses}
