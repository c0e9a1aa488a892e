"""Bounded stores of one data version at a time: :class:`SizedLRU` (the response cache's own,
web/cache.py, touched by the event loop only) and :class:`VersionedLRU`, its locked form for
what the render threads keep (cards, lists, small reads)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any


class SizedLRU:
    """An LRU bounded by the bytes of what it holds (``size`` of each value), for one data
    version at a time: ``saw_version`` of another frees everything (web/fragments.py's cards
    use one too)."""

    def __init__(self, max_bytes: int, size: Callable[[Any], int]) -> None:
        self.max_bytes, self._size = max_bytes, size
        self._entries: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._bytes = 0
        self._version: Any = None

    def get(self, key: tuple[Any, ...]) -> Any:
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def discard(self, key: tuple[Any, ...]) -> None:
        if key in self._entries:
            self._bytes -= self._size(self._entries.pop(key))

    def put(self, key: tuple[Any, ...], value: Any) -> None:
        self.discard(key)
        self._entries[key] = value
        self._bytes += self._size(value)
        while self._bytes > self.max_bytes and self._entries:
            self.discard(next(iter(self._entries)))

    def saw_version(self, version: Any) -> None:
        """Entries of another version can never be asked for again: free them all."""
        if version != self._version:
            self._entries.clear()
            self._bytes, self._version = 0, version


class VersionedLRU:
    """A :class:`SizedLRU` of the newest data version seen, shared by the threads that render
    (a lock guards it): what a request keyed on an older version read is not kept (it reads at
    least that version's rows, maybe newer ones, and the store moved on). The version comes from
    web/cache.py, read before the request's rows, so a value kept under it is at least as new
    as it says. Used for cards (web/fragments.py), lists (web/entries_cache.py) and small reads
    (web/version_memo.py)."""

    def __init__(self, max_bytes: int, size: Callable[[Any], int]) -> None:
        self._lru = SizedLRU(max_bytes, size)
        self._lock = threading.Lock()
        self.max_bytes = max_bytes

    def get(self, version: Any, key: tuple[Any, ...] | str) -> Any:
        with self._lock:
            return self._lru.get(key) if version == self._lru._version else None  # type: ignore[arg-type]

    def put(self, version: Any, key: tuple[Any, ...] | str, value: Any) -> None:
        with self._lock:
            held = self._lru._version
            if held is not None and version < held:
                return  # a request that read the version before the last move: not kept
            self._lru.saw_version(version)
            self._lru.put(key, value)  # type: ignore[arg-type]
