"""The upsert's bookkeeping (ingest/service.py) with records built so a wrong rule answers
differently: what counts as inserted, updated or unchanged (a new feature day or a changed
linked repo updates an unchanged paper), refusals and trimmed parts, which source a row names,
when ``row_updated_at`` moves, the demo flag, feature days merged in a batch, the bulk insert
path (50 rows and more) storing what the row-by-row path stores, and the run rows with their
refusals cut to their columns. SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import os

import sqlalchemy as sa

from dailypapers import catalog
from dailypapers.db.engine import read_transaction, write_transaction
from dailypapers.db.schema import feature_days, ingest_runs, papers, refusals
from dailypapers.ingest import hf_daily
from dailypapers.ingest.records import (SOURCE_ATOM, SOURCE_HF, SOURCE_OAI, FeatureRecord,
                                        HubUser, LinkedRepo, LinkedRepos, PaperRecord,
                                        ParsedItem, Refusal)
from dailypapers.ingest.runs import this_host
from dailypapers.ingest.service import (Counts, finish_run, record_progress, start_run,
                                        store_items, utcnow)
from tests.helpers import hf_item, store

PID = "2101.02199"
DAY = dt.date(2026, 3, 2)


def _arxiv(pid: str = PID, **fields) -> ParsedItem:
    fields.setdefault("source", SOURCE_OAI)
    return ParsedItem(PaperRecord(arxiv_id=pid, **fields))


def _hf_items(pid: str = PID, *, day: str = "2026-03-02", **kwargs) -> list[ParsedItem]:
    return list(hf_daily.parse_items([hf_item(pid, day=day, **kwargs)],
                                     day=dt.date.fromisoformat(day)))


def _row(engine, pid: str = PID):
    with read_transaction(engine) as conn:
        return catalog.get_paper(conn, pid)


def _feature_rows(engine, pid: str = PID):
    with read_transaction(engine) as conn:
        return catalog.features_of(conn, pid)


def test_run_stamps_are_utc_and_aware() -> None:
    assert utcnow().utcoffset() == dt.timedelta(0)


def test_counts_add_up_field_by_field() -> None:
    one = Counts(inserted=1, updated=2, unchanged=3, refused=4, trimmed=5, features_inserted=6,
                 refusal_list=[Refusal("a")])
    two = Counts(inserted=10, updated=20, unchanged=30, refused=40, trimmed=50,
                 features_inserted=60, refusal_list=[Refusal("b")])
    one.add(two)
    assert (one.inserted, one.updated, one.unchanged, one.refused, one.trimmed,
            one.features_inserted) == (11, 22, 33, 44, 55, 66)
    assert [r.reason for r in one.refusal_list] == ["a", "b"]
    assert one.total == 66  # inserted + updated + unchanged, not the refusals


def test_a_new_feature_day_updates_an_unchanged_paper(engine) -> None:
    first = store(engine, _hf_items(title="Same"))
    assert (first.inserted, first.updated, first.unchanged, first.features_inserted) == \
        (1, 0, 0, 1)
    again = store(engine, _hf_items(title="Same"))
    assert (again.inserted, again.updated, again.unchanged, again.features_inserted) == \
        (0, 0, 1, 0)
    next_day = store(engine, _hf_items(title="Same", day="2026-03-03"))
    assert (next_day.inserted, next_day.updated, next_day.unchanged,
            next_day.features_inserted) == (0, 1, 0, 1)
    votes = store(engine, _hf_items(title="Same", day="2026-03-03", upvotes=40))
    assert (votes.updated, votes.unchanged, votes.features_inserted) == (1, 0, 0)
    assert [f["upvotes"] for f in _feature_rows(engine)] == [40, 3]
    assert _row(engine)["upvotes"] == 40


def test_one_paper_twice_in_a_batch_counts_each_item(engine) -> None:
    store(engine, [_arxiv(version=1, title="First", updated_at="2021-01-06")])
    counts = store(engine, [_arxiv(version=2, title="Second", updated_at="2021-02-01"),
                            _arxiv(version=2, title="Second", updated_at="2021-02-01")])
    assert (counts.inserted, counts.updated, counts.unchanged) == (0, 1, 1)
    fresh = store(engine, [_arxiv("2101.00001", version=1, title="New"),
                           _arxiv("2101.00001", version=2, title="Newer")])
    assert (fresh.inserted, fresh.updated, fresh.unchanged) == (1, 1, 0)
    assert _row(engine, "2101.00001")["title"] == "Newer"


def test_a_record_without_a_paper_is_refused_without_an_id(engine) -> None:
    counts = store(engine, [ParsedItem(None), _arxiv(title="Kept")])  # type: ignore[arg-type]
    assert (counts.inserted, counts.refused) == (1, 1)
    assert counts.refusal_list[0].reason == "expected a paper record, got NoneType"
    assert counts.refusal_list[0].record_id is None


def _linked(*repos: str, models: int | None = None) -> ParsedItem:
    return ParsedItem(PaperRecord(arxiv_id=PID, source=SOURCE_HF, title="T"),
                      linked=LinkedRepos(arxiv_id=PID, num_models=models,
                                         repos=[LinkedRepo("model", r) for r in repos]))


def test_a_changed_linked_repo_updates_an_unchanged_paper(engine) -> None:
    assert store(engine, [_linked("ada/one", models=1)]).inserted == 1
    same = store(engine, [_linked("ada/one", models=1)])
    assert (same.updated, same.unchanged) == (0, 1)
    more = store(engine, [_linked("ada/one", "ada/two", models=2)])
    assert (more.updated, more.unchanged) == (1, 0)


def test_a_refused_record_is_named_by_its_id_cut_to_128_characters(engine) -> None:
    long_id = "9" * 200
    counts = store(engine, [_arxiv(long_id, title="Bad id"), _arxiv(title="Kept")])
    assert (counts.inserted, counts.refused) == (1, 1)
    assert counts.refusal_list[0].record_id == "9" * 128


def test_a_dropped_part_is_a_trimmed_refusal_and_the_record_lands(engine) -> None:
    counts = store(engine, [_arxiv(title="Linked", project_page="javascript:alert(1)")])
    assert (counts.inserted, counts.refused, counts.trimmed) == (1, 1, 1)
    assert counts.refusal_list[0].record_id == PID
    assert _row(engine)["project_page"] is None


def test_the_row_names_the_source_that_last_changed_it(engine) -> None:
    store(engine, _hf_items(title="From HF"))
    assert (_row(engine)["bib_source"], _row(engine)["sources"]) == (SOURCE_HF, "hf")
    store(engine, [_arxiv(title="From HF", version=1, source=SOURCE_ATOM)])
    row = _row(engine)
    # nothing changed but arXiv has now spoken: it is named, so HF no longer fills fields
    assert row["bib_source"] == SOURCE_ATOM and row["version"] == 1
    assert row["sources"] == "arxiv-atom,hf"
    store(engine, [_arxiv(title="From HF", version=1, source=SOURCE_OAI)])
    row = _row(engine)
    assert row["bib_source"] == SOURCE_ATOM  # agreeing arXiv source: no change, no rename
    assert row["sources"] == "arxiv-atom,arxiv-oai,hf"
    store(engine, [_arxiv(title="Revised", version=2, source=SOURCE_OAI)])
    assert (_row(engine)["bib_source"], _row(engine)["title"]) == (SOURCE_OAI, "Revised")
    # the same version, corrected by another arXiv source: it changed something, it is named
    store(engine, [_arxiv(title="Revised", abstract="Fixed.", version=2, source=SOURCE_ATOM)])
    assert (_row(engine)["bib_source"], _row(engine)["abstract"]) == (SOURCE_ATOM, "Fixed.")


def test_a_stored_record_without_update_date_is_dated_by_its_submission(engine) -> None:
    """A versionless record updated 2021-03-01 does not replace a stored versionless one
    submitted 2021-05-01 (and never updated): the stored date is its submission date."""
    store(engine, [_arxiv(title="May", submitted_at="2021-05-01",
                          categories=["cs.CL", "cs.AI"], primary_category="cs.CL")])
    store(engine, [_arxiv(title="March", submitted_at="2021-01-01", updated_at="2021-03-01")])
    row = _row(engine)
    assert row["title"] == "May"
    assert (row["categories"], row["primary_category"]) == (["cs.CL", "cs.AI"], "cs.CL")


def test_row_updated_at_moves_only_when_something_changed(engine) -> None:
    store(engine, [_arxiv(title="One", version=1)])
    first = _row(engine)
    assert first["row_updated_at"] == first["first_seen_at"]
    store(engine, [_arxiv(title="One", version=1)])
    assert _row(engine)["row_updated_at"] == first["row_updated_at"]
    with write_transaction(engine) as conn:  # an earlier stamp, so a move shows
        conn.execute(sa.update(papers).values(row_updated_at=dt.datetime(2020, 1, 1)))
    store(engine, [_arxiv(title="One", version=1)])
    assert _row(engine)["row_updated_at"].year == 2020
    store(engine, [_arxiv(title="Two", version=2)])
    assert _row(engine)["row_updated_at"].year > 2020


def test_a_real_import_of_a_demo_paper_makes_it_real(engine) -> None:
    with write_transaction(engine) as conn:
        store_items(conn, _hf_items(title="Demo"), demo=True)
    assert _row(engine)["is_demo"] is True
    assert _feature_rows(engine)[0]["is_demo"] is True
    counts = store(engine, _hf_items(title="Demo"))
    assert _row(engine)["is_demo"] is False and _feature_rows(engine)[0]["is_demo"] is False
    assert counts.updated == 1
    with write_transaction(engine) as conn:  # demo data never makes a real row a demo again
        store_items(conn, _hf_items(title="Demo"), demo=True)
    assert _row(engine)["is_demo"] is False and _feature_rows(engine)[0]["is_demo"] is False


def _feature(votes: int | None, comments: int | None = None,
             user: str | None = None) -> ParsedItem:
    return ParsedItem(PaperRecord(arxiv_id=PID, source=SOURCE_HF, title="T"),
                      feature=FeatureRecord(arxiv_id=PID, day=DAY, source=SOURCE_HF,
                                            upvotes=votes, num_comments=comments,
                                            submitted_by=HubUser(user) if user else None))


def test_feature_days_in_one_batch_merge_and_a_missing_value_keeps_the_stored_one(engine) -> None:
    counts = store(engine, [_feature(5, 1, "ada"), _feature(None, 2), _feature(7)])
    assert counts.features_inserted == 1
    (row,) = _feature_rows(engine)
    assert (row["upvotes"], row["num_comments"], row["submitter_name"]) == (7, 2, "ada")
    assert row["submitter"] == {"username": "ada"}
    later = store(engine, [_feature(None, 9), _feature(8)])
    (row,) = _feature_rows(engine)
    assert (row["upvotes"], row["num_comments"], row["submitter_name"]) == (8, 9, "ada")
    assert later.features_inserted == 0 and later.updated == 2
    same = store(engine, [_feature(8, 9)])
    assert (same.updated, same.unchanged) == (0, 1)


def test_a_feature_day_keeps_its_publication_time_and_author_participation(engine) -> None:
    store(engine, _hf_items())
    (row,) = _feature_rows(engine)
    assert (row["published_at"], row["is_author_participating"]) == \
        ("2026-03-02T09:00:00.000Z", False)
    items = _hf_items()
    items[0].feature.is_author_participating = True
    items[0].feature.published_at = "2026-03-02T09:30:00.000Z"
    assert store(engine, items).updated == 1
    (row,) = _feature_rows(engine)
    assert (row["published_at"], row["is_author_participating"]) == \
        ("2026-03-02T09:30:00.000Z", True)


def test_a_feature_day_without_counts_starts_at_zero(engine) -> None:
    store(engine, [_feature(None)])
    (row,) = _feature_rows(engine)
    assert (row["upvotes"], row["num_comments"], row["source"], row["submitter"]) == \
        (0, 0, SOURCE_HF, None)


def test_the_bulk_insert_path_stores_what_the_row_by_row_path_stores(engine) -> None:
    """49 rows go row by row, 60 through the bulk path (executemany / COPY): same rows."""
    def items(prefix: str, count: int) -> list[ParsedItem]:
        out = []
        for n in range(count):
            out += list(hf_daily.parse_items(
                [hf_item(f"{prefix}.{n:05d}", title=f"T{n}", upvotes=n,
                         ai_keywords=["k", str(n)])], day=DAY))
        return out

    store(engine, items("2601", 49))
    counts = store(engine, items("2602", 60))
    assert (counts.inserted, counts.features_inserted) == (60, 60)
    skip = ("id", "first_seen_at", "row_updated_at", "discussion_id", "thumbnail")
    with read_transaction(engine) as conn:
        for n in (0, 48):
            slow = catalog.get_paper(conn, f"2601.{n:05d}")
            fast = catalog.get_paper(conn, f"2602.{n:05d}")
            assert {k: v for k, v in slow.items() if k not in skip} == \
                {k: v for k, v in fast.items() if k not in skip}
            assert fast["ai_keywords"] == ["k", str(n)] and fast["upvotes"] == n
        assert conn.execute(sa.select(sa.func.count()).select_from(feature_days)).scalar() == 109
        days = conn.execute(sa.select(feature_days.c.day).where(
            feature_days.c.paper_id == "2602.00059")).scalars().all()
    assert days == [DAY]


def test_a_run_row_adds_batches_and_keeps_refusals_within_their_columns(engine) -> None:
    with write_transaction(engine) as conn:
        run_id = start_run(conn, "import", "a file")
    with write_transaction(engine) as conn:
        record_progress(conn, run_id, Counts(inserted=2, updated=3, unchanged=4, refused=0))
        record_progress(conn, run_id, Counts(
            inserted=1, updated=1, unchanged=1, refused=2, refusal_list=[
                Refusal("r" * 3000, record_id="i" * 200, position="p" * 100,
                        file="f" * 1500),
                Refusal("", record_id="bad\x00id")]))
        finish_run(conn, run_id, status="ok", error="none really")
    with read_transaction(engine) as conn:
        run = conn.execute(sa.select(ingest_runs)).mappings().one()
        stored = conn.execute(sa.select(refusals).order_by(refusals.c.id)).mappings().all()
    assert (run["source"], run["detail"], run["status"], run["error"]) == \
        ("import", "a file", "ok", "none really")
    assert (run["inserted"], run["updated"], run["unchanged"], run["refused"]) == (3, 4, 5, 2)
    assert run["finished_at"] is not None and run["heartbeat_at"] is not None
    assert (run["pid"], run["host"]) == (os.getpid(), this_host())
    long, empty = stored
    assert (len(long["reason"]), len(long["record_id"]), len(long["position"]),
            len(long["file"])) == (2000, 128, 64, 1000)
    assert long["run_id"] == run_id
    assert empty["reason"] == "?" and "\x00" not in empty["record_id"]
    assert empty["position"] is None and empty["file"] is None
