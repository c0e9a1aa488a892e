"""Collections: named lists of papers a user keeps, public (anyone may read them) or private (a
404 to everyone else, as if they did not exist).

Limits are exact under concurrency: a write first locks the owner's row (new collection) or the
collection's row (new item) with ``SELECT ... FOR UPDATE`` on PostgreSQL, so two racing requests
count one after the other; SQLite has one writer at a time anyway. Adding a paper twice, or
removing one that is not there, changes nothing (UNIQUE (collection, paper)).

Functions take a connection and never commit. A collection someone may not see and one that
does not exist raise the same :class:`NotFound`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dailypapers.catalog import VISIBLE_PAPER
from dailypapers.community.accounts import utc
from dailypapers.db.engine import db_now
from dailypapers.db.schema import collection_items, collections, papers, users

NAME_MAX = 100  # characters; the column is String(100)
DESCRIPTION_MAX = 500  # characters; the column is String(500)
PAGE_SIZE = 30  # papers per page of a collection, newest first


class CollectionError(ValueError):
    """Refused; ``str(exc)`` says why, in words for the person who asked."""

    status = 400


class NotFound(CollectionError):
    """No such collection, or one this viewer may not see (the same answer for both)."""

    status = 404


class UnknownPaper(CollectionError):
    status = 404


class LimitReached(CollectionError):
    status = 409


@dataclasses.dataclass(frozen=True)
class Limits:
    collections_per_user: int
    papers_per_collection: int

    @classmethod
    def from_settings(cls, settings: Any) -> Limits:
        return cls(settings.collections_max_per_user, settings.collection_max_papers)


@dataclasses.dataclass(frozen=True)
class Collection:
    """Times are aware, in UTC (SQLite gives them back naive)."""

    id: int
    user_id: int
    owner: str  # the owner's username
    name: str
    description: str
    is_public: bool
    created_at: dt.datetime
    updated_at: dt.datetime
    paper_count: int


@dataclasses.dataclass(frozen=True)
class Item:
    paper: dict[str, Any]  # the papers row
    added_at: dt.datetime


# --- input -----------------------------------------------------------------------------------


def _control(ch: str, allow_newlines: bool) -> bool:
    return (ord(ch) < 32 or 127 <= ord(ch) < 160) and not (allow_newlines and ch in "\n\t")


def clean_name(value: Any) -> str:
    """A name: 1 to NAME_MAX characters once trimmed, no control characters."""
    if not isinstance(value, str):
        raise CollectionError("name must be text")
    name = value.strip()
    if not name:
        raise CollectionError("name must not be empty")
    if len(name) > NAME_MAX:
        raise CollectionError(f"name must be at most {NAME_MAX} characters, got {len(name)}")
    if any(_control(ch, False) for ch in name):
        raise CollectionError("name must not contain control characters")
    return name


def clean_description(value: Any) -> str:
    """Plain text up to DESCRIPTION_MAX characters; line breaks kept (as \\n), no other control
    characters."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise CollectionError("description must be text")
    text = value.replace("\r\n", "\n").replace("\r", "\n").strip()
    if len(text) > DESCRIPTION_MAX:
        raise CollectionError(f"description must be at most {DESCRIPTION_MAX} characters, "
                              f"got {len(text)}")
    if any(_control(ch, True) for ch in text):
        raise CollectionError("description must not contain control characters")
    return text


def parse_id(value: Any) -> int | None:
    """A collection id from a URL or form: a positive 32-bit integer, else None (a 404)."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 10:
        number = int(value)
    else:
        return None
    return number if 1 <= number <= 2**31 - 1 else None


# --- reading ---------------------------------------------------------------------------------


def _count_items() -> Any:
    # Papers a moderator hid are neither listed nor counted (catalog.VISIBLE_PAPER).
    return (sa.select(sa.func.count()).select_from(collection_items)
            .join(papers, papers.c.id == collection_items.c.paper_id)
            .where(collection_items.c.collection_id == collections.c.id, VISIBLE_PAPER)
            .scalar_subquery())


def _select() -> sa.Select:
    return (sa.select(collections, users.c.username.label("owner"),
                      _count_items().label("paper_count"))
            .join(users, users.c.id == collections.c.user_id))


def _from_row(row: Any) -> Collection:
    return Collection(id=row.id, user_id=row.user_id, owner=row.owner, name=row.name,
                      description=row.description, is_public=bool(row.is_public),
                      created_at=utc(row.created_at), updated_at=utc(row.updated_at),
                      paper_count=int(row.paper_count))


def get_visible(conn: Connection, collection_id: int, viewer_id: int | None) -> Collection:
    """The collection if this viewer may see it (public, or theirs), else :class:`NotFound`."""
    row = conn.execute(_select().where(collections.c.id == collection_id)).first()
    if row is None or not (row.is_public or row.user_id == viewer_id):
        raise NotFound(f"Collection {collection_id} not found")
    return _from_row(row)


def owned_by(conn: Connection, user_id: int) -> list[Collection]:
    """This user's collections, most recently changed first (their own list, the add form)."""
    rows = conn.execute(_select().where(collections.c.user_id == user_id)
                        .order_by(collections.c.updated_at.desc(), collections.c.id.desc()))
    return [_from_row(row) for row in rows]


def public_collections_of(conn: Connection, user_id: int) -> list[Collection]:
    """The public collections of a user, for their user page (most recently changed first)."""
    return [c for c in owned_by(conn, user_id) if c.is_public]


def items(conn: Connection, collection: Collection, page: int) -> list[Item]:
    """One page of the collection's papers, the most recently added first."""
    return newest_items(conn, collection, PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)


def newest_items(conn: Connection, collection: Collection, limit: int,
                 offset: int = 0) -> list[Item]:
    """The ``limit`` papers added last (after ``offset``), the most recent first (its feed)."""
    rows = conn.execute(
        sa.select(papers, collection_items.c.added_at.label("_added_at"))
        .join(collection_items, collection_items.c.paper_id == papers.c.id)
        .where(collection_items.c.collection_id == collection.id, VISIBLE_PAPER)
        .order_by(collection_items.c.added_at.desc(), collection_items.c.id.desc())
        .limit(limit).offset(offset)
    ).mappings()
    return [Item({c.name: row[c.name] for c in papers.columns}, utc(row["_added_at"]))
            for row in rows]


def page_count(collection: Collection) -> int:
    return max(1, -(-collection.paper_count // PAGE_SIZE))


def holding(conn: Connection, user_id: int, paper_ids: list[str]) -> dict[str, set[int]]:
    """For each of these papers, which of this user's collections hold it."""
    out: dict[str, set[int]] = {pid: set() for pid in paper_ids}
    if not paper_ids:
        return out
    rows = conn.execute(
        sa.select(collection_items.c.paper_id, collection_items.c.collection_id)
        .join(collections, collections.c.id == collection_items.c.collection_id)
        .where(collections.c.user_id == user_id, collection_items.c.paper_id.in_(paper_ids)))
    for paper_id, collection_id in rows:
        out[paper_id].add(collection_id)
    return out


# --- writing ---------------------------------------------------------------------------------


def _lock(conn: Connection, query: sa.Select) -> Any:
    # FOR UPDATE on PostgreSQL; SQLite (one writer at a time) has no such clause.
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return conn.execute(query).first()


def _owned_row(conn: Connection, user_id: int, collection_id: int) -> Any:
    """The collection's row, locked, if this user owns it; another's is NotFound too."""
    row = _lock(conn, sa.select(collections).where(collections.c.id == collection_id))
    if row is None or row.user_id != user_id:
        raise NotFound(f"Collection {collection_id} not found")
    return row


def create(conn: Connection, user_id: int, name: Any, description: Any = "",
           public: bool = False, *, limits: Limits) -> Collection:
    name, description = clean_name(name), clean_description(description)
    _lock(conn, sa.select(users.c.id).where(users.c.id == user_id))
    have = conn.execute(sa.select(sa.func.count()).select_from(collections)
                        .where(collections.c.user_id == user_id)).scalar_one()
    if have >= limits.collections_per_user:
        raise LimitReached(f"you have {have} collections, the most allowed "
                           f"({limits.collections_per_user}): delete one first")
    now = db_now(conn)
    new_id = conn.execute(collections.insert().values(
        user_id=user_id, name=name, description=description, is_public=bool(public),
        created_at=now, updated_at=now)).inserted_primary_key[0]
    return get_visible(conn, new_id, user_id)


def find_or_create(conn: Connection, user_id: int, name: Any, *, limits: Limits) -> Collection:
    """The user's collection of exactly this name, or a new private one (the inline form: sent
    twice, it makes one collection)."""
    name = clean_name(name)
    found = conn.execute(sa.select(collections.c.id).where(
        collections.c.user_id == user_id, collections.c.name == name)
        .order_by(collections.c.id).limit(1)).scalar()
    if found is not None:
        return get_visible(conn, found, user_id)
    return create(conn, user_id, name, limits=limits)


def update(conn: Connection, user_id: int, collection_id: int, *, name: Any = None,
           description: Any = None, public: bool | None = None) -> Collection:
    """Rename, describe, or make public or private; None leaves a field as it is."""
    _owned_row(conn, user_id, collection_id)
    values: dict[str, Any] = {}
    if name is not None:
        values["name"] = clean_name(name)
    if description is not None:
        values["description"] = clean_description(description)
    if public is not None:
        values["is_public"] = bool(public)
    if values:
        conn.execute(collections.update().where(collections.c.id == collection_id)
                     .values(**values, updated_at=db_now(conn)))
    return get_visible(conn, collection_id, user_id)


def delete(conn: Connection, user_id: int, collection_id: int) -> None:
    _owned_row(conn, user_id, collection_id)
    # Items first: SQLite enforces ON DELETE CASCADE only with PRAGMA foreign_keys.
    conn.execute(collection_items.delete().where(
        collection_items.c.collection_id == collection_id))
    conn.execute(collections.delete().where(collections.c.id == collection_id))


def add_paper(conn: Connection, user_id: int, collection_id: int, paper_id: str, *,
              limits: Limits) -> bool:
    """Put the paper in the collection; False when it was there already (nothing changed)."""
    _owned_row(conn, user_id, collection_id)  # locked: racing adds count one after the other
    if conn.execute(sa.select(papers.c.id).where(papers.c.id == paper_id, VISIBLE_PAPER)
                    ).first() is None:
        raise UnknownPaper(f"Paper {paper_id} not found")
    there = conn.execute(sa.select(collection_items.c.id).where(
        collection_items.c.collection_id == collection_id,
        collection_items.c.paper_id == paper_id)).first()
    if there is not None:
        return False
    have = conn.execute(sa.select(sa.func.count()).select_from(collection_items)
                        .where(collection_items.c.collection_id == collection_id)).scalar_one()
    if have >= limits.papers_per_collection:
        raise LimitReached(f"this collection holds {have} papers, the most allowed "
                           f"({limits.papers_per_collection}): remove one first")
    now = db_now(conn)
    conn.execute(collection_items.insert().values(
        collection_id=collection_id, paper_id=paper_id, added_at=now))
    conn.execute(collections.update().where(collections.c.id == collection_id)
                 .values(updated_at=now))
    return True


def remove_paper(conn: Connection, user_id: int, collection_id: int, paper_id: str) -> bool:
    """Take the paper out; False when it was not there (nothing changed)."""
    _owned_row(conn, user_id, collection_id)
    removed = conn.execute(collection_items.delete().where(
        collection_items.c.collection_id == collection_id,
        collection_items.c.paper_id == paper_id)).rowcount == 1
    if removed:
        conn.execute(collections.update().where(collections.c.id == collection_id)
                     .values(updated_at=db_now(conn)))
    return removed


def remove_demo_entries(conn: Connection) -> int:
    """Delete the collection entries of demo papers (``demo remove``); how many."""
    demo = sa.select(papers.c.id).where(papers.c.is_demo.is_(True))
    return conn.execute(collection_items.delete().where(
        collection_items.c.paper_id.in_(demo))).rowcount
