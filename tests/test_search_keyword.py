"""Keyword search (issue 3, first slice): the index built from real data in the database, the query
syntax, filters and sorts, incremental updates by watermark, crash safety and hostile input.

Data: two hf-daily days (2026-03-30/31: 30 papers, some with code) and one OAI page
(listrecords-096: 1,000 cs papers of 2001-2002 with old-style ids), imported with the product's
own importer. Tests that exercise the database run on SQLite and PostgreSQL; those about files on
disk, threads or the query parser alone run once on SQLite and say so.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from dailypapers.db.engine import make_engine, write_transaction
from dailypapers.db.schema import papers
from dailypapers.index import keyword_store as ks
from dailypapers.index.highlight import highlight
from dailypapers.index.keyword import KeywordIndex, SearchFilters
from dailypapers.index.query import MAX_QUERY_CHARS, QueryError, parse_query
from dailypapers.ingest.files import import_paths
from tests.conftest import shared
from tests.helpers import hf_item, write_json

FILES = [("hf-daily", "2026-03-30.json"), ("hf-daily", "2026-03-31.json"),
         ("arxiv", "oai-pmh-cs-2016", "listrecords-096.xml.gz")]


def load(engine: Engine) -> None:
    import_paths(engine, [shared(*parts) for parts in FILES], parse_ahead=False)


@pytest.fixture
def index(engine: Engine, tmp_path: Path) -> KeywordIndex:
    load(engine)
    return KeywordIndex.ensure(engine, ks.keyword_dir(tmp_path))


@pytest.fixture
def sqlite_index(sqlite_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = make_engine(sqlite_url)
    load(engine)
    yield engine, KeywordIndex.ensure(engine, ks.keyword_dir(tmp_path))
    engine.dispose()


@pytest.fixture(scope="module")
def read_only_index(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path):  # type: ignore[no-untyped-def]
    """One SQLite-backed index shared by the tests that only search (bad input, arguments)."""
    folder = tmp_path_factory.mktemp("keyword")
    shutil.copyfile(sqlite_template, folder / "db.sqlite3")
    engine = make_engine(f"sqlite:///{folder / 'db.sqlite3'}")
    load(engine)
    yield KeywordIndex.ensure(engine, ks.keyword_dir(folder))
    engine.dispose()


def ids(index: KeywordIndex, query: str, **kwargs) -> list[str]:  # type: ignore[no-untyped-def]
    return [hit.paper_id for hit in index.search(query, limit=kwargs.pop("limit", 20), **kwargs).hits]


def column(engine: Engine, name: str, paper_ids: list[str]) -> list:  # type: ignore[type-arg]
    with engine.connect() as conn:
        rows = dict(conn.execute(sa.select(papers.c.id, papers.c[name])
                                 .where(papers.c.id.in_(paper_ids))).all())
    return [rows[p] for p in paper_ids]


# --- finding the paper you mean (both databases) ---------------------------------------------


def test_queries_find_the_expected_papers(index: KeywordIndex) -> None:
    assert index.num_docs == 1030
    # arXiv ids in every spelling, new and old style: that paper first (and only).
    for query in ("2603.28589", "arXiv:2603.28589v2", "https://arxiv.org/abs/2603.28589",
                  "https://arxiv.org/pdf/2603.28589v1.pdf"):
        assert ids(index, query) == ["2603.28589"], query
    assert ids(index, "cs/0112017") == ["cs/0112017"]
    assert ids(index, "arXiv:cs/0112017v1 metadata")[0] == "cs/0112017"
    # An exact title first, even a generic one, in any case and punctuation.
    assert ids(index, "Towards a Medical AI Scientist")[0] == "2603.28589"
    assert ids(index, "towards a medical ai scientist")[0] == "2603.28589"
    assert ids(index, "Gen-Searcher: Reinforcing Agentic Search for Image Generation")[0] == "2603.28767"
    assert ids(index, "Reinforcing Agentic Search")[0] == "2603.28767"  # a partial title
    assert ids(index, "Monads for natural language semantics")[0] == "cs/0205026"
    # Authors: a surname as a bare word, as a filter, and a full name.
    assert ids(index, "dushay") == ["cs/0112017"]
    assert ids(index, 'author:"Naomi Dushay"') == ["cs/0112017"]
    assert sorted(ids(index, "author:schmidhuber")) == ["cs/0105025", "cs/0111060", "cs/0207097"]
    assert ids(index, "author:Schmidhuber reinforcement planning")[0] == "cs/0111060"
    # Phrases, and leaving out a word.
    phrase = ids(index, '"natural language"', limit=100)
    assert len(phrase) == 28 and "cs/0205026" in phrase
    excluded = ids(index, '"natural language" -semantics', limit=100)
    assert len(excluded) == 14 and "cs/0205026" not in excluded
    assert "2603.25746" not in ids(index, "video generation -streaming")  # "ShotStream: Streaming..."
    assert ids(index, "video generation")[0] == "2603.25746"
    assert "2603.25746" not in ids(index, "video generation -2603.25746", limit=200)  # by id
    # Filters in the query.
    assert ids(index, "has:code diffusion") == ["2603.22782", "2603.27862", "2603.25730"]
    assert index.search("cat:cs.CL year:2001").total == 69
    assert set(ids(index, "year:2026 agent")) <= set(ids(index, "agent", limit=100))
    assert all(p.startswith("26") for p in ids(index, "year:2026 agent"))
    assert all(p.startswith("cs/01") for p in ids(index, "year:2001 logic", limit=100))
    assert index.search("cat:cs").total == 1000  # an archive: every cs.* paper of the OAI page
    assert index.search("-cat:cs").total == 30  # the HF papers have no categories


def test_identical_ranking_on_both_databases(index: KeywordIndex) -> None:
    # The same list from SQLite and PostgreSQL: the index holds the same documents in the same order.
    assert ids(index, "logic programs", limit=6) == [
        "cs/0111058", "cs/0107013", "cs/0206017", "cs/0207042", "cs/0207071", "cs/0111010"]
    assert ids(index, "medical scientist", limit=3) == ["2603.28589", "2603.24649", "cs/0201016"]


def test_a_surname_and_a_title_word_find_that_authors_paper(sqlite_url: str, tmp_path: Path) -> None:
    # SQLite only: this is about ranking. "Vaswani attention" is how a reader recalls a paper: a
    # name and a title word. The paper has 40 authors (plain BM25 would make one name among them
    # worth little), and its rivals match better elsewhere: the same author with the word only in
    # an abstract, other authors with the word all over their titles, a title word that stems
    # like the surname ("Shallow Waters" for "Waters").
    def item(pid: str, title: str, abstract: str, names: list[str]) -> dict:  # type: ignore[type-arg]
        authors = [{"_id": f"a{i}", "name": n, "hidden": False} for i, n in enumerate(names)]
        it = hf_item(pid, title=title, authors=authors)
        it["paper"]["summary"] = it["summary"] = abstract
        return it

    crowd = [f"Coauthor Number{i}" for i in range(38)]
    items = [
        item("2605.00001", "Sparse Attention for Long Documents", "We read long documents fast.",
             ["Noam Shazeer", "Ashish Vaswani", *crowd]),
        item("2605.00002", "Scaling Translation Models",
             "Attention heads, attention layers and attention maps in translation.",
             ["Ashish Vaswani", "Niki Parmar"]),
        item("2605.00003", "Attention, Attention: What Attention Heads Attend To",
             "Attention heads studied one by one.", ["Jane Doe", "John Roe"]),
        item("2605.00004", "Greedy Decoding for Pixel Diffusion Models",
             "Pixel diffusion models decode greedily.", ["Austin Waters", *crowd]),
        item("2605.00005", "Models of Shallow Waters", "Shallow water models for rivers.",
             ["Ann River", "Bo Lake"]),
    ] + [item(f"2605.{100 + i:05d}", f"Filler Paper {i} on Graphs", "Graphs and more graphs.",
              [f"Filler Author{i}", "Some One"]) for i in range(30)]
    engine = make_engine(sqlite_url)
    try:
        import_paths(engine, [write_json(tmp_path / "2026-05-01.json", items)])
        index = KeywordIndex.ensure(engine, ks.keyword_dir(tmp_path))
        for query in ("Vaswani attention", "attention Vaswani", "vaswani Attention"):
            assert ids(index, query)[0] == "2605.00001", query
        assert ids(index, "Waters models")[0] == "2605.00004"
        assert ids(index, "Vaswani translation")[0] == "2605.00002"
        assert ids(index, "attention heads")[0] == "2605.00003"  # no name in it: unchanged
    finally:
        engine.dispose()


def test_filters_and_sorts(index: KeywordIndex, engine: Engine) -> None:
    code = ids(index, "video", filters=SearchFilters(has_code=True), limit=100)
    assert code and all(column(engine, "github_repo", code))
    no_code = ids(index, "video", filters=SearchFilters(has_code=False), limit=100)
    assert no_code and not any(column(engine, "github_repo", no_code))
    assert set(ids(index, "video", limit=200)) == set(code) | set(no_code)

    featured = index.search("learning", filters=SearchFilters(featured_only=True), limit=100)
    assert featured.total and all(p.startswith("26") for p, _ in featured.hits)

    window = SearchFilters(date_from=dt.date(2002, 1, 1), date_to=dt.date(2002, 3, 31))
    found = ids(index, "logic", filters=window, limit=100)
    assert found and all("2002-01-01" <= d[:10] <= "2002-03-31"
                         for d in column(engine, "submitted_at", found))
    cl = ids(index, "parsing", filters=SearchFilters(category="cs.CL"), limit=100)
    assert cl and all("cs.CL" in cats for cats in column(engine, "categories", cl))

    newest = index.search("logic", sort="newest", limit=50)
    dates = column(engine, "submitted_at", [h.paper_id for h in newest.hits])
    assert dates == sorted(dates, reverse=True) and newest.hits[0].score is None
    # Sorting by anything but relevance requires every word.
    both = index.search("logic programs", sort="newest", limit=500)
    assert 0 < both.total < index.search("logic programs").total
    top = index.search("video", sort="upvotes", limit=10)
    votes = column(engine, "upvotes", [h.paper_id for h in top.hits])
    assert votes == sorted(votes, reverse=True) and votes[0] == 124
    # The dense half of hybrid search asks which of its candidates pass the filters.
    candidates = ["cs/0111058", "cs/0205026", "2603.25730", "2603.28589", "nope/0000000"]
    assert index.matching_ids("cat:cs.CL", None, candidates) == {"cs/0205026"}
    assert index.matching_ids("anything -cat:cs", SearchFilters(has_code=True), candidates) == {
        "2603.25730"}
    assert index.matching_ids("-semantics year:2001-2002", None, candidates) == {"cs/0111058"}
    assert index.matching_ids('author:"()"', None, candidates) == set()
    # A query of filters only lists newest first; paging does not repeat or skip.
    listing = index.search("cat:cs.DL", limit=5)
    assert listing.sort == "newest" and listing.total == 23
    pages = [h.paper_id for off in range(0, 25, 5)
             for h in index.search("cat:cs.DL", limit=5, offset=off).hits]
    assert len(pages) == len(set(pages)) == 23


# --- derived data: incremental updates and crashes -------------------------------------------


def test_update_picks_up_new_and_changed_papers_by_watermark(
        index: KeywordIndex, engine: Engine, tmp_path: Path) -> None:
    generation = index.generation
    before = index.watermark
    assert ids(index, "quokka") == []
    import_paths(engine, [write_json(tmp_path / "2026-04-01.json", [
        hf_item("2604.00001", title="Quokka: retrieval for marsupials", day="2026-04-01",
                githubRepo="https://github.com/example/quokka"),
        hf_item("2603.28589", title="Towards a Medical AI Scientist and Quokka Curator",
                day="2026-04-01"),
    ])])
    report = index.update(engine)
    assert report.indexed == 2 and index.generation == generation  # no rebuild
    assert index.watermark is not None and before is not None and index.watermark >= before
    assert ids(index, "quokka") == ["2604.00001", "2603.28589"]
    assert ids(index, "2604.00001 has:code") == ["2604.00001"]
    assert ids(index, "Towards a Medical AI Scientist and Quokka Curator")[0] == "2603.28589"
    assert ids(index, "medical scientist").count("2603.28589") == 1  # replaced, not duplicated
    assert ids(index, "author:lovelace") == ["2603.28589", "2604.00001"] or \
        sorted(ids(index, "author:lovelace")) == ["2603.28589", "2604.00001"]
    assert index.num_docs == 1031
    again = index.update(engine)  # nothing new: rows in the overlap window are skipped, not redone
    assert again.indexed == 0 and index.num_docs == 1031
    # Another process sees the change too (a fresh open reads the same generation).
    assert ids(KeywordIndex.open(index.path), "quokka marsupials")[0] == "2604.00001"


def test_update_drops_papers_deleted_from_the_database(index: KeywordIndex, engine: Engine) -> None:
    hits = ids(index, "language models", limit=5)
    assert len(hits) == 5
    docs = index.num_docs
    with write_transaction(engine) as conn:
        conn.execute(papers.delete().where(papers.c.id.in_(hits[:2])))
    report = index.update(engine)
    assert report.removed == 2 and index.num_docs == docs - 2
    assert set(ids(index, "language models", limit=50)).isdisjoint(hits[:2])
    assert hits[2] in ids(index, "language models", limit=50)
    assert index.update(engine).removed == 0


def test_searches_keep_working_while_the_index_updates(sqlite_index) -> None:  # type: ignore[no-untyped-def]
    # SQLite only: this is about tantivy readers and threads, not the database.
    engine, index = sqlite_index
    with write_transaction(engine) as conn:  # every paper changed: the update rewrites all of them
        conn.execute(papers.update().values(row_updated_at=dt.datetime.now(dt.timezone.utc)
                                            + dt.timedelta(seconds=1)))
    errors: list[BaseException] = []
    answers: list[int] = []
    done = threading.Event()

    def search_loop() -> None:
        while not done.is_set():
            try:
                answers.append(len(index.search("logic programs", limit=5).hits))
            except BaseException as exc:  # noqa: BLE001 - any failure is the finding
                errors.append(exc)

    thread = threading.Thread(target=search_loop)
    thread.start()
    try:
        report = index.update(engine)
    finally:
        done.set()
        thread.join(10)
    assert not errors and answers and min(answers) == 5
    assert report.indexed == 1030 and index.num_docs == 1030


def test_a_failed_build_leaves_the_old_index_serving(sqlite_index, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # SQLite only: this is about files on disk.
    engine, index = sqlite_index
    path = index.path
    served = ks.current_generation(path)

    def crash(count: int) -> None:
        if count >= 500:
            raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError, match="simulated crash"):
        ks.build(engine, path, chunk=250, _after_chunk=crash)
    assert ks.current_generation(path) == served
    assert not [p for p in path.iterdir() if p.name.endswith(".tmp")]
    assert ids(index, "dushay") == ["cs/0112017"]
    assert ids(KeywordIndex.open(path), "dushay") == ["cs/0112017"]


def test_a_killed_rebuild_leaves_a_serving_index_that_repairs_itself(
        sqlite_index, sqlite_url: str) -> None:  # type: ignore[no-untyped-def]
    # SQLite only: a real SIGKILL in the middle of a build in another process.
    engine, index = sqlite_index
    path = index.path
    served = ks.current_generation(path)
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from dailypapers.db.engine import make_engine\n"
        "from dailypapers.index import keyword_store as ks\n"
        "ks.build(make_engine(sys.argv[1]), Path(sys.argv[2]), chunk=50,\n"
        "         _after_chunk=lambda n: time.sleep(0.2))\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script, sqlite_url, str(path)],
                             cwd=Path(__file__).resolve().parents[1])
    try:
        deadline = time.monotonic() + 20
        while not [p for p in path.iterdir() if p.name.endswith(".tmp")]:
            assert time.monotonic() < deadline and child.poll() is None, "the build never started"
            time.sleep(0.05)
        time.sleep(0.3)  # some documents written
        # While it builds, a starting process must not remove its folder.
        assert ks.repair(path) == []
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(10)
    leftovers = [p for p in path.iterdir() if p.name.endswith(".tmp")]
    assert leftovers and ks.current_generation(path) == served
    assert ids(index, "dushay") == ["cs/0112017"]  # the serving process never noticed
    reopened = KeywordIndex.open(path)  # the next start: leftovers removed, old index served
    assert not [p for p in path.iterdir() if p.name.endswith(".tmp")]
    assert ids(reopened, "dushay") == ["cs/0112017"]
    # A damaged pointer means no index: ensure() builds a fresh one.
    (path / "CURRENT").write_text("gen-missing\n")
    with pytest.raises(ks.IndexMissing):
        KeywordIndex.open(path)
    rebuilt = KeywordIndex.ensure(engine, path)
    assert rebuilt.generation != served and ids(rebuilt, "dushay") == ["cs/0112017"]
    assert sorted(p.name for p in path.iterdir() if p.is_dir()) == [rebuilt.generation.name]
    state = json.loads((rebuilt.generation / ks.STATE).read_text())
    assert state["documents"] == 1030 and state["schema_version"] == 1
    # Damaged files: a state that does not parse, tantivy's own metadata gone.
    (rebuilt.generation / ks.STATE).write_bytes(b"\xff{not json")
    assert ks.current_generation(path) is None
    again = KeywordIndex.ensure(engine, path)
    (again.generation / "meta.json").unlink()  # type: ignore[operator]
    repaired = KeywordIndex.ensure(engine, path)
    assert repaired.generation != again.generation and ids(repaired, "dushay") == ["cs/0112017"]


def test_the_index_lives_in_a_versioned_folder_and_a_schema_change_rebuilds(
        sqlite_url: str, tmp_path: Path) -> None:
    # SQLite only: this is about folders.
    path = ks.keyword_dir(tmp_path)
    assert path == tmp_path / "index" / "keyword" / "v1"
    old = path.parent / "v0"
    (old / "gen-old").mkdir(parents=True)
    (old / "CURRENT").write_text("gen-old\n")
    engine = make_engine(sqlite_url)
    try:
        index = KeywordIndex.ensure(engine, path)  # an empty database is fine too
        assert index.num_docs == 0 and index.search("anything").total == 0
        assert not old.exists() and index.generation is not None
        assert index.generation.parent == path
        load(engine)
        assert index.update(engine).indexed == 1030 and ids(index, "dushay") == ["cs/0112017"]
    finally:
        engine.dispose()


# --- bad input (SQLite only: the parser and the index do not involve the database) -----------

BAD = [
    "", "   ", "\t\n", "x" * 10_000, "a " * 5_000, "\x00\x01\x02\x7f", "caf\udce9 \ud800",
    "\u202e\u200b\ufeff", '"unbalanced quote', 'two "unbalanced "quotes', '"', '""', '-', '--', '-""',
    "the of and", '"the of"', "a an the -the", "'; DROP TABLE papers; --", "1 OR 1=1",
    "(a OR b) AND NOT c* ", "foo~2 bar^3 [1 TO 5] {x} +y -z /regex/ \\ ! ?", "*", "?", ":", "a: b",
    "http://example.com/?q=1&x=<script>", "<script>alert(1)</script>", "\u0000author:x",
    'author:"()"', "cat:cs", "year:1999-2001", "year:>2030", "has:code",
    "-has:code", "-author:x", "2401.99999", "cs/9999999", "arXiv:", "👩‍🔬 ∑ 中文 العربية",
    "ⓐⓑⓒ ＡＢＣ", "x" * 41, "e" * 600,
]
REFUSED = ["foo:bar", "auther:smith", "year:abc", "year:2030-2020", "has:pdf", "cat:cs.CL!",
           "author:", "cat:", "-year:", "sort:new", "title:(a OR b)", "a:b:c",
           'author:""']


@pytest.mark.parametrize("query", BAD)
def test_bad_input_gets_an_answer(read_only_index: KeywordIndex, query: str) -> None:
    index = read_only_index
    for sort in ("relevance", "newest", "upvotes"):
        result = index.search(query, sort=sort, limit=5)
        assert result.total >= len(result.hits)
    assert index.search(query.encode("utf-8", "surrogatepass"), limit=5) is not None  # type: ignore[arg-type]
    marked = highlight(query, title="A <b>title</b>", abstract="An abstract & more.")
    assert "<b>" not in marked.title


@pytest.mark.parametrize("query", REFUSED)
def test_unknown_or_malformed_filters_are_a_query_error(read_only_index: KeywordIndex, query: str) -> None:
    index = read_only_index
    with pytest.raises(QueryError) as caught:
        index.search(query)
    assert str(caught.value)
    # Pages may prefer words over an error; malformed known filters are refused either way.
    if query in ("foo:bar", "auther:smith", "sort:new"):
        result = index.search(query, strict=False)
        assert any("unknown filter" in w for w in result.warnings)


def test_bad_arguments_and_warnings(read_only_index: KeywordIndex) -> None:
    index = read_only_index
    with pytest.raises(QueryError):
        index.search("logic", sort="random")
    with pytest.raises(QueryError):
        index.search("logic", limit=-1)
    with pytest.raises(QueryError):
        index.search("logic", filters=SearchFilters(date_from="yesterday"))
    assert index.search("logic", filters=SearchFilters(date_from="2002-01-01")).total > 0
    assert index.search("logic", filters=SearchFilters(category="x" * 10_000)).total == 0
    assert index.search("logic", offset=50_000).hits == []
    empty_page = index.search("logic", limit=0)
    assert empty_page.hits == [] and empty_page.total > 0
    assert len(index.search("logic", limit=10**9).hits) <= 1000
    long = index.search("logic " * 2000)
    assert long.query.truncated and any("512" in w for w in long.warnings)
    assert long.hits[0].paper_id == ids(index, "logic")[0]
    assert any("common words" in w for w in index.search("the of and").warnings)
    assert any("common words" in w for w in index.search("x" * 41).warnings)
    assert "unbalanced quote ignored" in index.search('"logic programs').warnings
    assert ids(index, '"logic programs')[:3] == ids(index, "logic programs")[:3]


def test_query_syntax() -> None:
    q = parse_query('"exact phrase" -exclude -"bad phrase" author:lecun author: "Yann LeCun" '
                    "cat:cs.CL -cat:cs.CV year:2020-2023 has:code BERT: Mamba:Linear https://x.org/a")
    assert q.phrases == ["exact phrase"] and q.exclude_words == ["exclude"]
    assert q.exclude_phrases == ["bad phrase"]
    assert [(f.key, f.value, f.negated) for f in q.filters] == [
        ("author", "lecun", False), ("author", "Yann LeCun", False), ("cat", "cs.cl", False),
        ("cat", "cs.cv", True), ("year", (2020, 2023), False), ("has", "code", False)]
    assert q.words == ["BERT:", "Mamba:Linear", "https://x.org/a"]  # pasted text, not filters
    assert parse_query("arXiv:2401.12345v2 cs/0112017 2401.12345").arxiv_ids == [
        "2401.12345", "cs/0112017"]
    assert parse_query('"re:invent"').phrases == ["re:invent"]
    assert parse_query("year:>=2020").filters[0].value == (2020, 9999)
    assert len(parse_query("x" * 10_000).text) == MAX_QUERY_CHARS
    assert parse_query("\u201csmart quotes\u201d").phrases == ["smart quotes"]


def test_highlight_marks_matches_and_escapes() -> None:
    marked = highlight('learn author:müller "rank"', title="Learning to <Rank>",
                       abstract="Filler words here. " * 40 + "We rank & learn. " + "More. " * 40,
                       authors=["Hans Muller", "Ada Lovelace"], snippet_chars=120)
    assert marked.title == "<mark>Learning</mark> to &lt;<mark>Rank</mark>&gt;"
    assert "<mark>rank</mark> &amp; <mark>learn</mark>" in marked.abstract
    assert marked.abstract.startswith("\u2026") and marked.abstract.endswith("\u2026")
    assert marked.authors == ["Hans <mark>Muller</mark>", "Ada Lovelace"] and marked.matched
    plain = highlight("zzz", title="T", abstract="short")
    assert plain.abstract == "short" and not plain.matched
