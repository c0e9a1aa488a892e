"""Small reads that only a data-version move can change, kept for the version they were read at.

A vote ends a cached day page (web/cache.py), and its re-render asked the database again for
what no vote changes: the footer's last update, the day's neighbours (and a search, the hidden
papers). Those answers move only with writes that move the data version (imports, moderation),
so a web process keeps them under (the data version, what was asked) and forgets them all when
the version moves. The version comes from web/cache.py, read before the request's rows, so a
value kept under it is at least as new as it says (as web/fragments.py's cards). Requests the
cache did not key (signed in, not a GET) read the database as before.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy.engine import Connection
from starlette.requests import Request

from dailypapers import catalog
from dailypapers.web.cache import DATA_VERSION_STATE
from dailypapers.web.lru import VersionedLRU

T = TypeVar("T")
MAX_VALUES = 10_000  # values kept in one version, least recently used first out (days × kinds is ~1,000)


class VersionMemo:
    """Values of one data version at a time (web/lru.py's ``VersionedLRU``)."""

    def __init__(self) -> None:
        self._values = VersionedLRU(MAX_VALUES, lambda _: 1)
        self.hits = self.misses = 0

    def get(self, version: Any, key: Hashable, compute: Callable[[], T]) -> T:
        kept = self._values.get(version, key)  # (value,): a value may be None
        if kept is not None:
            self.hits += 1
            return kept[0]  # type: ignore[no-any-return]
        self.misses += 1
        value = compute()
        self._values.put(version, key, (value,))
        return value

def memo(request: Request, key: Hashable, compute: Callable[[], T]) -> T:
    """``compute()``, or its value kept at this request's data version."""
    store: VersionMemo | None = getattr(request.app.state, "version_memo", None)
    version = request.scope.get("state", {}).get(DATA_VERSION_STATE)
    if store is None or version is None:
        return compute()
    return store.get(version, key, compute)


def last_updated(request: Request, conn: Connection) -> dt.datetime | None:
    """The footer's "last updated" (``catalog.last_updated``)."""
    return memo(request, "last_updated", lambda: catalog.last_updated(conn))


def hidden_paper_ids(request: Request, conn: Connection) -> frozenset[str]:
    """The papers a moderator hid (``catalog.hidden_paper_ids``), which a search leaves out."""
    return memo(request, "hidden", lambda: catalog.hidden_paper_ids(conn))
