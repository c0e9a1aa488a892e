"""Accounts: creating users, signing in, changing passwords, personal API tokens.

Usernames are 3–32 characters of ``[A-Za-z0-9_-]``, kept as typed and unique ignoring case
(``users.username_key``). A name that an imported Hugging Face submitter has
(``feature_days.submitter_name``) is refused too, so "submitted by" and the API's ``submitter=``
never mix one of ours with one of theirs; so are a few names the site's own pages use.

Every function takes a connection of the caller's transaction and never commits. A failure the
person can fix is an :class:`AccountError` naming the form field.

argon2 is slow on purpose (~0.13 s), and SQLite has one writer: so the hashing and checking of
passwords (:func:`prepare_password`, :func:`authenticate`, :func:`check_password`) never run
inside a write transaction: callers hash first, then write the hash (``hashed=``), and the
site's other writes never wait behind a sign-in.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dailypapers.community.passwords import (
    MAX_PASSWORD_CHARS, hash_password, needs_rehash, password_problem, verify_password,
)
from dailypapers.community.sessions import API_TOKEN_PREFIX, end_all_sessions, hash_token, new_token
from dailypapers.community.users import User
from dailypapers.db.engine import db_now
from dailypapers.db.schema import api_tokens, feature_days, users

USERNAME_RE = re.compile(r"[A-Za-z0-9_-]{3,32}")
MAX_EMAIL_CHARS = 320
EMAIL_RE = re.compile(r"[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+")
MAX_TOKEN_NAME_CHARS = 64
MAX_TOKENS_PER_USER = 50
# Names that would read as the site itself, or collide with its paths.
RESERVED_USERNAMES = frozenset({
    "admin", "administrator", "api", "account", "accounts", "anonymous", "login", "logout",
    "mod", "moderator", "moderators", "papers", "reset", "root", "search", "signup", "static",
    "support", "system", "user", "users",
})


class AccountError(ValueError):
    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def username_key(username: str) -> str:
    return username.lower()


def username_problem(conn: Connection, username: str) -> str | None:
    """Why ``username`` cannot be taken, or None."""
    if not 3 <= len(username) <= 32:
        return "a username has 3 to 32 characters"
    if not USERNAME_RE.fullmatch(username):
        return "a username may only have letters A–Z, digits, '_' and '-'"
    key = username_key(username)
    if key in RESERVED_USERNAMES:
        return "this username is reserved"
    taken = conn.execute(sa.select(users.c.id).where(users.c.username_key == key)).first()
    if taken is not None:
        return "this username is taken"
    # Imported names are stored as received; sign-up is rare enough for a scan by lower().
    submitter = conn.execute(
        sa.select(feature_days.c.id)
        .where(sa.func.lower(feature_days.c.submitter_name) == key).limit(1)
    ).first()
    if submitter is not None:
        return "a Hugging Face account of this name submits papers here: choose another username"
    return None


def normalise_email(email: str) -> str | None:
    email = email.strip()
    if not email:
        return None
    if len(email) > MAX_EMAIL_CHARS or not EMAIL_RE.fullmatch(email):
        raise AccountError("this does not look like an e-mail address", "email")
    return email


def _email_taken(conn: Connection, email: str, except_user: int | None = None) -> bool:
    query = sa.select(users.c.id).where(users.c.email_key == email.lower())
    if except_user is not None:
        query = query.where(users.c.id != except_user)
    return conn.execute(query).first() is not None


def prepare_password(password: str, username: str, field: str = "password") -> str:
    """Check a new password and hash it (slow: call it outside write transactions)."""
    problem = password_problem(password, username)
    if problem:
        raise AccountError(problem, field)
    return hash_password(password)


def create_user(
    conn: Connection, username: str, password: str, *, email: str = "",
    is_admin: bool = False, is_moderator: bool = False, hashed: str | None = None,
) -> User:
    """A new account. ``hashed``: ``prepare_password(password, username)``, made beforehand."""
    problem = username_problem(conn, username)
    if problem:
        raise AccountError(problem, "username")
    address = normalise_email(email)
    if address and _email_taken(conn, address):
        raise AccountError("an account with this e-mail address exists: sign in or reset its "
                           "password", "email")
    hashed = hashed or prepare_password(password, username)
    now = db_now(conn)
    try:
        # A savepoint: on PostgreSQL a unique violation (two sign-ups racing for one name)
        # would otherwise abort the whole request transaction.
        with conn.begin_nested():
            user_id = conn.execute(users.insert().values(
                username=username, username_key=username_key(username), email=address,
                email_key=address.lower() if address else None, password_hash=hashed,
                is_admin=is_admin, is_moderator=is_moderator, created_at=now,
                password_changed_at=now,
            ).returning(users.c.id)).scalar_one()
    except sa.exc.IntegrityError:
        raise AccountError("this username is taken", "username") from None
    return User(id=user_id, username=username, is_admin=is_admin, is_moderator=is_moderator)


def _find_user_row(conn: Connection, name_or_email: str) -> Any:
    name_or_email = name_or_email.strip()
    if not name_or_email or len(name_or_email) > MAX_EMAIL_CHARS:
        return None
    column = users.c.email_key if "@" in name_or_email else users.c.username_key
    return conn.execute(sa.select(users).where(column == name_or_email.lower())).first()


def authenticate(conn: Connection, name_or_email: str, password: str) -> User | None:
    """The user whose name (or e-mail address) and password these are, or None. Reads only.

    Suspended users cannot sign in."""
    if len(password) > MAX_PASSWORD_CHARS:
        return None  # no account has one: bounds the hashing work a request can ask for
    row = _find_user_row(conn, name_or_email)
    if not verify_password(row.password_hash if row is not None else None, password):
        return None
    if row.suspended_at is not None:
        return None
    return User.from_row(row)


def upgrade_hash(conn: Connection, user_id: int, password: str) -> bool:
    """Re-hash a just-verified password whose hash was made with weaker parameters (rare)."""
    stored = conn.execute(sa.select(users.c.password_hash).where(users.c.id == user_id)).scalar()
    if stored is None or not needs_rehash(stored):
        return False
    conn.execute(users.update().where(users.c.id == user_id)
                 .values(password_hash=hash_password(password)))
    return True


def check_password(conn: Connection, user_id: int, password: str) -> bool:
    stored = conn.execute(sa.select(users.c.password_hash).where(users.c.id == user_id)).scalar()
    return stored is not None and len(password) <= MAX_PASSWORD_CHARS \
        and verify_password(stored, password)


def user_by_id(conn: Connection, user_id: int) -> Any:
    return conn.execute(sa.select(users).where(users.c.id == user_id)).first()


def user_by_name_or_email(conn: Connection, name_or_email: str) -> Any:
    return _find_user_row(conn, name_or_email)


def set_password(conn: Connection, user_id: int, password_hash: str) -> None:
    """Store a new password (from :func:`prepare_password`) and end every session of the user:
    each device signs in again."""
    conn.execute(users.update().where(users.c.id == user_id).values(
        password_hash=password_hash, password_changed_at=db_now(conn)))
    end_all_sessions(conn, user_id)


def change_email(conn: Connection, user: User, email: str) -> str | None:
    address = normalise_email(email)
    if address and _email_taken(conn, address, except_user=user.id):
        raise AccountError("another account has this e-mail address", "email")
    conn.execute(users.update().where(users.c.id == user.id).values(
        email=address, email_key=address.lower() if address else None))
    return address


# --- personal API tokens ----------------------------------------------------------------------


def create_api_token(conn: Connection, user: User, name: str) -> str:
    """A new token for ``user``; the only time its value exists outside the client."""
    name = " ".join(name.split())
    if not name:
        raise AccountError("give the token a name (where it will be used)", "token_name")
    if len(name) > MAX_TOKEN_NAME_CHARS:
        raise AccountError(f"a token name has at most {MAX_TOKEN_NAME_CHARS} characters",
                           "token_name")
    count = conn.execute(sa.select(sa.func.count()).select_from(api_tokens)
                         .where(api_tokens.c.user_id == user.id)).scalar_one()
    if count >= MAX_TOKENS_PER_USER:
        raise AccountError(f"at most {MAX_TOKENS_PER_USER} tokens: revoke one first", "token_name")
    token = API_TOKEN_PREFIX + new_token()
    conn.execute(api_tokens.insert().values(
        user_id=user.id, token_hash=hash_token(token), name=name, created_at=db_now(conn)))
    return token


def list_api_tokens(conn: Connection, user: User) -> list[Any]:
    return list(conn.execute(
        sa.select(api_tokens.c.id, api_tokens.c.name, api_tokens.c.created_at,
                  api_tokens.c.last_used_at)
        .where(api_tokens.c.user_id == user.id).order_by(api_tokens.c.id)
    ))


def revoke_api_token(conn: Connection, user: User, token_id: int) -> bool:
    """Delete one of ``user``'s tokens; False when it is not theirs (or gone already)."""
    return conn.execute(api_tokens.delete().where(
        api_tokens.c.id == token_id, api_tokens.c.user_id == user.id)).rowcount == 1


def utc(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite gives naive UTC datetimes back; PostgreSQL aware ones."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value
