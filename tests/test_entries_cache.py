"""A period's entries kept across votes (web/entries_cache.py): after a vote the day's page and
JSON read only the voted paper again, show its new counts in the order its new score gives, and
any other write reads the whole day again. Without PostgreSQL's listener nothing is kept."""

from __future__ import annotations

import re
import time

import pytest
from fastapi.testclient import TestClient

from dailypapers.community.votes import set_vote
from dailypapers.db import data_version
from dailypapers.db.engine import write_transaction
from dailypapers.ingest.files import import_paths
from dailypapers.rank.trending import TrendingParams
from dailypapers.web.app import create_app
from tests.helpers import add_voter, hf_item, write_json

DAY = "2026-03-02"
FIRST, SECOND, THIRD = "2603.00001", "2603.00002", "2603.00003"


def _items(title: str = "Widget study") -> list[dict]:  # type: ignore[type-arg]
    # Equal upvotes: trending ties, broken by id (FIRST, SECOND, THIRD).
    return [hf_item(FIRST, title=title, upvotes=5, day=DAY),
            hf_item(SECOND, title="Gadget study", upvotes=5, day=DAY),
            hf_item(THIRD, title="Sprocket study", upvotes=5, day=DAY)]


@pytest.fixture
def site(engine, settings, tmp_path):  # type: ignore[no-untyped-def]
    import_paths(engine, [write_json(tmp_path / f"{DAY}.json", _items())])
    add_voter(engine)
    app = create_app(settings, engine)
    with TestClient(app) as client:
        listener = app.state.data_versions.listener
        if listener is not None:
            deadline = time.monotonic() + 10
            while not listener.connected:
                assert time.monotonic() < deadline, "the version listener did not connect"
                time.sleep(0.02)
        yield app, client


def _vote(engine, paper: str, on: bool = True) -> None:  # type: ignore[no-untyped-def]
    with write_transaction(engine, changes="votes") as conn:
        set_vote(conn, 1, paper, on, TrendingParams())


def _vote_heard(app, engine, paper: str) -> None:  # type: ignore[no-untyped-def]
    """A vote, and on PostgreSQL its notification back at this process's listener (which skips
    it: the log has it from the commit). The counts below need the notification handled."""
    listener = app.state.data_versions.listener
    heard = listener.generation if listener is not None else None
    _vote(engine, paper)
    deadline = time.monotonic() + 10
    while heard is not None and listener.generation == heard:
        assert time.monotonic() < deadline, "the listener never heard the vote"
        time.sleep(0.005)


def _page_order(text: str) -> list[str]:
    return re.findall(r'<article class="card" id="paper-([0-9.]+)"', text)


def _count_of(text: str, paper: str) -> str:
    card = text[text.index(f'id="paper-{paper}"'):]
    return re.search(r'<span class="count">(\d+)</span>', card).group(1)  # type: ignore[union-attr]


def test_a_vote_reads_only_its_paper_again_and_moves_it_where_its_score_says(
        site, engine, db_url):  # type: ignore[no-untyped-def]
    app, client = site
    cache = app.state.entries_cache
    page = client.get(f"/papers/date/{DAY}")
    api = client.get(f"/api/daily_papers?date={DAY}&sort=trending").json()
    assert _page_order(page.text) == [FIRST, SECOND, THIRD]
    assert [i["paper"]["id"] for i in api] == [FIRST, SECOND, THIRD]
    reads = cache.reads

    _vote_heard(app, engine, THIRD)  # 6 upvotes: first of the day now
    page = client.get(f"/papers/date/{DAY}")
    api = client.get(f"/api/daily_papers?date={DAY}&sort=trending").json()
    assert page.headers["x-cache"] == "miss"
    assert _page_order(page.text) == [THIRD, FIRST, SECOND]
    assert _count_of(page.text, THIRD) == "6" and _count_of(page.text, FIRST) == "5"
    assert [i["paper"]["id"] for i in api] == [THIRD, FIRST, SECOND]
    assert [i["paper"]["upvotes"] for i in api] == [6, 5, 5]
    if db_url.startswith("postgresql"):
        assert cache.reads == reads  # neither read the whole day again:
        assert cache.refreshes == 1  # the page read the voted paper, and the API (the same
        assert cache.reuses >= 1  # list: one day, by trending) took the page's list
    else:  # no listener to tell which papers changed: every request reads the day
        assert cache.reads == cache.refreshes == 0

    _vote(engine, THIRD, on=False)  # back to the tie, and to the id order
    page = client.get(f"/papers/date/{DAY}")
    assert _page_order(page.text) == [FIRST, SECOND, THIRD]
    assert _count_of(page.text, THIRD) == "5"
    # The page renders as a fresh read would: the same bytes as a process that kept nothing.
    with TestClient(create_app(app.state.settings, engine)) as fresh:
        assert fresh.get(f"/papers/date/{DAY}").text == page.text


def test_a_write_that_is_not_a_vote_reads_the_whole_day_again(
        site, engine, tmp_path, db_url):  # type: ignore[no-untyped-def]
    app, client = site
    client.get(f"/papers/date/{DAY}")
    _vote(engine, SECOND)
    client.get(f"/papers/date/{DAY}")  # kept list refreshed
    import_paths(engine, [write_json(tmp_path / "again.json", _items(title="Renamed study"))])
    page = client.get(f"/papers/date/{DAY}")
    assert "Renamed study" in page.text and "Widget study" not in page.text
    assert _page_order(page.text) == [SECOND, FIRST, THIRD]


@pytest.fixture
def listening(site, db_url):  # type: ignore[no-untyped-def]
    """The site, on PostgreSQL only: (app, client, the entries cache)."""
    if not db_url.startswith("postgresql"):
        pytest.skip("the vote log needs PostgreSQL's listener")
    app, client = site
    return app, client, app.state.entries_cache


def test_a_vote_of_this_process_is_logged_once_and_another_s_when_heard(
        listening, engine):  # type: ignore[no-untyped-def]
    """Logged twice (at commit and when its notification came back), a vote made a list read
    after the first but before the second look voted again: one more refresh, and a flaky
    count. The notification names its process; the listener logs only other processes'."""
    import sqlalchemy as sa

    app, _client, _cache = listening
    listener, log = app.state.data_versions.listener, data_version.VOTE_LOG
    deadline = time.monotonic() + 10
    while not listener.connected:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    seq = log.seq
    _vote_heard(app, engine, THIRD)
    assert log.seq == seq + 1 and log.changed_since([THIRD], seq)
    heard = listener.generation
    with engine.begin() as conn:  # another process's vote, as its notification names it
        conn.execute(sa.text("SELECT pg_notify(:channel, :payload)"),
                     {"channel": data_version.CHANNEL, "payload": f"v {FIRST} ~1.elsewhere"})
    while listener.generation == heard:
        assert time.monotonic() < deadline, "the listener never heard the notification"
        time.sleep(0.005)
    assert log.seq == seq + 2 and log.voted_since([FIRST, THIRD, SECOND], seq + 1) == {FIRST}


def test_unvoted_lists_are_reused_and_votes_elsewhere_read_nothing(
        listening, engine, tmp_path):  # type: ignore[no-untyped-def]
    _app, client, cache = listening
    import_paths(engine, [write_json(tmp_path / "other.json", [
        hf_item("2603.00009", title="Other day", upvotes=1, day="2026-03-03")])])
    client.get(f"/papers/date/{DAY}")
    client.get("/papers/date/2026-03-03")
    reads = cache.reads
    _vote(engine, "2603.00009")  # a paper of the other day
    page = client.get(f"/papers/date/{DAY}")  # still cached as a page: no read at all
    assert page.headers["x-cache"] == "hit"
    other = client.get("/papers/date/2026-03-03")
    assert other.headers["x-cache"] == "miss" and _count_of(other.text, "2603.00009") == "2"
    assert cache.reads == reads and cache.refreshes == 1
    # The same list asked for by the API is a list of its own (another sort, another key),
    # and the day's page list is reused as it is.
    assert client.get("/papers/date/2026-03-03?sort=newest").status_code == 200
    assert cache.reads == reads + 1


def _listener_reconnected(app) -> None:  # type: ignore[no-untyped-def]
    # What a reconnect does to the mark: notifications may have been missed while it was down.
    app.state.data_versions.listener.connections += 1


def _log_forgot(app) -> None:  # type: ignore[no-untyped-def]
    # What a notification naming every paper (too many to list) or an overfull log does.
    data_version.VOTE_LOG.record([data_version.ALL_VOTES])


@pytest.mark.parametrize("blind", [_listener_reconnected, _log_forgot])
def test_when_the_vote_log_cannot_tell_the_whole_day_is_read_again(
        listening, engine, blind):  # type: ignore[no-untyped-def]
    app, client, cache = listening
    assert _page_order(client.get(f"/papers/date/{DAY}").text) == [FIRST, SECOND, THIRD]
    reads, refreshes = cache.reads, cache.refreshes

    _vote(engine, THIRD)  # 6 upvotes: first of the day, if the list is read again
    blind(app)
    page = client.get(f"/papers/date/{DAY}")
    assert page.headers["x-cache"] == "miss"
    assert _page_order(page.text) == [THIRD, FIRST, SECOND]
    assert _count_of(page.text, THIRD) == "6"
    assert cache.reads == reads + 1 and cache.refreshes == refreshes  # the whole day, read

    # The list read again is kept under the mark taken before that read: the log tells again.
    _vote(engine, THIRD, on=False)
    page = client.get(f"/papers/date/{DAY}")
    assert _page_order(page.text) == [FIRST, SECOND, THIRD]
    assert _count_of(page.text, THIRD) == "5"
    assert cache.reads == reads + 1 and cache.refreshes == refreshes + 1


def test_the_lists_are_bounded_by_their_entries(engine, settings):  # type: ignore[no-untyped-def]
    """A quarter of DAILYPAPERS_CACHE_BYTES or so on top of the page cache: the least recently
    used lists go first."""
    from dailypapers.web.entries_cache import ENTRY_BYTES, MIN_ENTRIES, EntriesCache, Kept

    assert EntriesCache.for_cache_bytes(32 << 20)._lists.max_bytes == (32 << 20) // ENTRY_BYTES
    assert EntriesCache.for_cache_bytes(1)._lists.max_bytes == MIN_ENTRIES
    cache = EntriesCache(10)
    lists = {day: Kept([object()] * 4, (0, 0)) for day in ("a", "b", "c")}  # type: ignore[list-item]
    for day, kept in lists.items():
        cache.put(1, (day,), kept)
    assert cache.get(1, ("a",)) is None  # 3 lists of 4 (+1 each) do not fit in 10
    assert cache.get(1, ("b",)) is lists["b"] and cache.get(1, ("c",)) is lists["c"]
    assert cache.get(2, ("c",)) is None  # another data version
