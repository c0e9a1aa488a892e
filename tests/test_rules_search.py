"""Search rules, each checked by its answer on a tiny corpus (tests/rules_corpus.py): every
``year:`` form at its bounds, the date, category, code and featured filters in every mode, the
sorts, what ``mode=keyword`` and ``mode=dense`` each find, and the fused scores recomputed from
the formulas of dailypapers/index/search.py. SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from dailypapers.index.embedder import get_embedder
from dailypapers.index.query import parse_query
from dailypapers.index.search import SearchService
from dailypapers.index.worker import IndexWorker
from dailypapers.settings import Settings
from tests.helpers import MemoEmbedder
from tests.rules_corpus import (
    ALL_IDS, FEAT_CARS, FEAT_FISH, FISH, KEYWORD_ONLY, Y2019, Y2020, Y2021, Y2022, load_corpus,
)

MIN_COSINE = 0.25  # documented in dailypapers/index/search.py
SEARCH_ENV = ("DAILYPAPERS_SEARCH_FUSION", "DAILYPAPERS_SEARCH_ALPHA",
              "DAILYPAPERS_SEARCH_ALPHA_SHORT", "DAILYPAPERS_SEARCH_RRF_K")


def make_client(engine: Any, db_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch,
                **env: str) -> tuple[TestClient, SearchService]:
    """The app as ``serve`` builds it, its search settings read from DAILYPAPERS_* variables;
    the corpus loaded, indexed and embedded."""
    for name in SEARCH_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(f"DAILYPAPERS_{name.upper()}", value)
    from dailypapers.web.app import create_app

    settings = Settings(database_url=db_url, data_dir=tmp_path)
    service = SearchService.from_settings(engine, settings)
    service._embedder = MemoEmbedder(get_embedder(settings.embedder))  # same model, remembered
    load_corpus(engine)
    IndexWorker(service).run_once()
    return TestClient(create_app(settings, engine, search=service)), service


@pytest.fixture
def api(engine, db_url, tmp_path, monkeypatch):
    client, _ = make_client(engine, db_url, tmp_path, monkeypatch)
    with client:
        yield client


def found(api: TestClient, q: str, **params: str) -> list[str]:
    response = api.get("/api/v1/search", params={"q": q, "limit": "50", **params})
    assert response.status_code == 200, response.text
    return [d["paper"]["id"] for d in response.json()["data"]]


# --- filters -------------------------------------------------------------------------------
# Dates: Y2019..Y2022 submitted on June 1st of their year; FEAT_FISH published 2026-03-02.


@pytest.mark.parametrize(("year", "expected"), [
    (">2020", {Y2021, Y2022, FEAT_FISH}),
    (">=2020", {Y2020, Y2021, Y2022, FEAT_FISH}),
    ("<2020", {Y2019}),
    ("<=2020", {Y2019, Y2020}),
    ("2020", {Y2020}),
    ("2020-2021", {Y2020, Y2021}),
    ("2020..2021", {Y2020, Y2021}),
    ("2021-2021", {Y2021}),
    ("-2020", {Y2019, Y2020}),
    ("2021-", {Y2021, Y2022, FEAT_FISH}),
])
def test_year_filter_bounds_in_keyword_mode(api, year: str, expected: set[str]) -> None:
    """Fails if any ``year:`` form is off by one at a bound (``>2020`` including 2020, ``<=``
    excluding it, a range losing an end)."""
    assert set(found(api, f"zebrafish year:{year}", mode="keyword")) == expected


@pytest.mark.parametrize("mode", ["hybrid", "dense"])
def test_year_filter_holds_for_dense_results_too(api, mode: str) -> None:
    """Fails if the dense list lets through papers the year filter excludes."""
    assert set(found(api, "zebrafish year:>2020", mode=mode)) == {Y2021, Y2022, FEAT_FISH}
    assert set(found(api, "zebrafish -year:2020", mode=mode)) == FISH - {Y2020}


def test_an_empty_year_range_is_a_400(api) -> None:
    """Fails if a reversed range is accepted (silently empty) instead of explained."""
    response = api.get("/api/v1/search", params={"q": "zebrafish year:2021-2020"})
    assert response.status_code == 400 and "empty range" in response.json()["error"]


@pytest.mark.parametrize(("params", "expected"), [
    ({"date_from": "2020-06-01"}, {Y2020, Y2021, Y2022, FEAT_FISH}),
    ({"date_from": "2020-06-02"}, {Y2021, Y2022, FEAT_FISH}),
    ({"date_to": "2021-06-01"}, {Y2019, Y2020, Y2021}),
    ({"date_to": "2021-05-31"}, {Y2019, Y2020}),
    ({"date_from": "2021-06-01", "date_to": "2021-06-01"}, {Y2021}),
])
@pytest.mark.parametrize("mode", ["keyword", "hybrid"])
def test_date_filters_include_both_ends(api, params, expected, mode) -> None:
    """Fails if ``date_from`` or ``date_to`` excludes its own day or includes the day beyond."""
    assert set(found(api, "zebrafish", mode=mode, **params)) == expected


@pytest.mark.parametrize(("params", "q", "expected"), [
    ({"category": "cs"}, "zebrafish", {Y2019, Y2020, Y2022}),
    ({"category": "cs.CL"}, "zebrafish", {Y2019}),
    ({}, "zebrafish cat:q-bio", {Y2021}),
    ({}, "zebrafish -cat:cs", {Y2021, FEAT_FISH}),
    ({"has_code": "true"}, "zebrafish", {Y2021}),
    ({"has_code": "false"}, "zebrafish", FISH - {Y2021}),
    ({}, "zebrafish has:code", {Y2021}),
])
@pytest.mark.parametrize("mode", ["keyword", "dense", "hybrid"])
def test_category_and_code_filters(api, params, q, expected, mode) -> None:
    """Fails if a category (or its archive), a negated category or the code filter is ignored
    or inverted in any mode."""
    assert set(found(api, q, mode=mode, **params)) == expected


@pytest.mark.parametrize("mode", ["keyword", "dense", "hybrid"])
def test_featured_filter_on_v1_search(api, mode: str) -> None:
    """Fails if ``featured=`` is ignored: the corpus mixes one featured and four unfeatured
    zebrafish papers."""
    assert set(found(api, "zebrafish", mode=mode)) == FISH
    assert found(api, "zebrafish", mode=mode, featured="true") == [FEAT_FISH]
    assert set(found(api, "zebrafish", mode=mode, featured="false")) == FISH


def test_featured_filter_on_the_hf_search_api(api) -> None:
    """Fails if Hugging Face's search path drops the ``featured`` filter."""
    body = api.get("/api/papers/search", params={"q": "zebrafish", "featured": "1"}).json()
    assert [item["paper"]["id"] for item in body] == [FEAT_FISH]


# --- sorts and modes -----------------------------------------------------------------------


def test_sort_newest_and_upvotes(api) -> None:
    """Fails if ``sort=newest`` is not newest first or ``sort=upvotes`` not most upvoted first."""
    assert found(api, "zebrafish", sort="newest") == [FEAT_FISH, Y2022, Y2021, Y2020, Y2019]
    # Every paper has author Ada Lovelace; only the two featured ones have upvotes (7 and 2).
    assert found(api, "author:lovelace", sort="upvotes")[:2] == [FEAT_FISH, FEAT_CARS]
    assert found(api, "author:lovelace", sort="upvotes", featured="true") == [FEAT_FISH, FEAT_CARS]
    newest = found(api, "author:lovelace", sort="newest")  # the two featured share a day
    assert set(newest[:2]) == {FEAT_FISH, FEAT_CARS}
    assert newest[2:] == [Y2022, KEYWORD_ONLY, Y2021, Y2020, Y2019]


def test_keyword_and_dense_modes_find_what_each_can(api) -> None:
    """Fails if ``mode=keyword`` consults the vectors or ``mode=dense`` the words: "automobile"
    is written only in a protein-folding abstract (keyword finds it), while the traffic paper
    about cars and trucks never says it (only meaning finds it); hybrid finds both."""
    assert found(api, "automobile", mode="keyword") == [KEYWORD_ONLY]
    assert found(api, "automobile", mode="dense") == [FEAT_CARS]
    assert set(found(api, "automobile")) == {KEYWORD_ONLY, FEAT_CARS}
    body = api.get("/api/v1/search", params={"q": "automobile", "mode": "dense"}).json()
    assert body["mode"] == "dense" and body["data"][0]["ranks"] == {"keyword": None, "dense": 1}


def test_hard_constraints_let_meaning_only_reorder_the_keyword_matches(api) -> None:
    """Fails if phrases, exclusions or ``author:`` stop being hard constraints in hybrid mode:
    meaning alone finds the traffic paper for "automobile" (see above), but it says "trucks",
    is not the phrase "automobile engine", and its authors include Turing while the only paper
    with the word is Lovelace's alone."""
    assert found(api, "automobile -trucks") == [KEYWORD_ONLY]
    assert found(api, '"automobile engine"') == [KEYWORD_ONLY]
    assert found(api, "automobile author:turing") == []
    assert found(api, "automobile author:lovelace") == [KEYWORD_ONLY]


def test_an_unknown_filter_is_words_on_the_hf_api_and_a_400_on_v1(api) -> None:
    """Fails if either search API reads unknown filters the other's way (README: the Hugging
    Face-compatible API searches them as words, /api/v1/search refuses them)."""
    hf = api.get("/api/papers/search", params={"q": "foo:zebrafish"})
    assert hf.status_code == 200, hf.text
    v1 = api.get("/api/v1/search", params={"q": "foo:zebrafish"})
    assert v1.status_code == 400 and "unknown filter 'foo:'" in v1.json()["error"]


# --- fusion, recomputed from the documented formulas ----------------------------------------


def keyword_scores(service: SearchService, q: str) -> list[tuple[str, float]]:
    hits = service.keyword.search(parse_query(q), limit=100, sort="relevance").hits
    return [(h.paper_id, h.score) for h in hits]


def cosines(service: SearchService, q: str) -> list[tuple[str, float]]:
    """Each paper's cosine with the query, highest first, below the cutoff left out."""
    query = service.embedder.embed([parse_query(q).free_text])[0]
    scored = [(pid, float(service.vectors.vector_of(pid) @ query)) for pid in ALL_IDS]
    return sorted([p for p in scored if p[1] >= MIN_COSINE], key=lambda p: -p[1])


def convex(service: SearchService, q: str, alpha: float) -> dict[str, float]:
    """alpha · bm25 / max_bm25 + (1 − alpha) · cosine."""
    kw = keyword_scores(service, q)
    top = max(score for _, score in kw)
    out = {pid: alpha * score / top for pid, score in kw}
    for pid, cos in cosines(service, q):
        out[pid] = out.get(pid, 0.0) + (1 - alpha) * cos
    return out


def rrf(service: SearchService, q: str, k: float) -> dict[str, float]:
    """1 / (k + keyword rank) + 1 / (k + dense rank)."""
    out: dict[str, float] = {}
    for ranked in (keyword_scores(service, q), cosines(service, q)):
        for rank, (pid, _) in enumerate(ranked, 1):
            out[pid] = out.get(pid, 0.0) + 1 / (k + rank)
    return out


def api_scores(client: TestClient, q: str) -> list[tuple[str, float]]:
    body = client.get("/api/v1/search", params={"q": q, "limit": "50"}).json()
    return [(d["paper"]["id"], d["score"]) for d in body["data"]]


def assert_scores(got: list[tuple[str, float]], expected: dict[str, float]) -> None:
    assert {pid for pid, _ in got} == set(expected)
    for pid, score in got:
        assert score == pytest.approx(expected[pid], abs=2e-6), pid
    assert [s for _, s in got] == sorted((s for _, s in got), reverse=True)


EIGHT = "zebrafish larvae tracking swimming bouts in recorded video"  # 8 words: short
NINE = EIGHT + " clips"  # 9 words: long
SHORT = "zebrafish heart imaging"


@pytest.mark.parametrize(("q", "weight"), [(SHORT, "short"), (EIGHT, "short"), (NINE, "long")])
def test_convex_fusion_scores_follow_the_formula(engine, db_url, tmp_path, monkeypatch, q,
                                                 weight) -> None:
    """Fails if the two weights are swapped (short queries must use SEARCH_ALPHA_SHORT, long
    ones SEARCH_ALPHA), if the 8-word boundary moves (8 words is short, 9 long), if the dense
    part is weighted by alpha instead of 1 − alpha, or if either setting is not read. The
    weights are set to 0.9 (short) and 0.2 (long), far from their defaults."""
    client, service = make_client(engine, db_url, tmp_path, monkeypatch,
                                  search_alpha="0.2", search_alpha_short="0.9")
    alpha = {"short": 0.9, "long": 0.2}[weight]
    other = {"short": 0.2, "long": 0.9}[weight]
    expected = convex(service, q, alpha)
    assert expected != pytest.approx(convex(service, q, other), abs=1e-3)  # the test can fail
    assert expected != pytest.approx(convex(service, q, 1 - alpha), abs=1e-3)
    with client:
        assert_scores(api_scores(client, q), expected)


def test_convex_fusion_defaults(engine, db_url, tmp_path, monkeypatch) -> None:
    """Fails if the documented defaults (0.7 for short queries, 0.4 for long) change."""
    client, service = make_client(engine, db_url, tmp_path, monkeypatch)
    with client:
        assert_scores(api_scores(client, SHORT), convex(service, SHORT, 0.7))
        assert_scores(api_scores(client, NINE), convex(service, NINE, 0.4))


@pytest.mark.parametrize("k", ["1", "60"])
def test_rrf_fusion_follows_the_formula_with_its_k(engine, db_url, tmp_path, monkeypatch,
                                                   k) -> None:
    """Fails if SEARCH_FUSION=rrf is ignored (convex scores), if SEARCH_RRF_K is not read, or if
    a rank enters the formula differently (0-based, or squared)."""
    client, service = make_client(engine, db_url, tmp_path, monkeypatch,
                                  search_fusion="rrf", search_rrf_k=k)
    q = "zebrafish"
    expected = rrf(service, q, float(k))
    assert expected != pytest.approx(rrf(service, q, 61 - float(k)), abs=1e-4)
    with client:
        got = api_scores(client, q)
        assert_scores(got, expected)
        # With k = 1 the ranks weigh enough to change the order (FEAT_FISH, Y2021 lead) ...
        if k == "1":
            assert [pid for pid, _ in got][:2] == [FEAT_FISH, Y2021]
