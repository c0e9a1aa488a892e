"""The served keyword index: open, search, keep up to date. ``keyword_query`` builds the tantivy
query and holds the ranking recipe and its measured figures; ``keyword_store`` the files.

A query of filters only (or of exclusions only) lists the matching papers newest first.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import tantivy
from sqlalchemy.engine import Engine

from dailypapers.index import keyword_store as store
from dailypapers.index.keyword_query import (
    Must,
    SearchFilters,
    Weights,
    build_query,
    exclusions,
    filter_clauses,
)
from dailypapers.index.keyword_schema import EN_ANALYZER, F_DATE, F_ID, F_UPVOTES, SCHEMA
from dailypapers.index.query import ParsedQuery, QueryError, parse_query

__all__ = ["Hit", "KeywordIndex", "KeywordResults", "SearchFilters", "Weights", "SORTS"]

SORTS = ("relevance", "newest", "upvotes")
MAX_LIMIT = 1000
MAX_OFFSET = 10_000  # deeper pages cost more than they are worth; past it the page is empty


class Hit(NamedTuple):
    paper_id: str
    score: float | None  # BM25-based score for relevance; None when sorted by date or upvotes


@dataclass
class KeywordResults:
    hits: list[Hit]
    total: int  # all matching papers, not just this page
    query: ParsedQuery
    sort: str
    warnings: list[str] = field(default_factory=list)


class KeywordIndex:
    """The served keyword index. Thread-safe: searches run while ``update`` writes; each search
    uses the newest committed snapshot, and a rebuild by another process is picked up by name."""

    _CHECK_EVERY = 0.5  # seconds between looks at CURRENT (a generation swapped by another process)

    def __init__(self, path: Path, weights: Weights | None = None) -> None:
        self.path = Path(path)
        self.weights = weights or Weights()
        self._lock = threading.Lock()
        self._generation: Path | None = None
        self._index: tantivy.Index | None = None
        self._checked = 0.0
        self.changes = 0  # updates that changed documents, here (web/cache.py keys on it)
        # ... that changed more than counts (votes, comments): what an answer ranked by text
        # alone depends on (index/search.py notes which one each answer used)
        self.text_changes = 0
        self._served_watermark: dt.datetime | None = None
        self._served_text_watermark: str | None = None
        self._reopen()

    @classmethod
    def open(cls, path: Path | str, weights: Weights | None = None) -> KeywordIndex:
        """Open the served generation, clearing crash leftovers; ``IndexMissing`` if none."""
        store.repair(Path(path))
        return cls(Path(path), weights)

    @classmethod
    def ensure(cls, engine: Engine, path: Path | str) -> KeywordIndex:
        """What a starting server does: open (repairing), build if missing, then catch up."""
        path = Path(path)
        store.repair(path)
        if store.current_generation(path) is None:
            store.build(engine, path, only_if_missing=True)
            store.remove_other_versions(path)  # a schema change: the old version's index
        try:
            index = cls(path)
        except ValueError:  # tantivy cannot open it (files damaged or deleted): start over
            store.build(engine, path)
            index = cls(path)
        index.update(engine)
        return index

    def _reopen(self) -> None:
        gen = store.current_generation(self.path)
        if gen is None:
            raise store.IndexMissing(f"no complete keyword index in {self.path}")
        if gen != self._generation:
            index = store.open_tantivy(gen)
            self._index, self._generation = index, gen  # readers switch on their next search
        self._checked = time.monotonic()

    def _searcher(self) -> tantivy.Searcher:
        if time.monotonic() - self._checked > self._CHECK_EVERY:
            try:
                self._reopen()
            except store.IndexMissing:
                pass  # someone deleted the index under us: keep serving the open one
        assert self._index is not None
        return self._index.searcher()

    def refresh(self) -> None:
        """See our own commits now (and a swapped generation), not after the reload delay."""
        self._reopen()
        assert self._index is not None
        self._index.reload()

    def update(self, engine: Engine) -> store.UpdateReport:
        with self._lock:
            report = store.update(engine, self.path)
            self.refresh()
            # Another process's commit to the shared folder reaches us by this refresh with
            # nothing indexed here: its watermark moving counts as a change all the same (else an
            # answer cached before it would be served until it expires).
            state = self._state()  # read once: both marks come from it
            watermark = _watermark(state)
            if report.indexed or report.removed or watermark != self._served_watermark:
                self.changes += 1
            self._served_watermark = watermark
            # From the state file, so another process's commit counts by its kind too.
            text_watermark = state.get(store.TEXT_WATERMARK)
            if text_watermark is None or text_watermark != self._served_text_watermark:
                self.text_changes += 1
            self._served_text_watermark = text_watermark
            return report

    def rebuild(self, engine: Engine) -> store.BuildReport:
        with self._lock:
            report = store.build(engine, self.path)
            assert report is not None
            self.refresh()
            self.changes += 1
            self.text_changes += 1
            return report

    @property
    def generation(self) -> Path | None:
        return self._generation

    @property
    def num_docs(self) -> int:
        return self._searcher().num_docs

    def _state(self) -> dict[str, Any]:
        return store.read_state(self._generation) if self._generation else {}

    @property
    def watermark(self) -> dt.datetime | None:
        return _watermark(self._state())

    def search(self, query: ParsedQuery | str, *, limit: int = 20, offset: int = 0,
               filters: SearchFilters | None = None, sort: str = "relevance",
               strict: bool = True) -> KeywordResults:
        """Raises ``QueryError`` for a query or argument we refuse (an API answers 400)."""
        parsed = query if isinstance(query, ParsedQuery) else parse_query(query, strict=strict)
        if sort not in SORTS:
            raise QueryError(f"unknown sort {sort!r}; use one of {', '.join(SORTS)}")
        if limit < 0 or offset < 0:
            raise QueryError("limit and offset must not be negative")
        limit = min(limit, MAX_LIMIT)
        warnings = list(parsed.warnings)
        searcher = self._searcher()
        built = build_query(parsed, filters, require_all=sort != "relevance",
                            weights=self.weights, searcher=searcher)
        if (parsed.words or parsed.phrases) and not any(
                EN_ANALYZER.analyze(t) for t in parsed.words + parsed.phrases):
            warnings.append("nothing to search for: only very common words (like 'the', 'of') "
                            "or over-long ones")
        if built.query is None:
            return KeywordResults([], 0, parsed, sort, warnings)
        effective = sort if sort != "relevance" or built.scored else "newest"
        # tantivy panics on a limit of 0: ask for one hit and drop it (the count is what's wanted).
        want = limit if offset <= MAX_OFFSET else 0
        order = {} if effective == "relevance" else {
            "order_by_field": F_DATE if effective == "newest" else F_UPVOTES,
            "order": tantivy.Order.Desc}
        result = searcher.search(built.query, max(want, 1), count=True,
                                 offset=min(offset, MAX_OFFSET), **order)
        hits = [Hit(searcher.doc(a)[F_ID][0], float(s) if effective == "relevance" else None)
                for s, a in result.hits[:want]]
        return KeywordResults(hits, int(result.count or 0), parsed, effective, warnings)

    def matching_ids(self, query: ParsedQuery | str, filters: SearchFilters | None,
                     ids: list[str]) -> set[str]:
        """Which of ``ids`` pass the query's filters (``cat:``, ``year:``, ``has:``, ``author:``,
        negated ones too), its ``-exclusions`` and ``filters``; its words are not required.
        For the dense half of hybrid search, which cannot check these itself."""
        parsed = query if isinstance(query, ParsedQuery) else parse_query(query, strict=False)
        wanted = list(dict.fromkeys(i for i in ids if isinstance(i, str) and i))
        if not wanted:
            return set()
        clauses: list[tuple[tantivy.Occur, tantivy.Query]] = [
            (Must, tantivy.Query.term_set_query(SCHEMA, F_ID, wanted))]
        for occur, q in filter_clauses(parsed, filters):
            if q is None:
                return set()
            clauses.append((occur, q))
        clauses.extend(exclusions(parsed, filters))
        searcher = self._searcher()
        result = searcher.search(tantivy.Query.boolean_query(clauses), len(wanted), count=False)
        return {searcher.doc(a)[F_ID][0] for _, a in result.hits}

    def with_weights(self, **changes: float) -> KeywordIndex:
        """The same index ranked with other weights (for benchmarks and tuning)."""
        clone = object.__new__(KeywordIndex)
        clone.__dict__.update(self.__dict__)
        clone.weights = dataclasses.replace(self.weights, **changes)
        return clone


def _watermark(state: dict[str, Any]) -> dt.datetime | None:
    return dt.datetime.fromisoformat(state["watermark"]) if state.get("watermark") else None
