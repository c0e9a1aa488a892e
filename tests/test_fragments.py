"""Rendered cards kept between anonymous requests (web/fragments.py): a day's list made again
after a vote renders only the voted paper's card; any other write empties the store; a signed-in
reader's cards (their vote buttons) are never taken from it."""

from __future__ import annotations

import datetime as dt
import re

from fastapi.testclient import TestClient

from dailypapers.community.sessions import start_session
from dailypapers.community.votes import set_vote
from dailypapers.db.engine import db_now, write_transaction
from dailypapers.db.schema import papers, users
from dailypapers.ingest.files import import_paths
from dailypapers.rank.trending import TrendingParams
from dailypapers.web.app import create_app
from dailypapers.web.deps import session_cookie_name
from tests.helpers import hf_item, write_json

IDS = ["2603.00001", "2603.00002", "2603.00003"]
DAY = "/papers/date/2026-03-02"


def _count(html: str, paper: str) -> int:
    card = html[html.index(f'id="paper-{paper}"'):]
    return int(re.search(r'<span class="count">(\d+)</span>', card).group(1))


def test_cards_are_rendered_once_per_change(engine, settings, tmp_path):  # type: ignore[no-untyped-def]
    import_paths(engine, [write_json(tmp_path / "d.json", [
        hf_item(pid, title=f"Study {n}", upvotes=n, day="2026-03-02")
        for n, pid in enumerate(IDS, 1)])])
    with write_transaction(engine) as conn:
        now = db_now(conn)
        uid = conn.execute(users.insert().values(
            username="reader", username_key="reader", password_hash="!", created_at=now,
            password_changed_at=now)).inserted_primary_key[0]
        cookie, _ = start_session(conn, uid, dt.timedelta(days=1))
    app = create_app(settings, engine)
    with TestClient(app) as web:
        store = app.state.fragments
        first = web.get(DAY).text
        assert (store.hits, store.misses) == (0, 3)
        assert web.get(f"{DAY}?sort=trending").status_code == 200  # another answer, same cards
        assert store.hits == 3 and store.misses == 3
        with write_transaction(engine, changes="votes") as conn:
            set_vote(conn, uid, IDS[1], True, TrendingParams())
        again = web.get(DAY).text
        assert (store.hits, store.misses) == (5, 4)  # only the voted card is made again
        assert _count(first, IDS[1]) == 2 and _count(again, IDS[1]) == 3
        assert _count(again, IDS[0]) == 1
        with write_transaction(engine) as conn:  # any other write: every card is made again
            conn.execute(papers.update().where(papers.c.id == IDS[2]).values(title="Renamed"))
        assert "Renamed" in web.get(DAY).text
        assert (store.hits, store.misses) == (5, 7)
        web.cookies.set(session_cookie_name(settings), cookie)
        signed_in = web.get(DAY).text
        assert signed_in.count('class="vote-button"') == 3  # their buttons, not the kept cards
        assert (store.hits, store.misses) == (5, 7)
