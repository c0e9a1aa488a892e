"""Rendered paper cards kept between anonymous requests of one web process.

A day page shows up to ~50 cards, and rendering them was ~70 % of the page's CPU
(bench/load.py: ~19 ms a page): every vote on one of its papers ends the cached page
(web/cache.py), and each web process renders each page once anyway. A card an anonymous
reader sees depends only on rows: its paper and feature-day rows, and the media rows of its
thumbnail and avatar. So it is kept under (the data version, the paper, the feature, whether the
day is shown, the paper's vote stamp): every write but a vote moves the data version (which
empties the store, as it empties the page cache), and a vote moves its paper's stamp. The
version comes from web/cache.py, read before the page's rows, so a card kept under it is at
least as new as it says. A signed-in reader's card (their vote, their collections) is never
kept, nor is any card of a request the page cache did not key (no version known).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup

# scope["state"] key: the data version web/cache.py read for this anonymous request
DATA_VERSION = "dailypapers_data_version"
CARD_TEMPLATE = "_card.html"


class FragmentStore:
    """An LRU of rendered fragments bounded by their bytes, for one data version at a time.
    Rendering runs on threadpool threads: a lock guards it."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple[Any, ...], str] = OrderedDict()
        self._bytes = 0
        self._version: Any = None
        self.hits = self.misses = 0

    def get(self, version: Any, key: tuple[Any, ...]) -> str | None:
        with self._lock:
            found = self._items.get(key) if version == self._version else None
            if found is not None:
                self._items.move_to_end(key)
                self.hits += 1
            else:
                self.misses += 1
            return found

    def put(self, version: Any, key: tuple[Any, ...], html: str) -> None:
        with self._lock:
            if version != self._version:
                if self._version is not None and _older(version, self._version):
                    return  # a request that read the version before the last move: not kept
                self._items.clear()
                self._bytes, self._version = 0, version
            if key in self._items:
                return
            self._items[key] = html
            self._bytes += len(html) + 100
            while self._bytes > self.max_bytes and self._items:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= len(dropped) + 100


def _older(version: Any, than: Any) -> bool:
    try:
        return bool(version < than)
    except TypeError:
        return False


@pass_context
def paper_card(context: Context, entry: Any, show_day: bool) -> Markup:
    """``_card.html`` for ``entry``, from the store when the reader is anonymous."""
    template = context.environment.get_template(CARD_TEMPLATE)
    variables = {**context.get_all(), "entry": entry, "show_day": show_day}
    request = context.get("request")
    store: FragmentStore | None = getattr(getattr(request, "app", None), "state", None) and \
        getattr(request.app.state, "fragments", None)
    version = request.scope.get("state", {}).get(DATA_VERSION) if request is not None else None
    if store is None or version is None or context.get("current_user"):
        return Markup(template.render(variables))
    paper, feature = entry.paper, entry.feature
    key = (paper["id"], feature.get("id"), feature.get("day"), bool(show_day),
           paper.get("upvotes"), paper.get("local_upvotes"), paper.get("counts_updated_at"))
    html = store.get(version, key)
    if html is None:
        html = template.render(variables)
        store.put(version, key, html)
    return Markup(html)
