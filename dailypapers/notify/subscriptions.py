"""Digest subscriptions: who asked for which digest, and whether they get it.

One row per address (``subscriptions.email_key``, UNIQUE): subscribing again updates the row,
never adds one. The key is the whole address lowercased, the local part too: RFC 5321 lets a
mailbox tell ``Ann@`` from ``ann@``, but no common provider does, and two rows for one inbox
would mail it twice. The address we send to is the one typed (after email-validator's syntax
check and normalisation of the domain).

State lives on the row — ``unconfirmed`` (double opt-in pending), ``confirmed``,
``unsubscribed``, ``suppressed`` (bounces and complaints, later work) — so who gets mail is
:func:`deliverable`, one SQL condition. Topics are rows of ``subscription_topics`` (see
db/schema.py) so a digest builder can evaluate each distinct topic once per period.

Services take a connection and never commit; the routes (web/routes_subscribe.py) send mail
after their transaction commits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, NamedTuple

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from dailypapers.db.engine import db_now
from dailypapers.db.schema import subscription_topics, subscriptions
from dailypapers.index.query import MAX_QUERY_CHARS, QueryError, parse_query

FREQUENCIES = ("daily", "weekly")
STATES = ("unconfirmed", "confirmed", "unsubscribed", "suppressed")
DEFAULT_MAX_ITEMS = 10
MAX_ITEMS = 50  # a digest is a short read; more belongs in a feed
MAX_CATEGORIES = 10
MAX_SEARCHES = 5
MAX_CATEGORY_CHARS = 32
MAX_ADDRESS_CHARS = 320
# arXiv categories: archive, then an optional subject class (cs.CL, q-bio.NC, cond-mat.mes-hall)
_CATEGORY = re.compile(r"([a-z][a-z-]*)(?:\.([a-z][a-z-]*))?", re.I)


class SubscriptionError(ValueError):
    """A form value we refuse; ``field`` names the input, ``message`` is shown next to it."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.message, self.field = message, field


@dataclass(frozen=True)
class Preferences:
    frequency: str = "daily"
    trending: bool = True
    max_items: int = DEFAULT_MAX_ITEMS
    categories: tuple[str, ...] = ()
    searches: tuple[str, ...] = ()


class Subscription(NamedTuple):
    id: int
    email: str
    state: str
    user_id: int | None
    preferences: Preferences


def deliverable() -> sa.ColumnElement[bool]:
    """The one condition for "gets mail": every sender and the digest builder use it."""
    return subscriptions.c.state == "confirmed"


# --- checking what the form sends -----------------------------------------------------------


def normalise_address(raw: str) -> tuple[str, str]:
    """(address to send to, its UNIQUE key); syntax only, no DNS (no network on a form post)."""
    text = (raw or "").strip()
    if not text:
        raise SubscriptionError("enter your e-mail address", "email")
    if len(text) > MAX_ADDRESS_CHARS:
        raise SubscriptionError("that address is too long", "email")
    try:
        # No SMTPUTF8: not every relay speaks it; an internationalised domain becomes its ASCII
        # (IDNA) form, which every relay takes.
        result = validate_email(text, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise SubscriptionError(f"not a valid e-mail address: {exc}", "email") from None
    address = result.ascii_email or result.normalized
    return address, address.lower()


def canonical_category(raw: str) -> str:
    """arXiv's spelling whatever the case typed: two-letter subject classes are upper case
    (cs.CL, astro-ph.CO), longer ones lower case (cond-mat.mes-hall, physics.acc-ph)."""
    text = raw.strip()
    match = _CATEGORY.fullmatch(text) if len(text) <= MAX_CATEGORY_CHARS else None
    if match is None:
        raise SubscriptionError(f"{text[:40]!r} is not an arXiv category such as cs.CL",
                                "categories")
    archive, subject = match.group(1).lower(), match.group(2)
    if subject is None:
        return archive
    return f"{archive}.{subject.upper() if len(subject) == 2 else subject.lower()}"


def canonical_search(raw: str) -> str:
    """A saved search, checked as /api/v1/search checks ``q`` (strict: an unknown ``foo:`` is
    refused); stored as the parser's cleaned text (spaces already collapsed), so one search
    typed twice is one topic."""
    try:
        parsed = parse_query(raw, strict=True)
    except QueryError as exc:
        raise SubscriptionError(f"{raw.strip()[:60]!r}: {exc}", "searches") from None
    if parsed.truncated:
        raise SubscriptionError(f"a saved search is at most {MAX_QUERY_CHARS} characters",
                                "searches")
    if parsed.is_empty:
        raise SubscriptionError(f"{raw.strip()[:60]!r} searches for nothing", "searches")
    return parsed.text


def parse_preferences(frequency: str, trending: bool, max_items: str, categories: str,
                      searches: str) -> Preferences:
    """The form's contents: categories separated by spaces or commas, one search per line."""
    if frequency not in FREQUENCIES:
        raise SubscriptionError("choose daily or weekly", "frequency")
    try:
        count = int(max_items.strip()) if max_items.strip() else DEFAULT_MAX_ITEMS
    except ValueError:
        count = 0
    if not 1 <= count <= MAX_ITEMS:
        raise SubscriptionError(f"the number of papers is a whole number from 1 to {MAX_ITEMS}",
                                "max_items")
    cats = tuple(dict.fromkeys(canonical_category(c) for c in re.split(r"[\s,]+", categories)
                               if c.strip()))
    if len(cats) > MAX_CATEGORIES:
        raise SubscriptionError(f"at most {MAX_CATEGORIES} categories", "categories")
    lines = [line for line in searches.splitlines() if line.strip()]
    if len(lines) > MAX_SEARCHES:
        raise SubscriptionError(f"at most {MAX_SEARCHES} saved searches", "searches")
    saved = tuple(dict.fromkeys(canonical_search(line) for line in lines))
    if not (trending or cats or saved):
        raise SubscriptionError("choose trending papers, a category or a search", "contents")
    return Preferences(frequency, trending, count, cats, saved)


# --- reading --------------------------------------------------------------------------------


def _topics(conn: Connection, subscription_id: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    rows = conn.execute(
        sa.select(subscription_topics.c.kind, subscription_topics.c.value)
        .where(subscription_topics.c.subscription_id == subscription_id)
        .order_by(subscription_topics.c.kind, subscription_topics.c.value)
    ).all()
    return (tuple(v for k, v in rows if k == "category"), tuple(v for k, v in rows if k == "search"))


def _from_row(conn: Connection, row: Any) -> Subscription:
    cats, saved = _topics(conn, row.id)
    return Subscription(row.id, row.email, row.state, row.user_id,
                        Preferences(row.frequency, row.trending, row.max_items, cats, saved))


def get(conn: Connection, subscription_id: int) -> Subscription | None:
    row = conn.execute(sa.select(subscriptions).where(subscriptions.c.id == subscription_id)).first()
    return _from_row(conn, row) if row is not None else None


def for_user(conn: Connection, user_id: int) -> list[Subscription]:
    rows = conn.execute(sa.select(subscriptions).where(subscriptions.c.user_id == user_id)
                        .order_by(subscriptions.c.id)).all()
    return [_from_row(conn, row) for row in rows]


# --- writing --------------------------------------------------------------------------------


class Requested(NamedTuple):
    subscription_id: int
    email: str
    mail: str  # "confirm": send a confirmation link; "manage": already confirmed, send the
    # preferences link; "none": suppressed, send nothing


def _set_topics(conn: Connection, subscription_id: int, prefs: Preferences) -> None:
    conn.execute(subscription_topics.delete()
                 .where(subscription_topics.c.subscription_id == subscription_id))
    rows = ([{"subscription_id": subscription_id, "kind": "category", "value": c}
             for c in prefs.categories]
            + [{"subscription_id": subscription_id, "kind": "search", "value": s}
               for s in prefs.searches])
    if rows:
        conn.execute(subscription_topics.insert(), rows)


def _preference_values(prefs: Preferences) -> dict[str, Any]:
    return {"frequency": prefs.frequency, "trending": prefs.trending, "max_items": prefs.max_items}


def request_subscription(conn: Connection, address: str, key: str, prefs: Preferences,
                         user_id: int | None) -> Requested:
    """Subscribe ``address`` (from :func:`normalise_address`), or subscribe it again.

    New, unconfirmed or unsubscribed: the row takes these preferences and waits for
    confirmation. Confirmed: nothing changes (whoever typed the address may not own it); the
    owner gets a link to the preferences instead. Suppressed: nothing changes, no mail."""
    now = db_now(conn)
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    # ON CONFLICT DO NOTHING: of two requests racing for a new address, one inserts, both
    # go on with the one row.
    conn.execute(dialect.insert(subscriptions).values(
        email=address, email_key=key, user_id=user_id, state="unconfirmed", created_at=now,
        updated_at=now, state_changed_at=now, **_preference_values(prefs),
    ).on_conflict_do_nothing(index_elements=["email_key"]))
    row = conn.execute(sa.select(subscriptions).where(subscriptions.c.email_key == key)).one()
    if row.state == "confirmed":
        return Requested(row.id, row.email, "manage")
    if row.state == "suppressed":
        return Requested(row.id, row.email, "none")
    values: dict[str, Any] = {"email": address, "state": "unconfirmed", "updated_at": now,
                              **_preference_values(prefs)}
    if row.state != "unconfirmed":
        values["state_changed_at"] = now
    if user_id is not None:
        values["user_id"] = user_id
    conn.execute(subscriptions.update().where(subscriptions.c.id == row.id).values(**values))
    _set_topics(conn, row.id, prefs)
    return Requested(row.id, address, "confirm")


def confirm(conn: Connection, subscription_id: int) -> str | None:
    """Confirm a pending subscription; its state afterwards, None when there is no such row.
    Only ``unconfirmed`` becomes ``confirmed``: an old link does not undo an unsubscription."""
    now = db_now(conn)
    conn.execute(subscriptions.update()
                 .where(subscriptions.c.id == subscription_id,
                        subscriptions.c.state == "unconfirmed")
                 .values(state="confirmed", confirmed_at=now, state_changed_at=now,
                         updated_at=now))
    return conn.execute(sa.select(subscriptions.c.state)
                        .where(subscriptions.c.id == subscription_id)).scalar()


def unsubscribe(conn: Connection, subscription_id: int) -> str | None:
    """Stop mail to this subscription (a suppressed one stays suppressed); its state
    afterwards, None when there is no such row. Doing it twice is harmless."""
    now = db_now(conn)
    conn.execute(subscriptions.update()
                 .where(subscriptions.c.id == subscription_id,
                        subscriptions.c.state.in_(("unconfirmed", "confirmed")))
                 .values(state="unsubscribed", state_changed_at=now, updated_at=now))
    return conn.execute(sa.select(subscriptions.c.state)
                        .where(subscriptions.c.id == subscription_id)).scalar()


def update_preferences(conn: Connection, subscription_id: int, prefs: Preferences) -> bool:
    """New frequency, contents or size for a subscription (its state stays as it is)."""
    done = conn.execute(subscriptions.update().where(subscriptions.c.id == subscription_id)
                        .values(updated_at=db_now(conn), **_preference_values(prefs))).rowcount
    if done:
        _set_topics(conn, subscription_id, prefs)
    return bool(done)
