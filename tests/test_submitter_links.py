"""A local submitter's "submitted by" link follows the account (``feature_days.submitter_user_id``),
not the name stored on the day: on the day's list and the paper page it leads to the account's
page under its current name, and once the account is gone the name stays as text with no link to
a 404 (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import lxml.html
import sqlalchemy as sa

from dailypapers.community.accounts import create_user
from dailypapers.db.engine import db_now, write_transaction
from dailypapers.db.schema import feature_days, users
from dailypapers.ingest.files import import_paths
from tests.helpers import hf_item, write_json

PAPER = "2603.00001"
LOCAL_DAY = "2026-03-03"


def _submitted_by(client, path: str) -> list[tuple[str, str | None]]:  # type: ignore[no-untyped-def]
    """(text, href) of every local submitter shown on ``path``."""
    answer = client.get(path)
    assert answer.status_code == 200, path
    doc = lxml.html.fromstring(answer.text)
    return [(e.text_content(), e.get("href")) for e in doc.cssselect(".local-submitter")]


def test_submitted_by_links_follow_the_account(client, engine, tmp_path) -> None:
    import_paths(engine, [write_json(tmp_path / "day.json", [hf_item(PAPER, day="2026-03-02")])])
    with write_transaction(engine) as conn:
        user = create_user(conn, "Rosalind", "a long enough passphrase")
        now = db_now(conn)
        conn.execute(feature_days.insert().values(
            paper_id=PAPER, day=dt.date.fromisoformat(LOCAL_DAY), source="local", upvotes=0, num_comments=0,
            submitted_on_daily_at=f"{LOCAL_DAY}T09:00:00.000Z", submitter_name="Rosalind",
            submitter={"username": "Rosalind", "fullname": "Rosalind", "type": "user"},
            submitter_user_id=user.id, is_demo=False, first_seen_at=now, row_updated_at=now))
    pages = (f"/papers/date/{LOCAL_DAY}", f"/papers/{PAPER}")
    for path in pages:
        assert _submitted_by(client, path) == [("Rosalind", "/users/Rosalind")], path
    assert client.get("/users/Rosalind").status_code == 200

    with write_transaction(engine) as conn:  # the account now goes by another name
        conn.execute(users.update().where(users.c.id == user.id)
                     .values(username="Franklin", username_key="franklin"))
    for path in pages:
        assert _submitted_by(client, path) == [("Franklin", "/users/Franklin")], path
    assert client.get("/users/Franklin").status_code == 200
    assert client.get("/users/Rosalind").status_code == 404

    with write_transaction(engine) as conn:  # the account is gone: the name, unlinked
        conn.execute(feature_days.update().where(feature_days.c.source == "local")
                     .values(submitter_user_id=None))
        conn.execute(users.delete().where(users.c.id == user.id))
    for path in pages:
        assert _submitted_by(client, path) == [("Rosalind", None)], path
    # Hugging Face's submitters keep their month filter link.
    doc = lxml.html.fromstring(client.get(f"/papers/{PAPER}").text)
    assert [a.get("href").split("?")[1] for a in doc.cssselect("a.submitter-link")
            if "local-submitter" not in a.get("class")] != []
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(users)).scalar_one() == 0
