"""Rate limits (the ``limits`` library): per client address and per account, moving windows.

Limits are written in ``limits``' notation (``"5/minute;30/hour"``: every part must hold) and
come from settings. The counts live in ``DAILYPAPERS_RATELIMIT_STORAGE``: ``memory://`` keeps
them in this process (one server), ``redis://host:port`` shares them between every process and
machine, so running four servers does not give an attacker four times the attempts.

When the storage does not answer (Redis down), requests go through and a warning is logged:
sign-in stays possible, protected by argon2's cost alone, rather than locking everyone out.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=64)
def _items(rules: str) -> tuple[RateLimitItem, ...]:
    return tuple(parse_many(rules))


class _MemoryStorage(MemoryStorage):
    """``memory://`` sweeping expired entries once a second, not every 10 ms. The library's
    sweep walks every key: with 20,000 accounts voting it took a seventh of the server's CPU
    (bench/vote_throughput.py: 358 votes/s without the per-account limit, 223 with it). Limits
    are decided by the entries' timestamps; the sweep only frees memory."""

    SWEEP_SECONDS = 1.0

    def _MemoryStorage__schedule_expiry(self) -> None:  # overrides the private scheduler
        if not self.timer.is_alive():
            self.timer = threading.Timer(self.SWEEP_SECONDS,
                                         self._MemoryStorage__expire_events)  # type: ignore[attr-defined]
            self.timer.daemon = True
            self.timer.start()


def _storage_away(exc: Exception) -> None:
    log.warning("rate limit storage unavailable (%s): letting the request through", exc)


class RateLimiter:
    def __init__(self, storage_url: str, key_prefix: str = "dailypapers") -> None:
        if storage_url.startswith("memory://"):
            self.storage: Storage = _MemoryStorage(storage_url)
        else:
            self.storage = storage_from_string(storage_url, key_prefix=key_prefix)
        self.strategy = MovingWindowRateLimiter(self.storage)
        self.prefix = key_prefix

    def _retry_after(self, item: RateLimitItem, scope: str, key: str) -> float:
        stats = self.strategy.get_window_stats(item, self.prefix, scope, key)
        return max(1.0, math.ceil(stats.reset_time - time.time()))

    def check(self, rules: str, scope: str, key: str) -> float | None:
        """Seconds to wait when ``key`` has used up ``rules`` in ``scope``, else None.

        Counts nothing."""
        try:
            for item in _items(rules):
                if not self.strategy.test(item, self.prefix, scope, key):
                    return self._retry_after(item, scope, key)
        except Exception as exc:  # noqa: BLE001 - a storage outage must not stop the site
            _storage_away(exc)
        return None

    def hit(self, rules: str, scope: str, key: str) -> float | None:
        """Count one attempt; seconds to wait instead when the limit is reached (not counted)."""
        items = _items(rules)
        try:
            if len(items) == 1:  # the library's hit tests and counts in one step (one round
                # trip to Redis, not two: a vote checks two limits), and counts nothing when
                # refused
                if self.strategy.hit(items[0], self.prefix, scope, key):
                    return None
                return self._retry_after(items[0], scope, key)
            waiting = self.check(rules, scope, key)  # every rule first: a refusal counts none
            if waiting is not None:
                return waiting
            for item in items:
                self.strategy.hit(item, self.prefix, scope, key)
        except Exception as exc:  # noqa: BLE001
            _storage_away(exc)
        return None

    def reset(self) -> None:
        self.storage.reset()
