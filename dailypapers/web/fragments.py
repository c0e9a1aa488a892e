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

from typing import Any

from jinja2 import Environment, pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from dailypapers.settings import Settings
from dailypapers.web.cache import DATA_VERSION_STATE
from dailypapers.web.lru import VersionedLRU

CARD_TEMPLATE = "_card.html"


class FragmentStore:
    """Rendered fragments of one data version at a time (web/lru.py's ``VersionedLRU``)."""

    def __init__(self, max_bytes: int) -> None:
        self._cards = VersionedLRU(max_bytes, lambda html: len(html) + 100)
        self.hits = self.misses = 0

    def get(self, version: Any, key: tuple[Any, ...]) -> str | None:
        found: str | None = self._cards.get(version, key)
        if found is not None:
            self.hits += 1
        else:
            self.misses += 1
        return found

    def put(self, version: Any, key: tuple[Any, ...], html: str) -> None:
        self._cards.put(version, key, html)


def install(env: Environment, app_state: Any, settings: Settings) -> None:
    """``paper_card`` for the templates, and its store (a quarter on top of the page cache's
    bytes: a page's many cards outlive the page a vote ends; none when that cache is off)."""
    app_state.fragments = (FragmentStore(settings.cache_bytes // 4)
                           if settings.cache_bytes > 0 else None)
    env.globals["paper_card"] = paper_card


@pass_context
def paper_card(context: Context, entry: Any, show_day: bool) -> Markup:
    """``_card.html`` for ``entry``, from the store when the reader is anonymous."""
    def render() -> str:  # the variables copied only when a card is made
        return context.environment.get_template(CARD_TEMPLATE).render(
            {**context.get_all(), "entry": entry, "show_day": show_day})

    request = context.get("request")
    store: FragmentStore | None = (getattr(request.app.state, "fragments", None)
                                   if request is not None else None)
    if store is None or context.get("current_user"):
        return Markup(render())
    version = request.scope.get("state", {}).get(DATA_VERSION_STATE)
    if version is None:  # a request the page cache did not key
        return Markup(render())
    paper, feature = entry.paper, entry.feature
    key = (paper["id"], feature.get("id"), feature.get("day"), bool(show_day),
           paper.get("upvotes"), paper.get("local_upvotes"), paper.get("counts_updated_at"))
    html = store.get(version, key)
    if html is None:
        html = render()
        store.put(version, key, html)
    return Markup(html)
