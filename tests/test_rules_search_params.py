"""The search routes' own parameter readers (web/routes_search.py: _bool, _day, _choice,
filters_from) and the pages' sort and period readers (web/routes_pages.py: _sort, _or_400),
called with a plain mapping as the query string: the accepted spellings, what an empty value
means, the exact refusals (a 400 on the APIs). End-to-end checks of the same parameters are in
tests/test_rules_search.py and tests/test_rules_params.py; these pin every branch cheaply."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi import HTTPException

from dailypapers import catalog
from dailypapers.index.keyword import SearchFilters
from dailypapers.index.query import QueryError
from dailypapers.web.routes_pages import _or_400, _sort
from dailypapers.web.routes_search import SORTS, _bool, _choice, _day, filters_from


def _refused(call, *args) -> str:
    with pytest.raises(QueryError) as caught:
        call(*args)
    return str(caught.value)


@pytest.mark.parametrize("raw, expected", [
    ("1", True), ("true", True), ("TRUE", True), ("Yes", True), ("on", True),
    ("0", False), ("false", False), ("No", False), ("OFF", False), ("", None), (None, None),
])
def test_booleans_and_their_spellings(raw, expected) -> None:
    params = {} if raw is None else {"has_code": raw}
    assert _bool(params, "has_code") is expected


def test_a_bad_boolean_is_named_and_quoted_to_40_characters() -> None:
    assert _refused(_bool, {"featured": "maybe"}, "featured") == \
        "featured must be true or false, got 'maybe'"
    long = "y" * 39 + "ZQ"
    assert _refused(_bool, {"featured": long}, "featured") == \
        f"featured must be true or false, got {('y' * 39 + 'z')!r}"


def test_days_are_read_as_the_catalogue_reads_them() -> None:
    assert _day({"date_from": "2026-03-02"}, "date_from") == dt.date(2026, 3, 2)
    assert _day({"date_from": ""}, "date_from") is None
    assert _day({}, "date_from") is None
    assert _refused(_day, {"date_to": "2026-02-30"}, "date_to") == \
        "date_to: invalid date '2026-02-30': no such day"


def test_choices_default_when_empty_and_name_the_options() -> None:
    assert _choice({}, "sort", SORTS, "relevance") == "relevance"
    assert _choice({"sort": ""}, "sort", SORTS, "relevance") == "relevance"
    assert _choice({"sort": "upvotes"}, "sort", SORTS, "relevance") == "upvotes"
    assert _refused(_choice, {"sort": "Upvotes"}, "sort", SORTS, "relevance") == \
        "sort must be one of relevance, newest, upvotes, got 'Upvotes'"
    long = "n" * 39 + "ab"
    assert _refused(_choice, {"sort": long}, "sort", SORTS, "relevance") == \
        f"sort must be one of relevance, newest, upvotes, got {('n' * 39 + 'a')!r}"


def test_filters_from_the_query_string() -> None:
    assert filters_from({}) == SearchFilters(featured_only=False)
    got = filters_from({"date_from": "2026-03-01", "date_to": "2026-03-01",
                        "category": "  cs.CL ", "has_code": "no", "featured": "yes"})
    assert got == SearchFilters(date_from=dt.date(2026, 3, 1), date_to=dt.date(2026, 3, 1),
                                category="cs.CL", has_code=False, featured_only=True)
    assert filters_from({"category": "   ", "featured": "0"}) == \
        SearchFilters(category=None, featured_only=False)
    assert filters_from({"date_to": "2026-03-01"}).date_to == dt.date(2026, 3, 1)
    assert _refused(filters_from, {"date_from": "2026-03-02", "date_to": "2026-03-01"}) == \
        "date_from is after date_to"


def test_pages_sort_defaults_to_trending_and_refuses_others() -> None:
    assert _sort(None) == "trending" and _sort("") == "trending"
    for sort in catalog.SORTS:
        assert _sort(sort) == sort
    with pytest.raises(HTTPException) as caught:
        _sort("relevance")
    assert caught.value.status_code == 400
    assert caught.value.detail == "unknown sort 'relevance': use one of trending, upvotes, newest"


def test_pages_turn_a_bad_period_into_a_400_with_its_message() -> None:
    assert _or_400(catalog.parse_month, "2026-03").label == "2026-03"
    with pytest.raises(HTTPException) as caught:
        _or_400(catalog.parse_week, "2025-W53")
    assert (caught.value.status_code, caught.value.detail) == \
        (400, "invalid week '2025-W53': no such ISO week")
