"""The APIs' shared parameter parsing (web/params.py), called directly: what an empty value means,
the exact bounds, which characters are refused, the messages' 40-character excerpt, and the
OpenAPI descriptions the same module writes for those parameters (a client or schemathesis
trusts them: a wrong maximum or pattern there is a wrong number too).

The OpenAPI helpers are called here rather than read from the served document because the
routes call them once, at import; a mutation tool that forks a warm process never sees a
mutated helper through the app. No database."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from dailypapers.web.params import (NO_CONTROL_CHARACTERS, ApiError, BadParam, _long_iso_years,
                                    _year_pattern, api_doc, bool_doc, day_doc, int_doc,
                                    int_param, month_doc, query_doc, text_param, week_doc)

INT64_MAX = 9_223_372_036_854_775_807


def _refusal(call, *args, **kwargs) -> str:
    with pytest.raises(BadParam) as caught:
        call(*args, **kwargs)
    return str(caught.value)


# --- int_param ---------------------------------------------------------------------------------

@pytest.mark.parametrize("params", [{}, {"limit": ""}])
def test_an_absent_or_empty_integer_is_the_default(params) -> None:
    assert int_param(params, "limit", 20, 1, 100) == 20


def test_integer_bounds_are_inclusive_and_refusals_name_them() -> None:
    assert int_param({"limit": "1"}, "limit", 20, 1, 100) == 1
    assert int_param({"limit": "100"}, "limit", 20, 1, 100) == 100
    assert int_param({"limit": "1e2"}, "limit", 20, 1, 100) == 100  # JSON's integral numbers
    assert _refusal(int_param, {"limit": "101"}, "limit", 20, 1, 100) == \
        "limit must be between 1 and 100, got 101"
    assert _refusal(int_param, {"limit": "0"}, "limit", 20, 1, 100) == \
        "limit must be between 1 and 100, got 0"


def test_without_a_maximum_an_integer_stops_at_the_64_bit_sql_limit() -> None:
    assert int_param({"offset": str(INT64_MAX)}, "offset", 0, 0) == INT64_MAX
    assert _refusal(int_param, {"offset": str(INT64_MAX + 1)}, "offset", 0, 0) == \
        f"offset must be between 0 and {INT64_MAX}, got {INT64_MAX + 1}"


def test_refusals_quote_only_the_first_40_characters() -> None:
    long_word = "x" * 39 + "YZ"  # characters 40 and 41 tell a 40 from a 41 cut
    assert _refusal(int_param, {"limit": long_word}, "limit", 20, 1, 100) == \
        f"limit must be an integer, got {'x' * 39 + 'Y'!r}"
    not_integral = "1." + "5" * 45
    assert _refusal(int_param, {"limit": not_integral}, "limit", 20, 1, 100) == \
        f"limit must be an integer, got {not_integral[:40]!r}"
    too_big = "1" + "0" * 45
    assert _refusal(int_param, {"limit": too_big}, "limit", 20, 1, 100) == \
        f"limit must be between 1 and 100, got {too_big[:40]}"
    with_control = "a" * 39 + "\x01b"
    assert _refusal(text_param, {"q": with_control}, "q") == \
        f"q must not contain control characters, got {with_control[:40]!r}"


# --- text_param --------------------------------------------------------------------------------

@pytest.mark.parametrize("params", [{}, {"q": ""}])
def test_an_absent_or_empty_text_is_none(params) -> None:
    assert text_param(params, "q") is None


def test_text_is_at_most_200_characters_by_default() -> None:
    assert text_param({"q": "a" * 200}, "q") == "a" * 200
    assert _refusal(text_param, {"q": "a" * 201}, "q") == \
        "q must be at most 200 characters, got 201"


def test_text_refuses_exactly_what_its_documented_pattern_refuses() -> None:
    """C0 controls and DEL are refused; space, U+0080..U+009F and the rest are not: the same set
    as NO_CONTROL_CHARACTERS, the pattern the OpenAPI document states."""
    documented = re.compile(NO_CONTROL_CHARACTERS)
    for code in range(0, 256):
        value = f"a{chr(code)}b"
        refused = documented.match(value) is None
        if refused:
            _refusal(text_param, {"q": value}, "q")
        else:
            assert text_param({"q": value}, "q") == value, code
    assert text_param({"q": "two words"}, "q") == "two words"


# --- the OpenAPI descriptions ------------------------------------------------------------------

def test_query_doc_describes_an_optional_parameter_and_drops_unset_keywords() -> None:
    assert query_doc("q", "Words.", maxLength=200, pattern=None) == {
        "name": "q", "in": "query", "required": False, "description": "Words.",
        "allowEmptyValue": True, "schema": {"type": "string", "maxLength": 200}}
    with_example = query_doc("n", "A count.", "integer", example=3)
    assert with_example["example"] == 3
    assert with_example["schema"] == {"type": "integer"}


def test_int_doc_states_the_same_default_and_bounds() -> None:
    assert int_doc("limit", "How many.", 20, 1, 100) == {
        "name": "limit", "in": "query", "required": False,
        "description": "How many. (1 to 100).", "allowEmptyValue": True,
        "schema": {"type": "integer", "default": 20, "minimum": 1, "maximum": 100}}


def test_date_docs_state_format_patterns_and_examples() -> None:
    day = day_doc("date", "The day.", example="2026-03-02")
    assert day["description"] == "The day. YYYY-MM-DD (only years 1900 to 2199)."
    assert day["schema"] == {"type": "string", "format": "date",
                             "pattern": "^(?:19|20|21)[0-9]{2}-[0-9]{2}-[0-9]{2}$"}
    assert day["example"] == "2026-03-02" and day["allowEmptyValue"] is True
    assert day["name"] == "date" and day["in"] == "query"
    week = week_doc("week", "The week.")
    assert week["description"] == ("The week. ISO week YYYY-Www (only years 1900 to 2199; "
                                   "W53 only in years that have one).")
    assert week["schema"]["examples"] == ["2026-W14"] and "example" not in week
    assert week["name"] == "week" and week["in"] == "query"
    pattern = re.compile(week["schema"]["pattern"])
    for ok in ("1900-W01", "2026-W14", "2026-W53", "2199-W52", "2020-W53"):
        assert pattern.match(ok), ok
    for bad in ("1899-W01", "2200-W01", "2025-W53", "2026-W00", "2026-W54", "2026-W1"):
        assert not pattern.match(bad), bad
    month = month_doc("month", "The month.")
    assert month == {"name": "month", "in": "query", "required": False,
                     "description": "The month. YYYY-MM (only years 1900 to 2199).",
                     "allowEmptyValue": True,
                     "schema": {"type": "string",
                                "pattern": "^(?:19|20|21)[0-9]{2}-(?:0[1-9]|1[0-2])$",
                                "examples": ["2026-03"]}}


def test_bool_doc_lists_the_other_spellings() -> None:
    assert bool_doc("featured", "Only featured.", default=False) == {
        "name": "featured", "in": "query", "required": False,
        "description": "Only featured. Also accepted: 1/0, yes/no, on/off.",
        "allowEmptyValue": True, "schema": {"type": "boolean", "default": False}}
    assert bool_doc("x", "X.")["schema"] == {"type": "boolean"}


def test_year_pattern_admits_exactly_the_served_years() -> None:
    years = re.compile(_year_pattern() + r"\Z")
    assert _year_pattern() == "(?:19|20|21)[0-9]{2}"
    assert [y for y in range(1000, 3000) if years.match(str(y))] == list(range(1900, 2200))


def test_long_iso_years_are_those_with_a_thursday_at_either_end() -> None:
    """An ISO year has 53 weeks when January 1 or December 31 is a Thursday."""
    expected = [y for y in range(1900, 2200)
                if dt.date(y, 1, 1).weekday() == 3 or dt.date(y, 12, 31).weekday() == 3]
    assert _long_iso_years() == expected
    assert len(expected) == 53 and 2020 in expected and 2026 in expected
    assert 2021 not in expected and 1900 not in expected


def test_api_doc_gives_the_400_and_404_with_the_error_body() -> None:
    limit = int_doc("limit", "How many.", 20, 1, 100)
    ok = {"description": "The papers."}
    assert api_doc(limit, ok=ok, not_found="No such paper.") == {
        "openapi_extra": {"parameters": [limit]},
        "responses": {
            200: ok,
            400: {"model": ApiError,
                  "description": "A parameter was refused; the message names it."},
            404: {"model": ApiError, "description": "No such paper."}}}
    assert api_doc() == {"openapi_extra": None, "responses": {}}
