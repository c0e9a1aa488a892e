"""Upvotes: one row per (user, paper), and the count cached on the paper in the same transaction.

Exact under concurrency on both databases without locks of our own: the UNIQUE (user, paper)
constraint decides which of two racing inserts happened (``ON CONFLICT DO NOTHING``: the loser
inserts nothing), and the cache moves by +1/-1 only for a row this transaction really inserted or
deleted. An increment (``local_upvotes = local_upvotes + 1``) re-reads the row after waiting for
its lock; a ``COUNT(*)`` would not (under READ COMMITTED it counts from the statement's
snapshot, missing the racing vote that committed while we waited), so two racing voters would
leave the cache one short. SQLite has one writer at a time (BEGIN IMMEDIATE), so there it is
exact either way. Each change also re-scores the paper's feature days (rank/stored.py) and stamps
``counts_updated_at`` for the keyword index (never ``row_updated_at``: not a text change).

Functions take a connection and never commit.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from dailypapers.community import votes_pg
from dailypapers.community.sessions import ApiTokenUser, touch_api_token, user_for_api_token
from dailypapers.db.engine import db_now
from dailypapers.db.schema import papers, votes
from dailypapers.rank.stored import refresh_scores
from dailypapers.rank.trending import TrendingParams


class UnknownPaper(LookupError):
    """No paper with this id (nothing was written)."""


@dataclasses.dataclass(frozen=True)
class VoteState:
    paper_id: str
    voted: bool  # does this user's vote exist now
    changed: bool  # did this call add or remove it
    imported: int  # Hugging Face's count (papers.upvotes)
    local: int  # ours (papers.local_upvotes)

    @property
    def total(self) -> int:
        return self.imported + self.local


def _now(conn: Connection) -> Any:
    """db_now's clock, but on PostgreSQL as an expression the statement evaluates: a separate
    SELECT clock_timestamp() per stamp was two of a vote's eight round trips."""
    return sa.func.clock_timestamp() if conn.dialect.name == "postgresql" else db_now(conn)


def _insert(conn: Connection, user_id: int, paper_id: str) -> bool:
    values = {"user_id": user_id, "paper_id": paper_id, "created_at": _now(conn)}
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(votes).values(**values).on_conflict_do_nothing(
        index_elements=["user_id", "paper_id"]).returning(votes.c.id)
    # RETURNING, not rowcount: with SQLAlchemy's implicit RETURNING of the key, psycopg's
    # rowcount did not say whether the conflict skipped the row.
    return conn.execute(stmt).first() is not None


def _delete(conn: Connection, user_id: int, paper_id: str) -> bool:
    return conn.execute(
        votes.delete().where(votes.c.user_id == user_id, votes.c.paper_id == paper_id)
    ).rowcount == 1


def _bump(conn: Connection, paper_id: str, delta: int, params: TrendingParams) -> tuple[int, int]:
    """Move the cache by ``delta``, re-score the paper's days; (imported, local) after it."""
    imported, local = conn.execute(
        papers.update().where(papers.c.id == paper_id)
        .values(local_upvotes=papers.c.local_upvotes + delta, counts_updated_at=_now(conn))
        .returning(papers.c.upvotes, papers.c.local_upvotes)
    ).one()
    refresh_scores(conn, [paper_id], params)
    return imported, local


def _counts(conn: Connection, paper_id: str) -> tuple[int, int]:
    row = conn.execute(
        sa.select(papers.c.upvotes, papers.c.local_upvotes).where(papers.c.id == paper_id)
    ).first()
    if row is None:
        raise UnknownPaper(paper_id)
    return row.upvotes, row.local_upvotes


# Each call is few statements (a vote's cost is mostly them): the insert or delete, then either
# the counter UPDATE ... RETURNING plus the re-score when something changed, or one read.
def set_vote(conn: Connection, user_id: int, paper_id: str, on: bool,
             params: TrendingParams) -> VoteState:
    """Make this user's vote exist (``on``) or not; repeating it changes nothing."""
    if conn.dialect.name == "postgresql":
        try:
            counts = votes_pg.set_vote(conn, user_id, paper_id, on, params)
        except sa.exc.IntegrityError:  # the foreign key: no such paper (the caller rolls back)
            raise UnknownPaper(paper_id) from None
        if counts is None:
            raise UnknownPaper(paper_id)
        return VoteState(paper_id, on, *counts)
    if on:
        try:
            changed = _insert(conn, user_id, paper_id)
        except sa.exc.IntegrityError:  # the foreign key: no such paper (the caller rolls back)
            raise UnknownPaper(paper_id) from None
    else:
        changed = _delete(conn, user_id, paper_id)
    counts = _bump(conn, paper_id, 1 if on else -1, params) if changed else \
        _counts(conn, paper_id)
    return VoteState(paper_id, on, changed, *counts)


def vote_by_token(conn: Connection, token: str, paper_id: str, on: bool,
                  params: TrendingParams) -> tuple[ApiTokenUser, VoteState] | None:
    """set_vote for the user of an API token (stamping its "last used" when due); None when the
    token is not valid (nothing written). On PostgreSQL the token lookup is part of the vote's
    one statement (community/votes_pg.py)."""
    if conn.dialect.name == "postgresql":
        try:
            found = votes_pg.vote_by_token(conn, token, paper_id, on, params)
        except sa.exc.IntegrityError:
            raise UnknownPaper(paper_id) from None
        if found is None:
            return None
        voter, counts = found
        if counts is None:
            raise UnknownPaper(paper_id)
        state = VoteState(paper_id, on, *counts)
    else:
        voter = user_for_api_token(conn, token)
        if voter is None:
            return None
        state = set_vote(conn, voter.user.id, paper_id, on, params)
    touch_api_token(conn, voter.token_id, voter.stale)
    return voter, state


def toggle_vote(conn: Connection, user_id: int, paper_id: str,
                params: TrendingParams) -> VoteState:
    """Remove this user's vote if it exists, else add it (the page's one button)."""
    if conn.dialect.name == "postgresql":
        state = set_vote(conn, user_id, paper_id, False, params)
        return state if state.changed else set_vote(conn, user_id, paper_id, True, params)
    if _delete(conn, user_id, paper_id):
        return VoteState(paper_id, False, True, *_bump(conn, paper_id, -1, params))
    return set_vote(conn, user_id, paper_id, True, params)


def voted_papers(conn: Connection, user_id: int, paper_ids: list[str]) -> set[str]:
    """Which of these papers the user has upvoted (to show pressed buttons)."""
    if not paper_ids:
        return set()
    return set(conn.execute(
        sa.select(votes.c.paper_id)
        .where(votes.c.user_id == user_id, votes.c.paper_id.in_(paper_ids))
    ).scalars())
