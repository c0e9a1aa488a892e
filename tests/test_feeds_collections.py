"""A public collection's Atom and RSS feeds, on SQLite and PostgreSQL, read by feedparser.

Papers are added at chosen times so that the feed's order (most recently added first) differs
from id order, feature order and trending order, and each item's date (when it was added) from
its feature time: a feed dated or ordered by anything else fails. A private or unknown
collection is a 404, its owner's request included (a feed reader has no session).
"""

from __future__ import annotations

import datetime as dt
import email.utils

import lxml.html
import pytest
import sqlalchemy as sa

from dailypapers.community import collections as cs
from dailypapers.db.engine import write_transaction
from dailypapers.db.schema import collection_items, collections, papers
from tests.test_feeds import A, B, BASE, C, FORMATS, X, data, ids, published, read, site  # noqa: F401
from tests.test_votes import _session, _users

ADDED = {C: dt.datetime(2026, 3, 9, 7, 30, tzinfo=dt.timezone.utc),  # newest
         X: dt.datetime(2026, 3, 8, 12, 0, tzinfo=dt.timezone.utc),
         A: dt.datetime(2026, 3, 7, 6, 15, tzinfo=dt.timezone.utc)}
CHANGED = dt.datetime(2026, 3, 9, 7, 30, tzinfo=dt.timezone.utc)


def _collection(engine, owner: int, name: str, public: bool, added: dict[str, dt.datetime],
                description: str = "") -> int:
    with write_transaction(engine) as conn:
        cid = conn.execute(collections.insert().values(
            user_id=owner, name=name, description=description, is_public=public,
            created_at=CHANGED, updated_at=CHANGED)).inserted_primary_key[0]
        for pid, when in added.items():
            conn.execute(collection_items.insert().values(collection_id=cid, paper_id=pid,
                                                          added_at=when))
    return cid


@pytest.fixture
def shelves(engine, data):  # type: ignore[no-untyped-def]
    ((owner, _token),) = _users(engine, 1, prefix="curator")
    public = _collection(engine, owner, "Graph <reading>", True, ADDED, "Papers on graphs.")
    private = _collection(engine, owner, "Secret shelf", False, {B: CHANGED})
    return owner, public, private


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_public_collection_is_a_feed_newest_addition_first(site, shelves, fmt):  # type: ignore[no-untyped-def]
    _owner, public, _private = shelves
    parsed = read(site, f"/feeds/collection/{public}.{fmt}")
    assert ids(parsed) == [C, X, A]  # ids sort X, A, C; A was featured latest
    assert [e.id for e in parsed.entries] == [f"{BASE}/papers/{p}" for p in (C, X, A)]
    assert [e.link for e in parsed.entries] == [f"{BASE}/papers/{p}" for p in (C, X, A)]
    # Dated when added, not when featured (A was featured on 2026-03-03 10:00).
    assert published(parsed) == {p: when.replace(tzinfo=None) for p, when in ADDED.items()}
    assert parsed.feed.title == "Daily Papers: Graph <reading> (a collection by curator0)"
    assert parsed.feed.link == f"{BASE}/collections/{public}"
    assert ids(read(site, f"/feeds/collection/{public}.{fmt}")) == [C, X, A]  # stable


def test_a_paper_a_moderator_hid_leaves_the_feed(site, engine, shelves):  # type: ignore[no-untyped-def]
    _owner, public, _private = shelves
    with write_transaction(engine) as conn:
        conn.execute(papers.update().where(papers.c.id == X).values(hidden_at=CHANGED))
    assert ids(read(site, f"/feeds/collection/{public}.rss")) == [C, A]


def test_private_unknown_and_malformed_collections_are_404(site, engine, shelves):  # type: ignore[no-untyped-def]
    owner, _public, private = shelves
    cookie, _csrf = _session(engine, owner)
    site.cookies.set("__Host-dp_session", cookie)  # even its owner's reader gets nothing
    assert site.get(f"/collections/{private}").status_code == 200  # the page, to its owner
    for path in (f"/feeds/collection/{private}.atom", f"/feeds/collection/{private}.rss",
                 "/feeds/collection/999999.atom", "/feeds/collection/abc.rss",
                 "/feeds/collection/0.atom", "/feeds/collection/99999999999.atom"):
        answer = site.get(path)
        assert answer.status_code == 404, path
        assert answer.headers["content-type"] == "application/json"
        assert "not found" in answer.json()["error"] and "Secret" not in answer.text
    site.cookies.clear()


def test_conditional_get_and_a_removal_moves_last_modified(site, engine, shelves):  # type: ignore[no-untyped-def]
    owner, public, _private = shelves
    path = f"/feeds/collection/{public}.atom"
    first = site.get(path)
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    assert email.utils.parsedate_to_datetime(modified) == dt.datetime(
        2026, 3, 9, 7, 30, tzinfo=dt.timezone.utc)
    for headers in ({"If-None-Match": etag}, {"If-Modified-Since": modified}):
        again = site.get(path, headers=headers)
        assert (again.status_code, again.content) == (304, b"")
    # Taking a paper out shows in no item's date: the collection's own change must move
    # Last-Modified, or a reader asking If-Modified-Since would keep the removed paper.
    with write_transaction(engine) as conn:
        assert cs.remove_paper(conn, owner, public, A)
    after = site.get(path, headers={"If-Modified-Since": modified})
    assert after.status_code == 200 and after.headers["etag"] != etag
    assert ids(read(site, path)) == [C, X]
    assert site.get(path, headers={"If-None-Match": etag}).status_code == 200


def test_the_collection_page_announces_its_feed_and_a_private_one_none(site, engine, shelves):  # type: ignore[no-untyped-def]
    owner, public, private = shelves
    doc = lxml.html.fromstring(site.get(f"/collections/{public}").text)
    found = doc.xpath("//head/link[@rel='alternate']")
    assert [(f.get("type"), f.get("href")) for f in found] == [
        ("application/atom+xml", f"/feeds/collection/{public}.atom"),
        ("application/rss+xml", f"/feeds/collection/{public}.rss")]
    assert found[0].get("title") == "Collection: Graph <reading> (Atom)"
    shown = [a.get("href") for a in doc.cssselect("main .collection-feed a")]
    assert shown == [f"/feeds/collection/{public}.atom", f"/feeds/collection/{public}.rss"]
    for href in shown:
        read(site, href)
    cookie, _csrf = _session(engine, owner)
    site.cookies.set("__Host-dp_session", cookie)
    mine = lxml.html.fromstring(site.get(f"/collections/{private}").text)
    assert not mine.xpath("//head/link[@rel='alternate']")
    assert not mine.cssselect("main .collection-feed")
    site.cookies.clear()
    feeds_page = lxml.html.fromstring(site.get("/feeds").text)
    assert "/feeds/collection/ID.atom" in feeds_page.text_content()
