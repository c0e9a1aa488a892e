"""Reads only a data-version move changes (web/version_memo.py): kept for the version they were
read at, read again once it moves, and never kept for a version older than the one held."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from dailypapers.ingest.files import import_paths
from dailypapers.web.app import create_app
from dailypapers.web.version_memo import VersionMemo
from tests.helpers import add_voter, hf_item, write_json

PAPER = "2603.00001"


def test_a_value_is_kept_for_its_version_only() -> None:
    memo, calls = VersionMemo(), []

    def compute(value: str):  # type: ignore[no-untyped-def]
        return lambda: calls.append(value) or value

    assert memo.get(5, "k", compute("a")) == "a"
    assert memo.get(5, "k", compute("b")) == "a"  # kept
    assert memo.get(5, "other", compute("c")) == "c"  # another key is its own
    assert memo.get(6, "k", compute("d")) == "d"  # the version moved: read again
    assert memo.get(6, "other", compute("e")) == "e"  # ... and the old values are gone
    # A request that read version 5 before the move computes its own and keeps nothing:
    assert memo.get(5, "k", compute("f")) == "f"
    assert memo.get(6, "k", compute("g")) == "d"
    assert calls == ["a", "c", "d", "e", "f"]
    assert (memo.hits, memo.misses) == (2, 5)


@pytest.fixture
def site(engine, settings, tmp_path):  # type: ignore[no-untyped-def]
    import_paths(engine, [write_json(tmp_path / "2026-03-02.json", [
        hf_item(PAPER, title="Widget study", upvotes=7, day="2026-03-02")])])
    add_voter(engine)
    app = create_app(settings, engine)
    with TestClient(app) as client:
        yield app, client


def test_a_vote_re_renders_the_day_without_asking_for_its_neighbours_again(
        site, engine, tmp_path):  # type: ignore[no-untyped-def]
    app, client = site
    memo = app.state.version_memo
    page = client.get("/papers/date/2026-03-02")
    assert page.headers["x-cache"] == "miss" and 'rel="next"' not in page.text
    misses = memo.misses
    from dailypapers.community.votes import set_vote
    from dailypapers.db.engine import write_transaction
    from dailypapers.rank.trending import TrendingParams

    with write_transaction(engine, changes="votes") as conn:  # moves the votes version only
        set_vote(conn, 1, PAPER, True, TrendingParams())
    page = client.get("/papers/date/2026-03-02")
    assert page.headers["x-cache"] == "miss"  # the vote ended the page ...
    assert '<span class="count">8</span>' in page.text  # 7 on Hugging Face + 1 here
    assert memo.misses == misses  # ... and its re-render read neither neighbours nor footer

    # An import moves the data version: the neighbours are read again and the link shows.
    import_paths(engine, [write_json(tmp_path / "2026-03-03.json", [
        hf_item("2603.00002", title="Gadget study", upvotes=1, day="2026-03-03")])])
    page = client.get("/papers/date/2026-03-02")
    assert 'rel="next" href="/papers/date/2026-03-03"' in page.text
    assert memo.misses > misses
