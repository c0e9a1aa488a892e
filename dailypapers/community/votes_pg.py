"""A vote on PostgreSQL in one statement (plus the score UPDATE), compiled once.

Same rules as community/votes.py, which calls this on PostgreSQL; only the cost differs. There a
vote was seven statements, each a round trip and, on the Python side, a statement built and
cache-keyed by SQLAlchemy (measured: as much CPU as the rest of the request). Here one
statement, written with SQLAlchemy Core and compiled once per shape, does it all with
data-modifying CTEs:

- ``voter``: the user (by id, or by API token digest with the token's "last used" due flag);
- ``changed``: the INSERT ... ON CONFLICT DO NOTHING (or the DELETE) ... RETURNING: a row only
  when this transaction really added (removed) the vote;
- ``bumped``: the counter UPDATE for the paper in ``changed``, so it moves only for a real
  change. It waits for a racing vote's row lock and then re-reads the row (an increment, never a
  COUNT), so concurrent votes stay exact;
- the outer SELECT gives the voter, the counts (``bumped``'s when it moved) and the paper's
  feature days, whose scores the caller then writes (the formula is Python's: rank/trending.py).

Functions take a connection and never commit.
"""

from __future__ import annotations

import functools
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from dailypapers.community.sessions import (
    LAST_USED_RESOLUTION, ApiTokenUser, hash_token, valid_api_token_shape,
)
from dailypapers.community.users import User
from dailypapers.db.schema import api_tokens, feature_days, papers, users, votes
from dailypapers.rank.stored import score_of
from dailypapers.rank.trending import TrendingParams

_now = sa.func.clock_timestamp


def _voter(by_token: bool) -> sa.CTE:
    if not by_token:
        return sa.select(sa.bindparam("user_id", type_=sa.Integer).label("user_id")).cte("voter")
    stale = sa.or_(api_tokens.c.last_used_at.is_(None),
                   api_tokens.c.last_used_at
                   <= _now() - sa.bindparam("resolution", type_=sa.Interval))
    return (
        sa.select(users.c.id.label("user_id"), users.c.username, users.c.is_admin,
                  users.c.is_moderator, api_tokens.c.id.label("token_id"), stale.label("stale"))
        .join(users, users.c.id == api_tokens.c.user_id)
        .where(api_tokens.c.token_hash == sa.bindparam("token_hash"),
               users.c.suspended_at.is_(None))
        .cte("voter")
    )


@functools.cache
def _sql(on: bool, by_token: bool) -> str:
    voter = _voter(by_token)
    paper = sa.bindparam("paper_id", type_=sa.String)
    # A paper a moderator hid takes no votes either way: to the voter it is unknown (404).
    visible = sa.select(papers.c.id).where(papers.c.id == paper, papers.c.hidden_at.is_(None))
    if on:
        change: Any = postgresql.insert(votes).from_select(
            ["user_id", "paper_id", "created_at"],
            sa.select(voter.c.user_id, paper, _now()).where(sa.exists(visible)),
        ).on_conflict_do_nothing(index_elements=["user_id", "paper_id"])
    else:
        change = votes.delete().where(votes.c.user_id.in_(sa.select(voter.c.user_id)),
                                      votes.c.paper_id == paper, sa.exists(visible))
    changed = change.returning(votes.c.paper_id).cte("changed")
    bumped = (
        papers.update().where(papers.c.id.in_(sa.select(changed.c.paper_id)))
        .values(local_upvotes=papers.c.local_upvotes + sa.literal_column("1" if on else "-1"),
                counts_updated_at=_now())
        .returning(papers.c.id, papers.c.upvotes, papers.c.local_upvotes, papers.c.num_comments,
                   papers.c.local_comments)
        .cte("bumped")
    )
    extra = [voter.c.username, voter.c.is_admin, voter.c.is_moderator, voter.c.token_id,
             voter.c.stale] if by_token else []
    query = (
        sa.select(
            voter.c.user_id, *extra,
            papers.c.id.label("paper"),
            bumped.c.id.is_not(None).label("changed"),
            # Unchanged: the counts as this statement's snapshot has them.
            sa.func.coalesce(bumped.c.upvotes, papers.c.upvotes).label("upvotes"),
            sa.func.coalesce(bumped.c.local_upvotes, papers.c.local_upvotes)
            .label("local_upvotes"),
            sa.func.coalesce(bumped.c.num_comments, papers.c.num_comments).label("num_comments"),
            sa.func.coalesce(bumped.c.local_comments, papers.c.local_comments)
            .label("local_comments"),
            feature_days.c.id.label("fd_id"), feature_days.c.day,
            feature_days.c.submitted_on_daily_at,
        )
        .select_from(voter.outerjoin(papers, sa.and_(papers.c.id == paper,
                                                      papers.c.hidden_at.is_(None)))
                     .outerjoin(bumped, bumped.c.id == papers.c.id)
                     .outerjoin(feature_days, feature_days.c.paper_id == papers.c.id))
    )
    return str(query.compile(dialect=postgresql.psycopg.dialect()))


# One UPDATE per feature day of the paper (usually one), compiled once too.
_SCORE_SQL = str(
    feature_days.update().where(feature_days.c.id == sa.bindparam("fd_id"))
    .values(trending_score=sa.bindparam("score")).compile(dialect=postgresql.psycopg.dialect())
)


def _vote(conn: Connection, on: bool, by_token: bool, values: dict[str, Any],
          params: TrendingParams) -> tuple[Any, bool, int, int] | None:
    """(first row, changed, imported, local); None without a voter. Raises
    ``sa.exc.IntegrityError`` for an unknown paper when voting on (the foreign key)."""
    rows = conn.exec_driver_sql(_sql(on, by_token), values).all()
    if not rows:
        return None
    first = rows[0]
    if first.paper is None:
        return first, False, -1, -1
    if first.changed:
        # Written whatever the stored value: this statement's snapshot of it may predate a
        # racing vote; the counts it is computed from come from the locked row.
        conn.exec_driver_sql(_SCORE_SQL, [
            {"fd_id": row.fd_id, "score": score_of(row, params)}
            for row in rows if row.fd_id is not None])
    return first, bool(first.changed), first.upvotes, first.local_upvotes


def set_vote(conn: Connection, user_id: int, paper_id: str, on: bool,
             params: TrendingParams) -> tuple[bool, int, int] | None:
    """(changed, imported, local), or None for an unknown paper."""
    found = _vote(conn, on, False, {"user_id": user_id, "paper_id": paper_id}, params)
    assert found is not None  # the voter is a literal id: always one row
    first, changed, imported, local = found
    return None if first.paper is None else (changed, imported, local)


def vote_by_token(conn: Connection, token: str, paper_id: str, on: bool,
                  params: TrendingParams) -> tuple[ApiTokenUser, tuple[bool, int, int] | None] | None:
    """The token's user and (changed, imported, local) (None for an unknown paper); None for a
    token that is not valid (nothing was written)."""
    if not valid_api_token_shape(token):
        return None
    found = _vote(conn, on, True, {"token_hash": hash_token(token), "paper_id": paper_id,
                                   "resolution": LAST_USED_RESOLUTION}, params)
    if found is None:
        return None
    first, changed, imported, local = found
    user = User(id=first.user_id, username=first.username, is_admin=bool(first.is_admin),
                is_moderator=bool(first.is_moderator), via="token")
    voter = ApiTokenUser(user, first.token_id, bool(first.stale))
    return voter, None if first.paper is None else (changed, imported, local)
