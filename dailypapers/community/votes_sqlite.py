"""A vote on SQLite in a few small statements compiled once.

Same rules as community/votes.py, which calls this on SQLite. SQLite runs one writer at a time,
so a vote's time inside the write lock is the site's vote rate; most of it was SQLAlchemy
building and cache-keying each statement (more than SQLite executing it). Here the statements
are written with SQLAlchemy Core, compiled once to SQL with named parameters, and executed by
the driver's cursor in the connection's transaction. With the lock held (BEGIN IMMEDIATE) nothing can race, so the steps are plain:
insert (ON CONFLICT DO NOTHING) or delete, RETURNING saying whether a row changed; then move the
counter and re-score the paper's feature days, or read the counts.

The driver sees no SQLAlchemy types: timestamps are written in SQLAlchemy's own SQLite format
(so they compare with the rest) and dates read back from ISO text.

Functions take a connection and never commit.
"""

from __future__ import annotations

import datetime as dt
import functools
import sqlite3
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection

from dailypapers.community.sessions import (
    LAST_USED_RESOLUTION, ApiTokenUser, hash_token, valid_api_token_shape,
)
from dailypapers.community.users import User
from dailypapers.db.engine import db_now
from dailypapers.db.schema import api_tokens, feature_days, papers, users, votes
from dailypapers.rank.stored import score_of
from dailypapers.rank.trending import TrendingParams

_DIALECT = sqlite.dialect(paramstyle="named")


def _p(name: str) -> sa.BindParameter[Any]:
    return sa.bindparam(name)


def _compile(statement: Any) -> str:
    return str(statement.compile(dialect=_DIALECT))


@functools.cache
def _sql() -> SimpleNamespace:
    # A paper a moderator hid takes no votes either way: the insert and delete change nothing
    # and the counts find no row, so the voter is told it is unknown (as votes_pg does).
    visible = sa.select(papers.c.id).where(papers.c.id == _p("paper_id"),
                                           papers.c.hidden_at.is_(None))
    return SimpleNamespace(
        token=_compile(
            sa.select(users.c.id, users.c.username, users.c.is_admin, users.c.is_moderator,
                      api_tokens.c.id.label("token_id"),
                      sa.or_(api_tokens.c.last_used_at.is_(None),
                             api_tokens.c.last_used_at <= _p("cutoff")).label("stale"))
            .join(users, users.c.id == api_tokens.c.user_id)
            .where(api_tokens.c.token_hash == _p("token_hash"), users.c.suspended_at.is_(None))),
        insert=_compile(
            sqlite.insert(votes).from_select(
                ["user_id", "paper_id", "created_at"],
                sa.select(_p("user_id"), _p("paper_id"), _p("now")).where(sa.exists(visible)))
            .on_conflict_do_nothing(index_elements=["user_id", "paper_id"])
            .returning(votes.c.id)),
        delete=_compile(
            votes.delete().where(votes.c.user_id == _p("user_id"),
                                 votes.c.paper_id == _p("paper_id"), sa.exists(visible))
            .returning(votes.c.id)),
        bump=_compile(
            papers.update().where(papers.c.id == _p("paper_id"))
            .values(local_upvotes=papers.c.local_upvotes + _p("delta"), counts_updated_at=_p("now"))
            .returning(papers.c.upvotes, papers.c.local_upvotes, papers.c.num_comments,
                       papers.c.local_comments)),
        counts=_compile(
            sa.select(papers.c.upvotes, papers.c.local_upvotes)
            .where(papers.c.id == _p("paper_id"), papers.c.hidden_at.is_(None))),
        days=_compile(
            sa.select(feature_days.c.id, feature_days.c.day, feature_days.c.submitted_on_daily_at)
            .where(feature_days.c.paper_id == _p("paper_id"))),
        score=_compile(
            feature_days.update().where(feature_days.c.id == _p("fd_id"))
            .values(trending_score=_p("score"))),
    )


def _stamp(conn: Connection) -> str:
    """Now, as SQLAlchemy's DateTime stores it in SQLite (UTC, no offset)."""
    return db_now(conn).strftime("%Y-%m-%d %H:%M:%S.%f")


def _cursor(conn: Connection) -> sqlite3.Cursor:
    """The driver's own cursor, inside the connection's transaction: SQLAlchemy's result
    objects cost more than these statements take to run. Rows are plain tuples."""
    return conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]


def api_token_user(conn: Connection, token: str) -> ApiTokenUser | None:
    """sessions.user_for_api_token, compiled once."""
    if not valid_api_token_shape(token):
        return None
    cutoff = (db_now(conn) - LAST_USED_RESOLUTION).strftime("%Y-%m-%d %H:%M:%S.%f")
    row = _cursor(conn).execute(_sql().token, {"token_hash": hash_token(token),
                                               "cutoff": cutoff}).fetchone()
    if row is None:
        return None
    user_id, username, is_admin, is_moderator, token_id, stale = row
    user = User(id=user_id, username=username, is_admin=bool(is_admin),
                is_moderator=bool(is_moderator), via="token")
    return ApiTokenUser(user, token_id, bool(stale))


def set_vote(conn: Connection, user_id: int, paper_id: str, on: bool,
             params: TrendingParams) -> tuple[bool, int, int] | None:
    """(changed, imported, local), or None for an unknown or hidden paper (the insert's
    ``EXISTS`` keeps it from the foreign key, so ``sa.exc.IntegrityError`` is only a guard)."""
    sql, now, cur = _sql(), _stamp(conn), _cursor(conn)
    key = {"user_id": user_id, "paper_id": paper_id}
    try:
        if on:
            changed = cur.execute(sql.insert, {**key, "now": now}).fetchone() is not None
        else:
            changed = cur.execute(sql.delete, key).fetchone() is not None
    except sqlite3.IntegrityError as exc:  # as SQLAlchemy would have raised it
        raise sa.exc.IntegrityError(sql.insert, key, exc) from exc
    if not changed:  # already so, or the paper is unknown or hidden (no row: None)
        row = cur.execute(sql.counts, {"paper_id": paper_id}).fetchone()
        return None if row is None else (False, row[0], row[1])
    upvotes, local, comments, local_comments = cur.execute(sql.bump, {
        "paper_id": paper_id, "delta": 1 if on else -1, "now": now}).fetchone()
    days = cur.execute(sql.days, {"paper_id": paper_id}).fetchall()
    if days:
        cur.executemany(sql.score, [
            {"fd_id": fd_id, "score": score_of(SimpleNamespace(
                upvotes=upvotes, local_upvotes=local, num_comments=comments,
                local_comments=local_comments, day=dt.date.fromisoformat(day), submitted_on_daily_at=submitted), params)}
            for fd_id, day, submitted in days])
    return True, upvotes, local
