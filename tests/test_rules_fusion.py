"""The fusion arithmetic of index/search.py on hand-built rankings, every score computed here
from the documented formulas (module docstring of dailypapers/index/search.py):

    convex: alpha * min(1, bm25 / max_bm25) + (1 - alpha) * cosine   (max over unpinned hits)
    rrf:    1 / (k + rank_keyword) + 1 / (k + rank_dense)

with pinned hits (an exact title or an arXiv id: keyword score >= PINNED) first whatever their
fused score, ties broken by keyword rank then id; the short/long query weight at exactly 8
words; the settings that choose them; the time budget's one warning. No index, no model: the
end-to-end checks of the same formulas are in tests/test_rules_search.py. One test searches a
real keyword index (mode=keyword: no model) for the defaults of ``search``."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest

from dailypapers.index.keyword import Hit
from dailypapers.index.query import QueryError, parse_query
from dailypapers.index.search import PINNED, SearchResults, SearchService
from dailypapers.ingest import hf_daily
from dailypapers.settings import Settings
from tests.helpers import hf_item, store


class _Named:
    """An embedder that is never asked to embed: these tests only fuse given rankings."""

    name, dim = "unused", 4


def _service(tmp_path: Path, **kwargs) -> SearchService:
    return SearchService(None, tmp_path, embedder=_Named(), **kwargs)  # type: ignore[arg-type]


def _scores(hits) -> list[tuple[str, float, int | None, int | None]]:
    return [(h.paper_id, round(h.score, 12), h.keyword_rank, h.dense_rank) for h in hits]


def test_convex_fusion_normalises_by_the_best_unpinned_keyword_score(tmp_path) -> None:
    service = _service(tmp_path)
    keyword = [Hit("a", 8.0), Hit("b", 2.0), Hit("c", None)]
    dense = [("b", 0.9), ("d", 0.5)]
    fused = service._fuse(keyword, dense, 0.3)
    assert _scores(fused) == [
        ("b", round(0.3 * 2 / 8 + 0.7 * 0.9, 12), 2, 1),  # 0.705
        ("d", round(0.7 * 0.5, 12), None, 2),  # 0.35: only the meaning
        ("a", round(0.3 * 1.0, 12), 1, None),  # 0.3: the best keyword score counts 1
        ("c", 0.0, 3, None),  # no score: nothing from the keyword list
    ]


def test_a_pinned_hit_leads_and_does_not_set_the_scale(tmp_path) -> None:
    service = _service(tmp_path)
    keyword = [Hit("title", PINNED + 5.0), Hit("x", 4.0), Hit("y", 1.0)]
    fused = service._fuse(keyword, [("y", 0.95)], 0.5)
    assert [h.paper_id for h in fused] == ["title", "y", "x"]
    scores = {h.paper_id: h.score for h in fused}
    assert scores["x"] == pytest.approx(0.5)  # 4 / 4, not 4 / 100005
    assert scores["y"] == pytest.approx(0.5 * 0.25 + 0.5 * 0.95)
    assert scores["title"] == pytest.approx(0.5)  # min(1, ...): capped, first by being pinned
    exactly = service._fuse([Hit("p", PINNED), Hit("q", 10.0)], [("q", 0.99)], 0.1)
    assert [h.paper_id for h in exactly] == ["p", "q"]  # at PINNED exactly: pinned


def test_only_pinned_or_scoreless_hits_keep_a_scale_of_one(tmp_path) -> None:
    service = _service(tmp_path)
    fused = service._fuse([Hit("p", PINNED), Hit("n", None)], [("n", 0.5)], 0.5)
    assert _scores(fused) == [("p", 0.5, 1, None), ("n", 0.25, 2, 1)]
    zero = service._fuse([Hit("z", 0.0)], [], 0.5)
    assert _scores(zero) == [("z", 0.0, 1, None)]


def test_equal_fused_scores_go_by_keyword_rank_then_id(tmp_path) -> None:
    service = _service(tmp_path)
    fused = service._fuse([Hit("m", 3.0), Hit("k", 3.0)], [("b", 0.6), ("a", 0.6)], 0.4)
    # m, k: 0.4 each (keyword ranks 1, 2); a, b: 0.36 each, no keyword rank: by id
    assert [h.paper_id for h in fused] == ["m", "k", "a", "b"]


@pytest.mark.parametrize("k", [1.0, 60.0])
def test_rrf_adds_one_over_k_plus_rank_from_each_list(tmp_path, k: float) -> None:
    service = _service(tmp_path, fusion="rrf", rrf_k=k)
    fused = service._fuse([Hit("a", 9.0), Hit("b", 1.0)], [("b", 0.9), ("c", 0.1)], 0.4)
    expected = {"a": 1 / (k + 1), "b": 1 / (k + 2) + 1 / (k + 1), "c": 1 / (k + 2)}
    assert {h.paper_id: h.score for h in fused} == pytest.approx(expected, abs=1e-12)
    assert [h.paper_id for h in fused] == ["b", "a", "c"]
    assert [(h.keyword_rank, h.dense_rank) for h in fused] == [(2, 1), (1, None), (None, 2)]


def test_eight_words_are_a_short_query_nine_a_long_one(tmp_path) -> None:
    service = _service(tmp_path, alpha=0.2, alpha_short=0.9)
    eight = parse_query('one two three "four five six" seven eight')
    assert service.alpha_for(eight) == 0.9
    assert service.alpha_for(parse_query("one two three four five six seven eight nine")) == 0.2
    assert service.alpha_for(parse_query("one -not cat:cs year:2020")) == 0.9  # 1 word counted


def test_the_constructor_defaults_and_refuses_an_unknown_fusion(tmp_path) -> None:
    service = _service(tmp_path)
    assert (service.fusion, service.alpha, service.alpha_short, service.rrf_k,
            service.budget_ms) == ("convex", 0.4, 0.7, 60.0, 2000.0)
    assert service.embedder_spec == "unused" and service.embedder.name == "unused"
    with pytest.raises(ValueError) as caught:
        _service(tmp_path, fusion="borda")
    assert str(caught.value) == "unknown fusion 'borda'; use one of convex, rrf"
    named = SearchService(None, tmp_path, embedder="st:/models/x")  # type: ignore[arg-type]
    assert named.embedder_spec == "st:/models/x" and named._embedder is None
    default = SearchService(None, tmp_path)  # type: ignore[arg-type]
    assert default.embedder_spec == "minilm-int8" and default._embedder is None


def _keyword_service(engine, tmp_path: Path, **kwargs) -> SearchService:
    """110 papers about zebrafish (more than the 100 candidates a list holds), in the keyword
    index; the embedder is never loaded."""
    items = []
    for n in range(110):
        items += list(hf_daily.parse_items(
            [hf_item(f"2603.{n + 10000:05d}", title=f"Zebrafish study number {n}",
                     upvotes=n)], day=dt.date(2026, 3, 2)))
    store(engine, items)
    return SearchService(engine, tmp_path, embedder=_Named(), **kwargs)  # type: ignore[arg-type]


def test_keyword_searches_page_with_the_defaults(engine, tmp_path) -> None:
    """limit 20 and offset 0 by default, both passed to the keyword index; strict by default;
    a sort other than relevance is the keyword ranking alone."""
    service = _keyword_service(engine, tmp_path)
    first = service.search("zebrafish", mode="keyword")
    assert (len(first.hits), first.total, first.mode) == (20, 110, "keyword")
    assert [h.keyword_rank for h in first.hits[:2]] == [1, 2]
    page = service.search("zebrafish", mode="keyword", limit=10, offset=105)
    assert len(page.hits) == 5
    assert [h.keyword_rank for h in page.hits] == [106, 107, 108, 109, 110]
    by_votes = service.search("zebrafish", sort="upvotes", limit=3)
    assert [h.paper_id for h in by_votes.hits] == ["2603.10109", "2603.10108", "2603.10107"]
    assert by_votes.mode == "keyword" and by_votes.sort == "upvotes"
    with pytest.raises(QueryError):
        service.search("foo:bar", mode="keyword")
    assert service.search("foo:bar", mode="keyword", strict=False).warnings
    with pytest.raises(QueryError) as caught:
        service.search("zebrafish", mode="fuzzy")
    assert str(caught.value) == "unknown mode 'fuzzy'; use one of hybrid, keyword, dense"


def test_from_settings_reads_every_search_setting(tmp_path) -> None:
    settings = Settings(data_dir=tmp_path, search_fusion="rrf", search_alpha=0.15,
                        search_alpha_short=0.85, search_rrf_k=7.0, ann_min_vectors=123,
                        search_budget_ms=4321.0)
    service = SearchService.from_settings(None, settings)  # type: ignore[arg-type]
    assert (service.fusion, service.alpha, service.alpha_short, service.rrf_k,
            service.ann_min_vectors, service.budget_ms, service.embedder_spec) == \
        ("rrf", 0.15, 0.85, 7.0, 123, 4321.0, settings.embedder)


def test_a_spent_budget_is_said_once(tmp_path) -> None:
    results = SearchResults([], 0, parse_query("x"), "hybrid", "relevance", budget_ms=250.0)
    assert not results.out_of_time() and not results.partial
    results.cut_short("the ranking by meaning")
    results.cut_short("highlights")
    assert results.partial and results.warnings == [
        "partial results: the search used its 250 ms budget, so the ranking by meaning was "
        "skipped"]
    late = SearchResults([], 0, parse_query("x"), "hybrid", "relevance",
                         deadline=time.monotonic() - 1)
    assert late.out_of_time()


def test_a_spent_budget_answers_with_the_keyword_ranking_alone(engine, tmp_path) -> None:
    """With no time left after the keyword search, a hybrid search answers its page of the
    keyword ranking (scores and ranks kept, mode keyword) and says so, without the model; the
    ranking is fetched deep enough for the page asked for (offset + limit past 100)."""
    service = _keyword_service(engine, tmp_path, budget_ms=0.0)
    full = service.search("zebrafish", mode="keyword", limit=110)
    results = service.search("zebrafish", limit=5, offset=2, sort="relevance")
    assert (results.mode, results.sort, results.partial, results.total) == \
        ("keyword", "relevance", True, 110)
    assert [(h.paper_id, h.keyword_rank, h.dense_rank) for h in results.hits] == \
        [(h.paper_id, 3 + n, None) for n, h in enumerate(full.hits[2:7])]
    assert [h.score for h in results.hits] == [h.score for h in full.hits[2:7]]
    assert all(h.score > 0 for h in results.hits)
    assert results.warnings == ["partial results: the search used its 0 ms budget, so the "
                                "ranking by meaning was skipped"]
    assert results.budget_ms == 0.0 and results.out_of_time()
    deep = service.search("zebrafish", limit=10, offset=100)
    assert [h.keyword_rank for h in deep.hits] == list(range(101, 111))
