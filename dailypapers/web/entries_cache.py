"""A period's entries (``catalog.entries_in``: a day's list, and its Hugging Face JSON) kept per
data version, with only the papers a vote changed read again.

A vote ends the cached page and JSON of its paper's day (web/cache.py), and in bench/load.py's
mix that was most of what the day pages and the day API rendered: the busiest days are also the
most voted on. Each re-render read the whole day again (~50 paper rows, their abstracts and JSON
columns) to learn one paper's new counts. Now a web process keeps a period's entries under
(the data version, the period, sort, submitter) with the vote mark taken before they were read
(web/cache.py's ``VersionReader.vote_mark``: the process's log of voted papers, PostgreSQL's
listener). A later request at the same data version asks the log which of those papers were
voted on since, reads just those (the same query, restricted to them), puts them in and sorts
again (``catalog.sort_entries``, the Python twin of the SQL order). Every other write moves the
data version, which forgets every list. Without the listener (SQLite, or while it reconnects)
the log cannot tell, and every request reads the whole period, as before.

The kept lists are shared by the threads that render: they are never changed in place (a
refresh makes a new list, with new entries for the papers read again).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection
from starlette.requests import Request

from dailypapers import catalog
from dailypapers.db import data_version
from dailypapers.web.cache import DATA_VERSION_STATE
from dailypapers.web.lru import VersionedLRU

# Entries kept per web process, over all lists: one for every ENTRY_BYTES of
# DAILYPAPERS_CACHE_BYTES (a paper row with its abstract and authors is a few KB in memory), so
# the lists take about a quarter on top of the page cache, as the cards do (web/fragments.py).
ENTRY_BYTES = 16 << 10
MIN_ENTRIES = 1000


@dataclass(frozen=True)
class Kept:
    entries: list[catalog.Entry]
    mark: tuple[int, int]  # the vote mark taken before they were read


class EntriesCache:
    """Lists of one data version at a time, bounded by their entries (LRU)."""

    @classmethod
    def for_cache_bytes(cls, cache_bytes: int) -> EntriesCache:
        return cls(max(MIN_ENTRIES, cache_bytes // ENTRY_BYTES))

    def __init__(self, max_entries: int) -> None:
        self._lists = VersionedLRU(max_entries, lambda kept: len(kept.entries) + 1)
        self.reads = self.refreshes = self.reuses = 0

    def get(self, version: Any, key: tuple[Any, ...]) -> Kept | None:
        return self._lists.get(version, key)  # type: ignore[no-any-return]

    def put(self, version: Any, key: tuple[Any, ...], kept: Kept) -> None:
        self._lists.put(version, key, kept)


def period_entries(request: Request, conn: Connection, start: dt.date, end: dt.date, *,
                   sort: str, submitter: str | None) -> list[catalog.Entry]:
    """``catalog.entries_in(conn, start, end, sort=sort, submitter=submitter)``."""
    cache: EntriesCache | None = getattr(request.app.state, "entries_cache", None)
    version = request.scope.get("state", {}).get(DATA_VERSION_STATE)
    versions = getattr(request.app.state, "data_versions", None)
    mark = versions.vote_mark() if versions is not None else None  # before any read
    if cache is None or version is None or mark is None:
        return catalog.entries_in(conn, start, end, sort=sort, submitter=submitter)
    key = (start, end, sort, submitter)
    kept = cache.get(version, key)
    voted = (versions.voted_since([e.paper["id"] for e in kept.entries], kept.mark)
             if kept is not None else None)
    if kept is None or voted is None:  # (the log cannot tell since the list was read)
        return _read_all(cache, version, key, mark, conn, start, end, sort, submitter)
    if not voted:
        cache.reuses += 1
        data_version.note_papers(e.paper for e in kept.entries)  # web/cache.py's stamps
        return kept.entries
    cache.refreshes += 1
    fresh = {(e.paper["id"], e.feature["day"]): e
             for e in catalog.entries_in(conn, start, end, sort=sort, submitter=submitter,
                                         paper_ids=voted)}
    entries = []
    for entry in kept.entries:
        if entry.paper["id"] in voted:
            entry = fresh.pop((entry.paper["id"], entry.feature["day"]), None)
            if entry is None:  # gone from the period without a data version move: read it all
                return _read_all(cache, version, key, mark, conn, start, end, sort, submitter)
        entries.append(entry)
    entries = catalog.sort_entries(entries, sort)
    cache.put(version, key, Kept(entries, mark))
    data_version.note_papers(e.paper for e in entries)
    return entries


def _read_all(cache: EntriesCache, version: Any, key: tuple[Any, ...], mark: tuple[int, int],
              conn: Connection, start: dt.date, end: dt.date, sort: str,
              submitter: str | None) -> list[catalog.Entry]:
    cache.reads += 1
    entries = catalog.entries_in(conn, start, end, sort=sort, submitter=submitter)
    cache.put(version, key, Kept(entries, mark))
    return entries
