"""Password reset by e-mailed link.

A request makes a random token (256 bits), stores its SHA-256 with an expiry and returns the
token for the mail; the link ``/reset/{token}`` works once: setting the new password marks the
row used (and every other open link of that user), ends every session of the user, and a used,
expired or unknown token opens nothing. Whether an account exists is never told to the asker.
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dailypapers.community.accounts import AccountError, set_password, user_by_name_or_email
from dailypapers.community.sessions import hash_token, new_token
from dailypapers.db.engine import db_now
from dailypapers.db.schema import password_resets, users

RESET_LINK_LIFETIME = dt.timedelta(hours=1)
SPENT_MESSAGE = "this reset link is used, expired or unknown: ask for a new one"


class ResetRequest(NamedTuple):
    user_id: int
    username: str
    email: str
    token: str


def resettable(row: sa.Row | None) -> bool:  # type: ignore[type-arg]
    """Whether a reset link may be mailed to this user row: it has an address, not suspended."""
    return row is not None and bool(row.email) and row.suspended_at is None


def request_reset(conn: Connection, name_or_email: str) -> ResetRequest | None:
    """A reset link for the account of this name or address, if it has an address to send to."""
    return _new_reset(conn, user_by_name_or_email(conn, name_or_email))


def reset_for_user(conn: Connection, user_id: int) -> ResetRequest | None:
    """:func:`request_reset` by user id: what a queue worker calls when it sends the mail (the
    token is made then, so it never travels through the queue)."""
    return _new_reset(conn, conn.execute(sa.select(users).where(users.c.id == user_id)).first())


def _new_reset(conn: Connection, row: sa.Row | None) -> ResetRequest | None:  # type: ignore[type-arg]
    if not resettable(row):
        return None
    token = new_token()
    now = db_now(conn)
    conn.execute(password_resets.insert().values(
        token_hash=hash_token(token), user_id=row.id, created_at=now,
        expires_at=now + RESET_LINK_LIFETIME))
    return ResetRequest(row.id, row.username, row.email, token)


def _open_reset(conn: Connection, token: str) -> sa.Row | None:  # type: ignore[type-arg]
    if not token or len(token) > 128:
        return None
    return conn.execute(
        sa.select(password_resets.c.token_hash, users.c.id, users.c.username)
        .join(users, users.c.id == password_resets.c.user_id)
        .where(password_resets.c.token_hash == hash_token(token),
               password_resets.c.used_at.is_(None),
               password_resets.c.expires_at > db_now(conn),
               users.c.suspended_at.is_(None))
    ).first()


def reset_username(conn: Connection, token: str) -> str | None:
    """The username a still-usable link belongs to (for its page), or None. Changes nothing."""
    row = _open_reset(conn, token)
    return row.username if row is not None else None


def complete_reset(conn: Connection, token: str, password_hash: str) -> str:
    """Set the new password (hashed by ``accounts.prepare_password`` beforehand, with the
    username :func:`reset_username` gave) through a link; returns the username. The link is
    spent, with every other open link of the user, and every session ends.

    The check comes before the first write, so a caller that catches the error commits nothing."""
    row = _open_reset(conn, token)
    if row is None:
        raise AccountError(SPENT_MESSAGE, "")
    # Conditional on used_at IS NULL: of two submissions racing with one link, one wins.
    now = db_now(conn)
    spent = conn.execute(
        password_resets.update()
        .where(password_resets.c.token_hash == row.token_hash, password_resets.c.used_at.is_(None))
        .values(used_at=now)
    ).rowcount
    if spent != 1:
        raise AccountError(SPENT_MESSAGE, "")
    set_password(conn, row.id, password_hash)
    conn.execute(password_resets.update().where(
        password_resets.c.user_id == row.id, password_resets.c.used_at.is_(None)
    ).values(used_at=now))
    return row.username
