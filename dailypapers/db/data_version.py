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

Which papers a vote changed travels too, so that a cached answer can be checked without a
query: the vote code notes each paper whose counts it changed (:func:`note_voted`, the one rule
for any writer of the vote columns), the votes bump's notification carries their ids
(``v <id> <id>…``), and every process records them in :data:`VOTE_LOG`, the listener as they
arrive and ``write_transaction`` for its own commits at once. web/cache.py trusts the log only
while the listener stayed connected since the answer was made (a dropped connection loses
notifications); otherwise it reads the stamps as before.
"""

from __future__ import annotations

import contextvars
import os
import random
import secrets
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


CHANNEL = "dailypapers_data_version"  # the channel of db/version_listener.py
_NOTIFY = sa.text("SELECT pg_notify(:channel, :payload)")
VOTED_PREFIX = "v"  # a notification's payload: "v <paper id> … ~<origin>" for a votes bump
# The last word names the process that sent it: its own votes are on its log from the commit
# (committed_here), so its listener skips them. An older process takes "~…" for a paper id
# nobody asks about.
ORIGIN_MARK = "~"
MAX_PAYLOAD = 7000  # PostgreSQL refuses 8000 bytes and more
_VOTED = "dailypapers_voted"  # Connection.info: the papers this transaction's votes changed
_UNCHANGED = "dailypapers_unchanged"  # Connection.info: this transaction changed nothing public
_local_lock = threading.Lock()
_local_writes = 0


def note_voted(conn: Connection, paper_id: str) -> None:
    """This transaction changed the vote counts of ``paper_id`` (call for every such paper)."""
    conn.info.setdefault(_VOTED, set()).add(paper_id)


def take_voted(conn: Connection) -> frozenset[str]:
    """The papers noted so far, forgotten by the connection (it goes back to the pool)."""
    return frozenset(conn.info.pop(_VOTED, ()))


def unchanged(conn: Connection) -> None:
    """This transaction changed no public row after all (a sync page whose every record was
    already stored): ``write_transaction`` then counts it nowhere, and every process keeps its
    cached answers."""
    conn.info[_UNCHANGED] = True


def take_unchanged(conn: Connection) -> bool:
    """Whether :func:`unchanged` was called, forgotten by the connection (it goes back to the
    pool)."""
    return bool(conn.info.pop(_UNCHANGED, False))


def bump(conn: Connection, changes: str = "data") -> None:
    """Count this transaction's write (``changes``: "data" or "votes"): call last, just before
    it commits."""
    postgres = conn.dialect.name == "postgresql"
    shard = random.randrange(PG_SHARDS) if postgres else 0
    conn.execute(_BUMP, {"shard": shard + (VOTE_SHARDS if changes == "votes" else 0)})
    if postgres:
        payload = ""
        if changes == "votes":
            origin = ORIGIN_MARK + process_origin()
            payload = " ".join([VOTED_PREFIX, *sorted(conn.info.get(_VOTED, ())), origin])
            if len(payload.encode()) > MAX_PAYLOAD:
                payload = f"{VOTED_PREFIX} {ALL_VOTES} {origin}"  # too many to name: every paper
        conn.execute(_NOTIFY, {"channel": CHANNEL, "payload": payload})


def committed_here(voted: frozenset[str] = frozenset()) -> None:
    """A bumped transaction of this process committed (``write_transaction`` calls it), its
    votes having changed the papers ``voted``."""
    global _local_writes
    if voted:
        VOTE_LOG.record(voted)
    with _local_lock:
        _local_writes += 1


def local_writes() -> int:
    """How many bumped transactions this process committed: a cache that saw this number move
    reads the version again, without waiting for a notification."""
    return _local_writes


class VoteLog:
    """Which papers' votes changed, in order: a number (``seq``) per recorded change, and per
    paper the number of its last one. Bounded: past MAX_PAPERS it forgets everything and says
    so (``floor``): a question about an earlier point cannot be answered from it."""

    MAX_PAPERS = 200_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.seq = self.floor = 0
        self._last: dict[str, int] = {}

    def record(self, paper_ids: Iterable[str]) -> None:
        with self._lock:
            self.seq += 1
            if ALL_VOTES in paper_ids or len(self._last) > self.MAX_PAPERS:
                self._last.clear()
                self.floor = self.seq
            else:
                for paper_id in paper_ids:
                    self._last[paper_id] = self.seq

    def knows_since(self, seq: int) -> bool:
        """Whether every change after ``seq`` is still on record."""
        return seq >= self.floor

    def changed_since(self, paper_ids: Iterable[str], seq: int) -> bool:
        last = self._last
        return any(last.get(paper_id, 0) > seq for paper_id in paper_ids)

    def voted_since(self, paper_ids: Iterable[str], seq: int) -> set[str]:
        """Which of ``paper_ids`` changed after ``seq`` (ask ``knows_since`` first)."""
        last = self._last
        return {paper_id for paper_id in paper_ids if last.get(paper_id, 0) > seq}


VOTE_LOG = VoteLog()  # this process's


_origin: tuple[int, str] | None = None


def process_origin() -> str:
    """This process's name in its vote notifications: its pid and a random part (pids are
    reused, and a forked child is another process)."""
    global _origin
    pid = os.getpid()
    if _origin is None or _origin[0] != pid:
        _origin = (pid, f"{pid}.{secrets.token_hex(4)}")
    return _origin[1]


def parse_voted(payload: str) -> list[str] | None:
    """The paper ids of a notification's payload; None for one that is not about votes. One
    this process sent names none: its votes were logged when they committed, and logging them
    again, after a reader's mark, would make an answer made since look changed (one more
    refresh)."""
    words = payload.split()
    if not words or words[0] != VOTED_PREFIX:
        return None
    if len(words) > 1 and words[-1].startswith(ORIGIN_MARK):
        if words[-1][1:] == process_origin():
            return []
        return words[1:-1]
    return words[1:]  # from a process older than the origin mark


def read(conn: Connection) -> tuple[int, int]:
    """(data version, votes version)."""
    data, votes = conn.execute(_READ).one()
    return int(data), int(votes)


# --- what a computation read -----------------------------------------------------------------

ALL_VOTES = "*"  # in a notebook: the answer depends on every vote
INCOMPLETE = "!"  # in a notebook: the answer is not whole (keep it nowhere)
INDEXES = "#"  # in a notebook: {part of the search indexes: its state when used}
CLOCK = "@"  # in a notebook: the answer depends on the date (what "today" is)
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


def note_index(part: str, token: Any) -> None:
    """The computation uses this part of the process's search indexes, at ``token``
    (index/search.py's ``index_tokens``)."""
    notebook = _notebook.get()
    if notebook is not None:
        notebook.setdefault(INDEXES, {})[part] = token


def note_clock() -> None:
    """The computation read the clock: web/cache.py keeps its answer no longer than
    DAILYPAPERS_CACHE_SECONDS (nothing announces midnight)."""
    notebook = _notebook.get()
    if notebook is not None:
        notebook[CLOCK] = True


def note_incomplete() -> None:
    """The answer was cut short (a search out of time): it must not be kept."""
    notebook = _notebook.get()
    if notebook is not None:
        notebook[INCOMPLETE] = True


def vote_stamps(conn: Connection, ids: list[str]) -> dict[str, tuple[Any, ...]]:
    rows = conn.execute(sa.select(papers.c.id, papers.c.local_upvotes, papers.c.counts_updated_at)
                        .where(papers.c.id.in_(ids))).mappings()
    return {row["id"]: stamp(row) for row in rows}
