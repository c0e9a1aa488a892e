"""The one upsert, on SQLite and PostgreSQL: idempotence, precedence, versions, demo rows."""

import datetime as dt

import pytest
import sqlalchemy as sa

from dailypapers import catalog
from dailypapers.db.engine import read_transaction, write_transaction
from dailypapers.db.schema import feature_days, ingest_runs, papers, refusals
from dailypapers.demo import load_demo, remove_demo
from dailypapers.ingest import hf_daily
from dailypapers.ingest.files import import_paths
from dailypapers.ingest.records import SOURCE_ATOM, SOURCE_OAI, Author, PaperRecord, ParsedItem
from tests.conftest import shared
from tests.helpers import hf_item, store, write_json


def _paper(engine, pid):
    with read_transaction(engine) as conn:
        return catalog.get_paper(conn, pid)


def _arxiv(pid, **fields) -> ParsedItem:
    fields.setdefault("source", SOURCE_OAI)
    return ParsedItem(PaperRecord(arxiv_id=pid, **fields))


def test_import_is_idempotent_and_recorded(engine):
    files = [shared("hf-daily", name) for name in ("2026-03-30.json", "2026-03-31.json", "2024-12-12.json")]
    run_id, first = import_paths(engine, files)
    assert first.refused == 0 and first.updated == 0 and first.unchanged == 0
    assert first.inserted == first.features_inserted > 0
    _, second = import_paths(engine, files)
    assert (second.inserted, second.updated, second.refused) == (0, 0, 0)
    assert second.unchanged == first.inserted
    with read_transaction(engine) as conn:
        assert catalog.counts(conn) == {"papers": first.inserted, "feature_days": first.inserted}
        run = conn.execute(sa.select(ingest_runs).where(ingest_runs.c.id == run_id)).mappings().one()
    assert run["status"] == "ok" and run["inserted"] == first.inserted and run["finished_at"]


def test_refusals_are_recorded_with_file_and_position(engine, tmp_path):
    path = write_json(tmp_path / "2026-03-02.json", [hf_item("2603.00001"), hf_item("bogus")])
    run_id, counts = import_paths(engine, [path])
    assert (counts.inserted, counts.refused) == (1, 1)
    with read_transaction(engine) as conn:
        row = conn.execute(sa.select(refusals)).mappings().one()
    assert row["run_id"] == run_id and row["file"] == str(path)
    assert row["position"] == "item 1" and row["record_id"] == "bogus"


def test_arxiv_wins_bibliography_and_hf_wins_upvotes(engine):
    hf = list(hf_daily.parse_items([hf_item("2603.00010", title="HF title", upvotes=7)],
                                   day=dt.date(2026, 3, 2)))
    store(engine, hf)
    counts = store(engine, [_arxiv("2603.00010", title="arXiv title", abstract="arXiv abstract",
                                   authors=[Author("A. Lovelace")], categories=["cs.LG"],
                                   primary_category="cs.LG", submitted_at="2026-03-01")])
    assert counts.updated == 1
    row = _paper(engine, "2603.00010")
    assert row["title"] == "arXiv title" and row["authors"] == [{"name": "A. Lovelace"}]
    assert row["upvotes"] == 7 and row["bib_source"] == SOURCE_OAI
    assert row["sources"] == "arxiv-oai,hf"
    # Hugging Face again, with more upvotes: upvotes move, the arXiv bibliography stays.
    store(engine, list(hf_daily.parse_items([hf_item("2603.00010", title="HF title", upvotes=9)],
                                            day=dt.date(2026, 3, 2))))
    row = _paper(engine, "2603.00010")
    assert row["title"] == "arXiv title" and row["upvotes"] == 9
    with read_transaction(engine) as conn:
        assert conn.execute(sa.select(feature_days.c.upvotes)).scalar_one() == 9


def test_newer_version_replaces_older_and_not_the_reverse(engine):
    store(engine, [_arxiv("2101.02199", version=2, title="Second", source=SOURCE_ATOM)])
    store(engine, [_arxiv("2101.02199", version=5, title="Fifth", source=SOURCE_ATOM)])
    assert _paper(engine, "2101.02199")["title"] == "Fifth"
    counts = store(engine, [_arxiv("2101.02199", version=3, title="Third", source=SOURCE_ATOM)])
    assert counts.unchanged == 1
    row = _paper(engine, "2101.02199")
    assert (row["title"], row["version"]) == ("Fifth", 5)


def test_same_paper_twice_in_one_batch_is_one_row(engine):
    counts = store(engine, [_arxiv("2401.00001", title="One"), _arxiv("2401.00001", title="One")])
    assert counts.inserted == 1 and counts.unchanged == 1
    with read_transaction(engine) as conn:
        assert catalog.counts(conn)["papers"] == 1


def test_links_from_text_fill_gaps_only(engine):
    store(engine, [_arxiv("2401.00002", title="T", github_repo="https://github.com/a/found")])
    assert _paper(engine, "2401.00002")["github_repo"] == "https://github.com/a/found"
    hf = hf_item("2401.00002", githubRepo="https://github.com/a/official")
    store(engine, list(hf_daily.parse_items([hf], day=dt.date(2026, 3, 2))))
    store(engine, [_arxiv("2401.00002", title="T", github_repo="https://github.com/a/found")])
    assert _paper(engine, "2401.00002")["github_repo"] == "https://github.com/a/official"


def test_demo_remove_deletes_demo_rows_only(engine, tmp_path):
    counts = load_demo(engine)
    assert counts.inserted > 800 and counts.refused == 0
    real = write_json(tmp_path / "2026-03-02.json", [hf_item("2699.00001", title="Real paper")])
    import_paths(engine, [real])
    with read_transaction(engine) as conn:
        demo_id = conn.execute(
            sa.select(papers.c.id).where(papers.c.is_demo.is_(True)).limit(1)
        ).scalar_one()
    # A real import of a demo paper makes it real: it must survive removal.
    survivor = list(hf_daily.parse_items([hf_item(demo_id, title="Touched for real")],
                                         day=dt.date(2026, 3, 3)))
    store(engine, survivor)
    with write_transaction(engine) as conn:
        removed_papers, _ = remove_demo(conn)
    assert removed_papers == counts.inserted - 1
    with read_transaction(engine) as conn:
        left = set(conn.execute(sa.select(papers.c.id)).scalars())
    assert left == {"2699.00001", demo_id}


def test_failed_import_is_marked_and_a_rerun_finishes(engine, tmp_path):
    files = [shared("hf-daily", "2026-03-30.json"), shared("hf-daily", "2026-03-31.json")]
    calls = []

    def crash_after_first_batch(n, path):
        calls.append(n)
        raise KeyboardInterrupt("killed")

    with pytest.raises(KeyboardInterrupt):
        import_paths(engine, files, batch_size=5, progress=crash_after_first_batch)
    with read_transaction(engine) as conn:
        assert catalog.counts(conn)["papers"] == 5  # whole batches only
        assert conn.execute(sa.select(ingest_runs.c.status)).scalar_one() == "failed"
    _, counts = import_paths(engine, files)
    assert counts.unchanged == 5 and counts.inserted > 0 and counts.refused == 0
