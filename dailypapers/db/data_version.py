"""The data versions: numbers that move whenever a write that may change a public answer
commits, read by every web process (web/cache.py keys its cached anonymous answers on them).

Every ``write_transaction`` adds 1 to one row of ``data_versions`` as its last statement, in the
same transaction, so the bump commits or rolls back with the write. Two sums over the rows: the
*data* version (every write but paper votes) and the *votes* version (paper votes). Visibility
only grows (a snapshot taken later sees every commit an earlier one saw) and each commit adds at
least 1, so a reader that sees version V has seen every write counted in V: an answer computed
after reading V is at least as new as V. Writes that cannot change a public answer count
nowhere (``write_transaction(engine, changes=None)``): mail and its outbox, subscriptions,
sessions, passwords and API tokens, flags, job slots, sync checkpoints, runs that are not (yet)
ok, embedding claims and vectors (those reach answers through a process's search index, whose
state is in the cache key). When unsure, a write counts.

Votes count apart because they are the busy writes (5 % of the load benchmark's requests) and
each changes little: an answer that lists papers depends on the votes of the papers it read, not
on all votes. The catalog notes the paper rows a computation reads (:func:`note_papers`) with
their vote stamp (``local_upvotes``, and ``counts_updated_at``, which every vote moves); a cached
answer keeps those stamps and stays good for as long as :func:`vote_stamps` reads the same ones.
A read whose *selection* depends on votes (the most upvoted, with a limit) says so
(:func:`note_all_votes`): its answer depends on the votes version instead.

Why shards: one counter row would be locked by each write from its bump to its commit, so on
PostgreSQL all writes (votes above all) would queue behind one another. Each write picks one of
:data:`PG_SHARDS` rows of its kind at random, which keeps concurrent writes apart; the reader sums
32 tiny rows. SQLite has one writer at a time anyway: one row of each kind.

On PostgreSQL the bump also NOTIFYs (delivered to listeners at commit, never on a rollback), so
web processes learn of a move without asking (db/version_listener.py); and each process counts
its own commits (:func:`local_writes`), which it sees at once.
"""

from __future__ import annotations

import contextvars
import random
import threading
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dailypapers.db.schema import papers

PG_SHARDS = 16
VOTE_SHARDS = 100  # shards from here on count votes; below, everything else

# An upsert, so the rows need no seeding (and a table emptied by a restore or a test starts over).
_BUMP = sa.text(
    "INSERT INTO data_versions (shard, version) VALUES (:shard, 1) "
    "ON CONFLICT (shard) DO UPDATE SET version = data_versions.version + 1")
_READ = sa.text(
    f"SELECT COALESCE(SUM(CASE WHEN shard < {VOTE_SHARDS} THEN version END), 0), "
    f"COALESCE(SUM(CASE WHEN shard >= {VOTE_SHARDS} THEN version END), 0) FROM data_versions")


_NOTIFY = "NOTIFY dailypapers_data_version"  # the channel of db/version_listener.py
_local_lock = threading.Lock()
_local_writes = 0


def bump(conn: Connection, changes: str = "data") -> None:
    """Count this transaction's write (``changes``: "data" or "votes"): call last, just before
    it commits."""
    postgres = conn.dialect.name == "postgresql"
    shard = random.randrange(PG_SHARDS) if postgres else 0
    conn.execute(_BUMP, {"shard": shard + (VOTE_SHARDS if changes == "votes" else 0)})
    if postgres:
        conn.exec_driver_sql(_NOTIFY)


def committed_here() -> None:
    """A bumped transaction of this process committed (``write_transaction`` calls it)."""
    global _local_writes
    with _local_lock:
        _local_writes += 1


def local_writes() -> int:
    """How many bumped transactions this process committed: a cache that saw this number move
    reads the version again, without waiting for a notification."""
    return _local_writes


def read(conn: Connection) -> tuple[int, int]:
    """(data version, votes version)."""
    data, votes = conn.execute(_READ).one()
    return int(data), int(votes)


# --- what a computation read -----------------------------------------------------------------

ALL_VOTES = "*"  # in a notebook: the answer depends on every vote
INCOMPLETE = "!"  # in a notebook: the answer is not whole (keep it nowhere)
_notebook: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "dailypapers_papers_read", default=None)


def open_notebook() -> tuple[dict[str, Any], contextvars.Token[dict[str, Any] | None]]:
    """Start noting what this context (a request, and the threads it runs work in) reads."""
    notebook: dict[str, Any] = {}
    return notebook, _notebook.set(notebook)


def close_notebook(token: contextvars.Token[dict[str, Any] | None]) -> None:
    _notebook.reset(token)


def stamp(row: Mapping[str, Any]) -> tuple[Any, ...]:
    return (row.get("local_upvotes"), row.get("counts_updated_at"))


def note_papers(rows: Iterable[Mapping[str, Any]]) -> None:
    """Paper rows (with their vote columns) a computation is about to use."""
    notebook = _notebook.get()
    if notebook is not None:
        for row in rows:
            notebook[row["id"]] = stamp(row)


def note_all_votes() -> None:
    notebook = _notebook.get()
    if notebook is not None:
        notebook[ALL_VOTES] = True


def note_incomplete() -> None:
    """The answer was cut short (a search out of time): it must not be kept."""
    notebook = _notebook.get()
    if notebook is not None:
        notebook[INCOMPLETE] = True


def vote_stamps(conn: Connection, ids: list[str]) -> dict[str, tuple[Any, ...]]:
    rows = conn.execute(sa.select(papers.c.id, papers.c.local_upvotes, papers.c.counts_updated_at)
                        .where(papers.c.id.in_(ids))).mappings()
    return {row["id"]: stamp(row) for row in rows}
