"""Rankings a web process made recently, for the same search asked again.

The search page, Hugging Face's search API and ours rank a query the same way (the same words,
filters and candidate count): in bench/load.py's mix each of 400 queries came in all three, and
each time the keyword index and the vectors were searched and fused again (~5 ms of a ~15 ms
answer). A ranking is kept under (the parsed query, the filters, the mode, the candidate count)
together with the state of the index parts it used (``SearchService.index_tokens``: the
keyword index's text and the vectors, read before it searched), and is good while that state
holds. Another process's keyword commit reaches the searcher unannounced, so a ranking is also
kept no longer than DAILYPAPERS_CACHE_SECONDS, as web/cache.py keeps answers that used it. A
ranking cut short by the time budget is never kept. Hits are never changed in place.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any

MAX_RANKINGS = 2048


class RankingMemo:
    def __init__(self, max_age: float, max_rankings: int = MAX_RANKINGS) -> None:
        self.max_age, self.max_rankings = max_age, max_rankings
        self._kept: OrderedDict[Any, tuple[float, Any, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: Any, state: Any) -> Any:
        """What was kept for ``key`` while the indexes were at ``state``, if still young."""
        with self._lock:
            kept = self._kept.get(key)
            if (kept is None or kept[1] != state
                    or time.monotonic() - kept[0] > self.max_age):
                self.misses += 1
                return None
            self._kept.move_to_end(key)
            self.hits += 1
            return kept[2]

    def put(self, key: Any, state: Any, value: Any, made_at: float) -> None:
        """``made_at``: time.monotonic() before the search read the indexes."""
        with self._lock:
            self._kept[key] = (made_at, state, value)
            self._kept.move_to_end(key)
            while len(self._kept) > self.max_rankings:
                self._kept.popitem(last=False)
