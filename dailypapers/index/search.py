"""Hybrid search: keyword (BM25, tantivy) and dense (MiniLM vectors), fused.

Two fusions, chosen by ``DAILYPAPERS_SEARCH_FUSION``:
- ``convex`` (default): ``alpha * bm25 / max_bm25 + (1 - alpha) * cosine`` over the union of both
  candidate lists (a paper missing from a list gets 0 from it), alpha = 0.4;
- ``rrf``: ``1 / (k + rank_keyword) + 1 / (k + rank_dense)``, k = 60 (``DAILYPAPERS_SEARCH_RRF_K``).
Measured on SciFact's train judgements (bench/search_quality.py): keyword 0.706 nDCG@10, dense
0.659, RRF k=60 0.715 (k=10 with dense weight 0.8: 0.724), convex alpha 0.4: 0.735. Scores carry
information ranks throw away, so the convex combination wins; RRF stays for those who prefer a
fusion free of score scales.

Exceptions, where fusing would only blur a precise request:
- the query names a paper (an arXiv id) or is a paper's exact title: the keyword ranking's pinned
  hits stay first;
- sorting by newest or upvotes, or a query made only of filters: keyword results alone;
- phrases, ``-exclusions`` and ``author:`` are hard constraints the vectors cannot check, so the
  dense ranking only re-orders the keyword candidates.
Filters (category, year, dates, code, featured) apply to both lists.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy.engine import Engine

from dailypapers.db import data_version
from dailypapers.db.engine import read_transaction
from dailypapers.index.embedder import Embedder, get_embedder
from dailypapers.index.graph_store import graph_dir
from dailypapers.index.keyword import KeywordIndex, SearchFilters, Weights
from dailypapers.index.keyword_store import keyword_dir
from dailypapers.index.query import ParsedQuery, QueryError, parse_query
from dailypapers.index.rankings import RankingMemo
from dailypapers.index.vectors import VectorIndex, embed_pending
from dailypapers.settings import ANN_MIN_VECTORS, Settings

log = logging.getLogger("dailypapers.search")

MODES = ("hybrid", "keyword", "dense")
FUSIONS = ("convex", "rrf")
CANDIDATES = 100  # per list, before fusion
# Nearest neighbours exist for any text, even gibberish: below this cosine a paper is not a match
# (all-MiniLM-L6-v2 puts unrelated scientific texts around 0.0–0.2, related ones above 0.3).
MIN_COSINE = 0.25
SHORT_QUERY_WORDS = 8
PINNED = Weights().exact_title  # keyword scores at or above this name the paper exactly
DEFAULT_BUDGET_MS = 2000.0


@dataclass
class SearchHit:
    paper_id: str
    score: float
    keyword_rank: int | None = None
    dense_rank: int | None = None


@dataclass
class SearchResults:
    hits: list[SearchHit]
    total: int
    query: ParsedQuery
    mode: str
    sort: str
    warnings: list[str] = field(default_factory=list)
    # The request's time budget: past ``deadline`` (time.monotonic()) callers skip optional work
    # (the dense ranking, highlights) and answer with what they have, marked ``partial``.
    deadline: float = float("inf")
    budget_ms: float = DEFAULT_BUDGET_MS
    partial: bool = False

    def out_of_time(self) -> bool:
        return time.monotonic() > self.deadline

    def cut_short(self, skipped: str) -> None:
        """Record that ``skipped`` was left out for lack of time (one warning per request)."""
        if not self.partial:
            self.partial = True
            data_version.note_incomplete()  # an answer cut short by time: cached nowhere
            self.warnings.append(f"partial results: the search used its {self.budget_ms:g} ms "
                                 f"budget, so {skipped} was skipped")


class SearchService:
    """Owns the indexes of one serving process and keeps them caught up with the database."""

    def __init__(self, engine: Engine, data_dir: Path, *, embedder: str | Embedder = "minilm-int8",
                 fusion: str = "convex", alpha: float = 0.4, alpha_short: float = 0.7,
                 rrf_k: float = 60.0, ann_min_vectors: int = ANN_MIN_VECTORS,
                 budget_ms: float = DEFAULT_BUDGET_MS, ranking_seconds: float = 60.0) -> None:
        if fusion not in FUSIONS:
            raise ValueError(f"unknown fusion {fusion!r}; use one of {', '.join(FUSIONS)}")
        self.engine = engine
        self.data_dir = Path(data_dir)
        self.path = keyword_dir(data_dir)
        self.embedder_spec = embedder if isinstance(embedder, str) else embedder.name
        self._embedder: Embedder | None = None if isinstance(embedder, str) else embedder
        self.fusion = fusion
        self.alpha = alpha
        self.alpha_short = alpha_short
        self.rrf_k = rrf_k
        self.ann_min_vectors = ann_min_vectors
        self.budget_ms = budget_ms
        self._keyword: KeywordIndex | None = None
        self._vectors: VectorIndex | None = None
        # Paging through results, or a popular query, embeds the same text again: remember it.
        self.query_vector = functools.lru_cache(maxsize=4096)(self._embed_query)
        self.rankings = RankingMemo(ranking_seconds)  # the same search asked again
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, engine: Engine, settings: Settings) -> SearchService:
        return cls(engine, settings.data_dir, embedder=settings.embedder,
                   fusion=settings.search_fusion, alpha=settings.search_alpha,
                   alpha_short=settings.search_alpha_short, rrf_k=settings.search_rrf_k,
                   ann_min_vectors=settings.ann_min_vectors,
                   budget_ms=settings.search_budget_ms, ranking_seconds=settings.cache_seconds)

    # --- indexes -------------------------------------------------------------------------

    @property
    def keyword(self) -> KeywordIndex:
        if self._keyword is None:
            with self._lock:
                if self._keyword is None:
                    self._keyword = KeywordIndex.ensure(self.engine, self.path)
        return self._keyword

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = get_embedder(self.embedder_spec)
        return self._embedder

    @property
    def vectors(self) -> VectorIndex:
        if self._vectors is None:
            with self._lock:
                if self._vectors is None:
                    name, dim = self.embedder.name, self.embedder.dim
                    index = VectorIndex(name, dim, self.ann_min_vectors,
                                        graph_dir=graph_dir(self.data_dir, name, dim))
                    with read_transaction(self.engine) as conn:
                        index.catch_up(conn)
                    self._vectors = index
        return self._vectors

    @property
    def loaded(self) -> bool:
        """Both indexes are open (the first catch-up is done): what ``/readyz`` waits for."""
        return self._keyword is not None and self._vectors is not None

    def index_tokens(self) -> dict[str, object]:
        """What each part of this process's indexes is at, by the name an answer notes when it
        uses that part (``data_version.note_index``; web/cache.py keeps a cached answer only
        while the parts it used stay put): ``keyword`` moves with any change, ``text`` only
        with changes beyond counts (a vote moves a document's upvotes, which only a ranking by
        upvotes reads), ``vectors`` with the vectors loaded. Loads nothing. Another process's
        keyword commit reaches our searcher by tantivy's own reload, which this does not see:
        cached answers' age bound covers that."""
        keyword, vectors = self._keyword, self._vectors
        generation = keyword.generation if keyword else None
        return {"keyword": (generation, keyword.changes if keyword else 0),
                "text": (generation, keyword.text_changes if keyword else 0),
                "vectors": (vectors.watermark, len(vectors), vectors.layouts) if vectors else None}

    def shared_index_tokens(self) -> dict[str, object]:
        """The parts of ``index_tokens`` that another process at the same rows has too
        (web/shared_cache.py): the vectors' rows, by watermark and count (whether they are
        ranked by a scan or a graph is this process's own), and the keyword index's folder
        (``text``: one per machine; its commits reach each process unannounced, so an answer
        that used it is kept DAILYPAPERS_CACHE_SECONDS at most, shared or not). Not
        ``keyword``: a ranking by upvotes moves with votes on papers it does not show."""
        vectors, keyword = self._vectors, self._keyword
        return {"vectors": (vectors.watermark, len(vectors)) if vectors else None,
                "text": str(keyword.generation) if keyword and keyword.generation else None}

    def _note(self, *parts: str) -> dict[str, object]:
        tokens = self.index_tokens()
        for part in parts:
            data_version.note_index(part, tokens[part])
        return tokens

    def catch_up(self) -> None:
        """Index what the database gained since the watermarks (cheap when nothing changed)."""
        self.keyword.update(self.engine)
        vectors = self.vectors  # loaded first (its own transaction): never two connections at once
        with read_transaction(self.engine) as conn:
            vectors.catch_up(conn)

    def build_graph(self) -> bool:
        """Serve from the approximate vector graph if the collection has grown past the
        threshold: the node's saved one, or one built here and saved for the node's other
        processes (minutes for a large one: call from a background thread; searches scan
        meanwhile)."""
        return self.vectors.build_graph()

    def embed_some(self, stop: threading.Event | None = None, max_batches: int | None = None) -> int:
        done = embed_pending(self.engine, self.embedder, stop=stop, max_batches=max_batches)
        if done:
            with read_transaction(self.engine) as conn:
                self.vectors.catch_up(conn)
        return done

    # --- queries -------------------------------------------------------------------------

    def search(self, query: str | ParsedQuery, *, limit: int = 20, offset: int = 0,
               filters: SearchFilters | None = None, sort: str = "relevance",
               mode: str = "hybrid", strict: bool = True) -> SearchResults:
        """Raises QueryError for input the caller should answer with a 4xx.

        Within the time budget (``budget_ms`` from the call's start): once it is spent the
        keyword ranking is answered alone, and the results' ``deadline`` tells the caller to skip
        its own optional work. Each stage is bounded in itself (the query is cut to 512
        characters, candidate lists to ``CANDIDATES``, highlights to 10,000 characters a field),
        so the budget is a backstop for a slow machine or a huge collection, not the only guard.
        """
        budget = self.budget_ms
        deadline = time.monotonic() + budget / 1000.0
        if mode not in MODES:
            raise QueryError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
        parsed = query if isinstance(query, ParsedQuery) else parse_query(query, strict=strict)
        if mode == "keyword" or sort != "relevance" or not parsed.positive or parsed.arxiv_ids:
            # Before the search: a change after this only makes the noted state older.
            self._note("keyword" if sort == "upvotes" else "text")
            return self._keyword_only(parsed, limit, offset, filters, sort, deadline)
        tokens, started = self._note("text", "vectors"), time.monotonic()
        want = max(CANDIDATES, offset + limit)
        key, state = (repr(parsed), filters, mode, want), (tokens["text"], tokens["vectors"])
        kept = self.rankings.get(key, state)  # index/rankings.py
        if kept is not None:
            ranked, total, kept_warnings = kept
            return SearchResults(ranked[offset:offset + limit], total, parsed, mode, sort,
                                 list(kept_warnings), deadline, budget)
        kw = self.keyword.search(parsed, limit=want, filters=filters, sort="relevance")
        warnings = list(kw.warnings)
        if time.monotonic() > deadline:  # the keyword ranking is what we have
            hits = [SearchHit(h.paper_id, h.score or 0.0, i, None) for i, h in enumerate(kw.hits, 1)]
            results = SearchResults(hits[offset:offset + limit], kw.total, parsed, "keyword", sort,
                                    warnings, deadline, budget)
            results.cut_short("the ranking by meaning")
            return results
        if mode == "dense":
            ranked = self._dense(parsed, want, filters, None)
            hits = [SearchHit(pid, score, None, rank) for rank, (pid, score) in enumerate(ranked, 1)]
            self.rankings.put(key, state, (hits, len(hits), tuple(warnings)), started)
            return SearchResults(hits[offset:offset + limit], len(hits), parsed, mode, sort, warnings,
                                 deadline, budget)
        constrained = bool(parsed.phrases or parsed.exclude_words or parsed.exclude_phrases
                           or parsed.exclude_ids or any(f.key == "author" for f in parsed.filters))
        allowed = {h.paper_id for h in kw.hits} if constrained else None
        dense = self._dense(parsed, want, filters, allowed)
        fused = self._fuse(kw.hits, dense, self.alpha_for(parsed))
        total = max(kw.total, len(fused))
        if time.monotonic() <= deadline:  # (one the budget cut short is not kept)
            self.rankings.put(key, state, (fused, total, tuple(warnings)), started)
        return SearchResults(fused[offset:offset + limit], total, parsed, mode, sort, warnings,
                             deadline, budget)

    def _keyword_only(self, parsed: ParsedQuery, limit: int, offset: int,
                      filters: SearchFilters | None, sort: str, deadline: float) -> SearchResults:
        kw = self.keyword.search(parsed, limit=limit, offset=offset, filters=filters, sort=sort)
        hits = [SearchHit(h.paper_id, h.score or 0.0, offset + i, None)
                for i, h in enumerate(kw.hits, 1)]
        return SearchResults(hits, kw.total, parsed, "keyword", kw.sort, list(kw.warnings),
                             deadline, self.budget_ms)

    def _dense(self, parsed: ParsedQuery, want: int, filters: SearchFilters | None,
               allowed: set[str] | None) -> list[tuple[str, float]]:
        vectors = self.vectors
        if not len(vectors):
            return []
        query = self.query_vector(parsed.free_text)
        if allowed is not None:
            scored = [(pid, float(v @ query)) for pid in allowed
                      if (v := vectors.vector_of(pid)) is not None]
            return sorted(scored, key=lambda p: -p[1])[:want]
        hidden = set(filters.hidden_ids) if filters is not None else set()
        if (filters is None or filters == SearchFilters(hidden_ids=filters.hidden_ids)) \
                and not parsed.filters:
            # An empty filter form filters nothing; hidden papers are skipped by the scan.
            candidates = vectors.search(query, want, exclude=hidden)
        else:
            # Filters: look further down the list and keep what passes them.
            candidates = vectors.search(query, want * 10)
            keep = self._passing(parsed, filters, [pid for pid, _ in candidates])
            candidates = [(pid, s) for pid, s in candidates if pid in keep][:want]
        return [(pid, s) for pid, s in candidates if s >= MIN_COSINE]

    def _embed_query(self, text: str) -> np.ndarray:
        vector = self.embedder.embed([text])[0]
        vector.setflags(write=False)  # shared by every caller of the cache
        return vector

    def _passing(self, parsed: ParsedQuery, filters: SearchFilters | None, ids: list[str]) -> set[str]:
        """The ids that pass the query's filters and the form's, checked in the keyword index."""
        if not ids:
            return set()
        return self.keyword.matching_ids(parsed, filters, ids)

    def alpha_for(self, parsed: ParsedQuery) -> float:
        """Keyword weight: short queries are remembered words (a title fragment, keywords, a
        name) where exact terms matter most; long ones are descriptions, where meaning does."""
        words = sum(len(part.split()) for part in parsed.positive)
        return self.alpha_short if words <= SHORT_QUERY_WORDS else self.alpha

    def _fuse(self, keyword_hits: list, dense: list[tuple[str, float]],  # type: ignore[type-arg]
              alpha: float) -> list[SearchHit]:
        table: dict[str, SearchHit] = {}
        pinned = {h.paper_id for h in keyword_hits if h.score is not None and h.score >= PINNED}
        plain = [h.score for h in keyword_hits if h.score is not None and h.paper_id not in pinned]
        top = max(plain, default=0.0) or 1.0
        for rank, hit in enumerate(keyword_hits, 1):
            if self.fusion == "rrf":
                part = 1.0 / (self.rrf_k + rank)
            else:
                part = alpha * min(1.0, (hit.score or 0.0) / top)
            table[hit.paper_id] = SearchHit(hit.paper_id, part, rank, None)
        for rank, (pid, cosine) in enumerate(dense, 1):
            entry = table.setdefault(pid, SearchHit(pid, 0.0, None, None))
            entry.dense_rank = rank
            entry.score += (1.0 / (self.rrf_k + rank) if self.fusion == "rrf"
                            else (1.0 - alpha) * cosine)
        return sorted(table.values(), key=lambda h: (h.paper_id not in pinned, -h.score,
                                                     h.keyword_rank or 10**9, h.paper_id))

    def similar(self, paper_id: str, k: int = 6) -> list[tuple[str, float]]:
        """Nearest papers by embedding, excluding the paper itself."""
        self._note("vectors")
        vectors = self.vectors
        vector = vectors.vector_of(paper_id)
        if vector is None:
            return []
        return vectors.search(vector, k, exclude={paper_id})
