"""Merge rules of the one upsert (dailypapers/ingest/service.py), each with records built so that
breaking the rule changes the stored row: records arrive out of order, with and without a
version, from arXiv and from Hugging Face. SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

from dailypapers import catalog
from dailypapers.db.engine import read_transaction
from dailypapers.ingest import hf_daily
from dailypapers.ingest.records import SOURCE_ATOM, SOURCE_OAI, PaperRecord, ParsedItem
from tests.helpers import hf_item, store

PID = "2101.02199"


def _row(engine):
    with read_transaction(engine) as conn:
        return catalog.get_paper(conn, PID)


def _arxiv(**fields) -> ParsedItem:
    fields.setdefault("source", SOURCE_OAI)
    return ParsedItem(PaperRecord(arxiv_id=PID, **fields))


def _hf(title: str, upvotes: int) -> list:  # type: ignore[type-arg]
    return list(hf_daily.parse_items([hf_item(PID, title=title, upvotes=upvotes)],
                                     day=dt.date(2026, 3, 2)))


def test_older_record_without_version_does_not_overwrite_a_newer_one(engine) -> None:
    """Fails if an arXiv record without a version (an OAI record, dated by its last update)
    replaces a stored newer version: v5 updated 2021-03-05, then a versionless record last
    updated 2021-01-10 arrives late."""
    store(engine, [_arxiv(version=5, title="Fifth", submitted_at="2021-01-06",
                          updated_at="2021-03-05")])
    counts = store(engine, [_arxiv(title="Older", submitted_at="2021-01-06",
                                   updated_at="2021-01-10")])
    row = _row(engine)
    assert (row["title"], row["version"], row["updated_at"]) == ("Fifth", 5, "2021-03-05")
    assert counts.unchanged == 1 and counts.updated == 0


def test_newer_record_without_version_replaces_an_older_one(engine) -> None:
    """Fails if a versionless record is never allowed to win (the rule above made too strict):
    v1 updated 2021-01-06, then a versionless record updated 2021-03-05."""
    store(engine, [_arxiv(version=1, title="First", submitted_at="2021-01-06",
                          updated_at="2021-01-06", source=SOURCE_ATOM)])
    store(engine, [_arxiv(title="Newer", submitted_at="2021-01-06", updated_at="2021-03-05")])
    row = _row(engine)
    assert (row["title"], row["updated_at"]) == ("Newer", "2021-03-05")
    assert row["version"] == 1  # the record did not say, so the stored version stays


def test_versionless_records_compare_by_date_with_submitted_as_fallback(engine) -> None:
    """Fails if the date comparison is reversed or ignores ``submitted_at`` when ``updated_at``
    is missing: a record submitted 2021-05-01 (no update) beats one updated 2021-02-01, and a
    later-arriving record submitted 2021-01-01 does not beat it."""
    store(engine, [_arxiv(title="Feb", updated_at="2021-02-01")])
    store(engine, [_arxiv(title="May", submitted_at="2021-05-01")])
    assert _row(engine)["title"] == "May"
    store(engine, [_arxiv(title="Jan", submitted_at="2021-01-01")])
    assert _row(engine)["title"] == "May"


def test_same_version_again_is_taken_and_lower_version_is_not(engine) -> None:
    """Fails if the version comparison is strict (``>``: a corrected record of the same version
    is ignored) or reversed (a lower version wins)."""
    store(engine, [_arxiv(version=3, title="Three", source=SOURCE_ATOM)])
    store(engine, [_arxiv(version=3, title="Three, corrected", source=SOURCE_ATOM)])
    assert _row(engine)["title"] == "Three, corrected"
    store(engine, [_arxiv(version=2, title="Two", source=SOURCE_ATOM)])
    assert (_row(engine)["title"], _row(engine)["version"]) == ("Three, corrected", 3)


def test_out_of_order_versions_inside_one_batch(engine) -> None:
    """Fails if duplicates inside one batch are merged by arrival instead of by the rule: v4
    then v2 in the same batch leaves v4."""
    store(engine, [_arxiv(version=4, title="Four", source=SOURCE_ATOM),
                   _arxiv(version=2, title="Two", source=SOURCE_ATOM)])
    row = _row(engine)
    assert (row["title"], row["version"]) == ("Four", 4)


def test_hugging_face_fills_bibliography_only_until_arxiv_speaks(engine) -> None:
    """Fails if Hugging Face overwrites an arXiv title, or if arXiv's title does not replace
    Hugging Face's; upvotes always follow Hugging Face."""
    store(engine, _hf("HF first", 4))
    assert _row(engine)["title"] == "HF first"
    store(engine, _hf("HF second", 5))
    assert _row(engine)["title"] == "HF second"  # no arXiv source yet: HF may correct itself
    store(engine, [_arxiv(title="arXiv title", submitted_at="2021-01-06")])
    store(engine, _hf("HF third", 8))
    row = _row(engine)
    assert (row["title"], row["upvotes"], row["bib_source"]) == ("arXiv title", 8, SOURCE_OAI)


def test_arxiv_does_not_touch_hugging_face_fields(engine) -> None:
    """Fails if an arXiv record's fields reach the Hugging Face columns (upvotes)."""
    store(engine, _hf("HF", 11))
    store(engine, [_arxiv(title="arXiv", upvotes=0, num_comments=0)])
    row = _row(engine)
    assert (row["upvotes"], row["num_comments"]) == (11, 2)


def test_links_from_arxiv_fill_a_gap_but_never_replace(engine) -> None:
    """Fails if a link found in an arXiv abstract replaces one already stored, or is dropped
    when nothing was stored."""
    store(engine, [_arxiv(title="T", github_repo="https://github.com/a/first")])
    store(engine, [_arxiv(title="T", github_repo="https://github.com/a/second")])
    assert _row(engine)["github_repo"] == "https://github.com/a/first"
