"""Anonymous answers shared by the web processes (``DAILYPAPERS_CACHE_SHARED_URL``: a Redis).

Each web process keeps its own cache (web/cache.py), so with N processes every answer was made
N times, and a vote ended it N times: in the load benchmark ~40 % of the answers a process made
had been made by the other one shortly before. A process that misses now asks Redis for the
answer another made at the same data version, and offers each answer it makes (after sending
it). What makes an answer good travels with it, and the taker checks it as it checks its own:

- the data version is part of the key, as in the process's own cache;
- an answer good only at one votes version is taken only at that version; one that keeps the
  vote stamps of the papers it read is taken only if a read of those stamps, now, finds them
  unchanged (one query: far cheaper than making the answer; the process's own later hits then
  check its vote log, from a mark taken before that read);
- an answer that used the vectors is taken only by a process whose vectors are at the same
  rows, one that used the keyword index's text only by a process that serves the same index
  folder (index/search.py's ``shared_index_tokens``); its commits reach every process
  unannounced anyway, so such an answer lives DAILYPAPERS_CACHE_SECONDS at most, made here or
  taken. A ranking by upvotes (``keyword``) is never shared: a vote on a paper it does not
  show may change it, which only the process's own index tells;
- its age travels too: an answer that read the clock lives DAILYPAPERS_CACHE_SECONDS, any other
  an hour at most (Redis drops it then: each key expires).

Redis away (or slow: a short timeout) costs nothing but the sharing: the process answers from
its own cache or renders, and asks again after RETRY_SECONDS. Stored: JSON (headers, ETag,
what makes the answer good) and the body, never a pickle. Give the Redis ``maxmemory`` with
``maxmemory-policy volatile-lru`` (every key here expires; the queue's keys do not).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import time
import weakref
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from fastapi.concurrency import run_in_threadpool

from dailypapers.settings import safe_queue_url

if TYPE_CHECKING:
    from dailypapers.web.cache import Entry, ResponseCache

log = logging.getLogger(__name__)
TIMEOUT_SECONDS = 0.25  # a Redis slower than this is treated as away
RETRY_SECONDS = 5.0
SHAREABLE_INDEXES = frozenset({"vectors", "text"})  # index/search.py's shared_index_tokens


class SharedAnswers:
    def __init__(self, url: str, prefix: str, shared_index_tokens: Any) -> None:
        self.url, self.prefix = url, prefix
        self.shared_index_tokens = shared_index_tokens  # index/search.py's
        self._clients: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
        self._away_until = 0.0
        self._routes: dict[str, SimpleNamespace] = {}  # route template: what observability reads
        self.taken = self.refused = self.offered = 0

    def _client(self) -> Any:
        """One client per event loop (its connections belong to that loop)."""
        import redis.asyncio

        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = self._clients[loop] = redis.asyncio.Redis.from_url(
                self.url, socket_timeout=TIMEOUT_SECONDS,
                socket_connect_timeout=TIMEOUT_SECONDS)
        return client

    def _key(self, key: tuple[Any, ...]) -> str:
        data, *rest = key
        return f"{self.prefix}:answer:{data}:{hashlib.blake2b(repr(rest).encode(), digest_size=16).hexdigest()}"

    def _away(self, exc: BaseException) -> None:
        if time.monotonic() >= self._away_until:
            log.warning("the shared answer cache at %s is not answering (%s): each web process "
                        "answers from its own for %.0f s", safe_queue_url(self.url),
                        type(exc).__name__, RETRY_SECONDS)
        self._away_until = time.monotonic() + RETRY_SECONDS

    async def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        if time.monotonic() < self._away_until:
            return None
        try:
            return await getattr(self._client(), method)(*args, **kwargs)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # redis's errors, timeouts, refused connections: all "away"
            self._away(exc)
            return None

    async def adopt(self, cache: ResponseCache, key: tuple[Any, ...],
                    votes: int) -> Entry | None:
        """Another process's answer for ``key`` if it is good now (then kept here too)."""
        raw = await self._call("get", self._key(key))
        if raw is None:
            return None
        try:
            meta_bytes, body = raw.split(b"\n", 1)
            meta = json.loads(meta_bytes)
        except ValueError:
            return None
        entry = await self._good_entry(cache, meta, body, votes)
        if entry is None:
            self.refused += 1
            return None
        self.taken += 1
        cache.store.put(key, entry)
        return entry

    async def _good_entry(self, cache: ResponseCache, meta: dict[str, Any], body: bytes,
                          votes: int) -> Entry | None:
        from dailypapers.web.cache import Entry

        age = time.time() - meta["made"]
        if age > cache.store.lifetime(meta["unannounced"]):
            return None
        local_indexes = None
        if meta["indexes"]:
            shared = self.shared_index_tokens()
            if any(_plain(shared.get(part)) != token for part, token in meta["indexes"].items()):
                return None
            now = cache.index_tokens()
            local_indexes = {part: now.get(part) for part in meta["indexes"]}
        if meta["votes"] is not None and meta["votes"] != votes:
            return None
        stamps: dict[str, tuple[Any, ...]] = {}
        vote_mark = cache.versions.vote_mark()  # before the read, as for an answer made here
        if meta["stamps"]:
            stamps = await run_in_threadpool(cache.versions.stamps, list(meta["stamps"]))
            if _plain(stamps) != meta["stamps"]:
                return None
        route = meta["route"]
        return Entry(
            time.monotonic() - age, [(n.encode("latin-1"), v.encode("latin-1"))
                                     for n, v in meta["headers"]],
            body, meta["etag"].encode("latin-1"), votes=meta["votes"], stamps=stamps,
            checked_at_votes=votes, vote_mark=vote_mark, indexes=local_indexes,
            unannounced=meta["unannounced"],
            route=self._routes.setdefault(route, SimpleNamespace(path=route)) if route else None)

    async def offer(self, cache: ResponseCache, key: tuple[Any, ...], entry: Entry) -> None:
        """Keep an answer made here for the other processes, if it can be shared."""
        parts = set(entry.indexes or ())
        if not parts <= SHAREABLE_INDEXES:
            return  # a ranking by upvotes: never shared (see the module's docstring)
        shared = self.shared_index_tokens() if parts else {}
        age = time.monotonic() - entry.stored_at
        seconds = cache.store.lifetime(entry.unannounced) - age
        if seconds < 1:
            return
        meta = {
            "made": time.time() - age, "unannounced": entry.unannounced,
            "headers": [[n.decode("latin-1"), v.decode("latin-1")] for n, v in entry.headers],
            "etag": entry.etag.decode("latin-1"), "votes": entry.votes,
            "stamps": _plain(entry.stamps),
            "indexes": {part: _plain(shared.get(part)) for part in parts} or None,
            "route": getattr(entry.route, "path", None),
        }
        value = json.dumps(meta, separators=(",", ":")).encode() + b"\n" + entry.body
        self.offered += 1
        await self._call("set", self._key(key), value, ex=math.floor(seconds))


def _plain(value: Any) -> Any:
    """``value`` as JSON reads it back (tuples as lists, datetimes as ISO text)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
