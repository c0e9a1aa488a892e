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

The statements live in votes_pg.py and votes_sqlite.py, one per database, compiled once: a vote
is a few tiny statements, and building them per call was most of its cost.

Functions take a connection and never commit.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dailypapers.community import votes_pg, votes_sqlite
from dailypapers.community.sessions import ApiTokenUser, touch_api_token
from dailypapers.db import data_version
from dailypapers.db.schema import votes
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


def _engine_module(conn: Connection) -> Any:
    return votes_pg if conn.dialect.name == "postgresql" else votes_sqlite


def set_vote(conn: Connection, user_id: int, paper_id: str, on: bool,
             params: TrendingParams) -> VoteState:
    """Make this user's vote exist (``on``) or not; repeating it changes nothing."""
    try:
        counts = _engine_module(conn).set_vote(conn, user_id, paper_id, on, params)
    except sa.exc.IntegrityError:  # the foreign key: no such paper (the caller rolls back)
        raise UnknownPaper(paper_id) from None
    if counts is None:
        raise UnknownPaper(paper_id)
    state = VoteState(paper_id, on, *counts)
    _note_change(conn, state)
    return state


def _note_change(conn: Connection, state: VoteState) -> None:
    """Cached answers that show this paper's counts are stale once this commits."""
    if state.changed:
        data_version.note_voted(conn, state.paper_id)


def vote_by_token(conn: Connection, token: str, paper_id: str, on: bool,
                  params: TrendingParams) -> tuple[ApiTokenUser, VoteState] | None:
    """set_vote for the user of an API token (stamping its "last used" when due); None when the
    token is not valid (nothing written). On PostgreSQL the token lookup is part of the vote's
    one statement."""
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
        _note_change(conn, state)
    else:
        voter = votes_sqlite.api_token_user(conn, token)
        if voter is None:
            return None
        state = set_vote(conn, voter.user.id, paper_id, on, params)
    touch_api_token(conn, voter.token_id, voter.stale)
    return voter, state


def toggle_vote(conn: Connection, user_id: int, paper_id: str,
                params: TrendingParams) -> VoteState:
    """Remove this user's vote if it exists, else add it (the page's one button)."""
    state = set_vote(conn, user_id, paper_id, False, params)
    return state if state.changed else set_vote(conn, user_id, paper_id, True, params)


def voted_papers(conn: Connection, user_id: int, paper_ids: list[str]) -> set[str]:
    """Which of these papers the user has upvoted (to show pressed buttons)."""
    if not paper_ids:
        return set()
    return set(conn.execute(
        sa.select(votes.c.paper_id)
        .where(votes.c.user_id == user_id, votes.c.paper_id.in_(paper_ids))
    ).scalars())
