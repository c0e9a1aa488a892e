"""One bad record sinks nothing: hostile records beside good ones, through ``store_items``, the
importer and the live sync, on SQLite and PostgreSQL.

Before the record check, a lone surrogate failed the insert on both databases, a NUL byte on
PostgreSQL, a 41-character timestamp or a count beyond 32 bits too (column limits), and JSON
nested 100,000 deep raised RecursionError: each lost its whole batch.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import sqlalchemy as sa

from dailypapers.db.engine import read_transaction
from dailypapers.db.schema import feature_days, ingest_runs, papers, refusals
from dailypapers.ingest.files import import_paths
from dailypapers.ingest.records import (
    SOURCE_HF,
    Author,
    FeatureRecord,
    HubUser,
    Organization,
    PaperRecord,
    ParsedItem,
)
from dailypapers.ingest.validate import RecordLimits
from dailypapers.settings import Settings
from dailypapers.sync import checkpoints, run_sync
from dailypapers.sync.hf import LAST_DAY_KEY
from tests.fake_upstream import HF_PATH, FakeUpstream, Fault
from tests.helpers import hf_item, kaggle_line, paper_ids, store, write_json

SCRIPT = "<script>alert(1)</script>"
DEEP = 100_000


class Explosive(str):
    """Text that fails when measured: a stand-in for any surprise inside one record's check."""

    def __len__(self) -> int:
        raise RuntimeError("boom")


def record(arxiv_id: str, **fields: object) -> ParsedItem:
    base: dict[str, object] = dict(
        arxiv_id=arxiv_id, source=SOURCE_HF, title=f"Title {arxiv_id}", abstract="Abstract.",
        authors=[Author(name="Ada Lovelace")], upvotes=1,
    )
    base.update(fields)
    feature = FeatureRecord(arxiv_id=arxiv_id, day=dt.date(2026, 3, 2), source=SOURCE_HF,
                            upvotes=1, submitted_by=HubUser(username="grace"))
    return ParsedItem(paper=PaperRecord(**base), feature=feature)  # type: ignore[arg-type]


def stored(engine: sa.Engine, arxiv_id: str) -> dict:
    with read_transaction(engine) as conn:
        return dict(conn.execute(sa.select(papers).where(papers.c.id == arxiv_id)).mappings().one())


def run_refusals(engine: sa.Engine, run_id: int) -> list[dict]:
    with read_transaction(engine) as conn:
        return [dict(r) for r in conn.execute(
            sa.select(refusals).where(refusals.c.run_id == run_id).order_by(refusals.c.id)
        ).mappings()]


def test_good_records_land_beside_each_bad_one(engine: sa.Engine) -> None:
    items = [
        record("2401.00001"),
        record("2401.00002", title="Lone \ud800 surrogate", abstract="NUL\x00 inside"),
        record("2401.00003", title="Bidi \u202eevil\u202c title",
               authors=[Author(name="Name\u2066 \u200fX")]),
        record("2401.00004", title="x" * 2**20),  # 1 MB
        record("2401.00005", title=SCRIPT, abstract=SCRIPT, comments=SCRIPT, journal_ref=SCRIPT,
               ai_summary=SCRIPT, ai_keywords=[SCRIPT],
               authors=[Author(name=SCRIPT, affiliation=SCRIPT)],
               organization=Organization(name=SCRIPT, fullname=SCRIPT),
               github_repo="  JaVaScRiPt:alert(1)", project_page="data:text/html,x",
               thumbnail="java\tscript:alert(1)",
               media_urls=["vbscript:x", "https://ok.example/m"]),
        record("2401.00006", upvotes=10**20, hf_published_at="2026" * 11, github_stars=2**40),
        record("2401.00007", abstract=Explosive("abstract")),
        record("2401.00008", github_repo="https://ok.example/x"),
    ]

    counts = store(engine, items, limits=RecordLimits())

    assert paper_ids(engine) == {f"2401.0000{n}" for n in (1, 2, 3, 5, 6, 8)}
    assert counts.inserted == 6
    refused = {r.record_id: r.reason for r in counts.refusal_list if r.position is None}
    assert set(refused) == {"2401.00004", "2401.00007"}
    assert refused["2401.00004"].startswith("title is 1,048,576 characters long")
    assert refused["2401.00007"] == "could not be checked: RuntimeError: boom"
    notes = {(r.record_id, r.position) for r in counts.refusal_list if r.position}
    assert notes == {
        ("2401.00005", "github_repo"), ("2401.00005", "project_page"),
        ("2401.00005", "thumbnail"), ("2401.00005", "media_urls"),
        ("2401.00006", "upvotes"), ("2401.00006", "hf_published_at"),
        ("2401.00006", "github_stars"),
    }
    assert counts.refused == len(counts.refusal_list) == 2 + len(notes)
    assert counts.trimmed == len(notes)

    assert stored(engine, "2401.00002")["title"] == "Lone \ufffd surrogate"
    assert stored(engine, "2401.00002")["abstract"] == "NUL inside"
    bidi = stored(engine, "2401.00003")
    assert (bidi["title"], bidi["authors"][0]["name"]) == ("Bidi evil title", "Name X")
    script = stored(engine, "2401.00005")
    assert script["title"] == SCRIPT  # kept as text: the templates escape it
    assert (script["github_repo"], script["project_page"], script["thumbnail"]) == (None,) * 3
    assert script["media_urls"] == ["https://ok.example/m"]
    big = stored(engine, "2401.00006")
    assert (big["upvotes"], big["hf_published_at"], big["github_stars"]) == (0, None, None)
    assert stored(engine, "2401.00008")["github_repo"] == "https://ok.example/x"
    with read_transaction(engine) as conn:
        featured = set(conn.execute(sa.select(feature_days.c.paper_id)).scalars())
    assert featured == paper_ids(engine)


def test_limits_come_from_the_caller(engine: sa.Engine) -> None:
    items = [record("2401.00001", title="t" * 30), record("2401.00002", title="t" * 31)]
    counts = store(engine, items, limits=RecordLimits(title_chars=30))
    assert paper_ids(engine) == {"2401.00001"}
    assert [r.record_id for r in counts.refusal_list] == ["2401.00002"]
    counts = store(engine, [record("2401.00002", title="t" * 31)])  # the default: 1000
    assert counts.inserted == 1 and not counts.refusal_list


def test_storing_the_same_hostile_record_again_changes_nothing(engine: sa.Engine) -> None:
    hostile = record("2401.00001", title="T\x00\u202e", github_repo="javascript:alert(1)")
    store(engine, [hostile])
    before = stored(engine, "2401.00001")
    again = store(engine, [hostile])
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 1)
    assert [r.position for r in again.refusal_list] == ["github_repo"]  # noted on every run
    assert stored(engine, "2401.00001") == before


def deep_hf_file(path: Path) -> Path:
    path.write_text('[{"paper": {"id": "2401.00090", "title": "x", "deep": '
                    + "[" * DEEP + "]" * DEEP + "}}]")
    return path


def test_import_goes_on_past_deep_json_and_hostile_items(engine: sa.Engine, tmp_path: Path) -> None:
    deep = deep_hf_file(tmp_path / "2026-03-01.json")
    items = [
        hf_item("2603.00001"),
        hf_item("2603.00002", title="\ud800 lone surrogate"),
        hf_item("2603.00003", upvotes=float("inf")),  # json.dumps writes Infinity; int() overflows
        hf_item("2603.00004", title="t" * 2**20),
        hf_item("2603.00005", githubRepo="  JaVaScRiPt:alert(1)",
                projectPage="https://ok.example/x"),
        hf_item("2603.00006", title="NUL\x00 title"),
    ]
    items[0]["paper"]["authors"][0]["name"] = "Ada\u202e"
    hf = write_json(tmp_path / "2026-03-02.json", items)
    deep_line = (b'{"id": "2401.00012", "title": "Deep", "abstract": '
                 + b"[" * DEEP + b"]" * DEEP + b"}\n")
    kaggle = tmp_path / "snapshot.jsonl"
    kaggle.write_bytes(kaggle_line(id="2401.00011") + deep_line
                       + kaggle_line(id="2401.00013", title="Title\x00 with NUL"))

    run_id, counts = import_paths(engine, [deep, hf, kaggle])

    assert paper_ids(engine) == {"2603.00001", "2603.00002", "2603.00005", "2603.00006",
                                 "2401.00011", "2401.00013"}
    rows = run_refusals(engine, run_id)
    assert counts.refused == len(rows) == len(counts.refusal_list)
    by_where = {(Path(r["file"]).name if r["file"] else None, r["position"], r["record_id"]):
                r["reason"] for r in rows}
    assert "nested deeper than" in by_where[("2026-03-01.json", "file", None)]
    assert "OverflowError" in by_where[("2026-03-02.json", "item 2", "2603.00003")]
    assert "nested deeper than" in by_where[("snapshot.jsonl", "line 2", "2401.00012")]
    assert by_where[(None, None, "2603.00004")].startswith("title is 1,048,576 characters")
    assert by_where[(None, "github_repo", "2603.00005")].startswith("link dropped")
    assert len(rows) == 5
    assert stored(engine, "2603.00005")["project_page"] == "https://ok.example/x"
    assert stored(engine, "2603.00005")["github_repo"] is None
    assert stored(engine, "2603.00006")["title"] == "NUL title"
    assert stored(engine, "2401.00013")["title"] == "Title with NUL"
    assert stored(engine, "2603.00001")["authors"][0]["name"] == "Ada"
    with read_transaction(engine) as conn:
        run = conn.execute(
            sa.select(ingest_runs).where(ingest_runs.c.id == run_id)).mappings().one()
    assert (run["status"], run["refused"]) == ("ok", 5)


def test_the_sync_keeps_good_papers_beside_hostile_ones(
    engine: sa.Engine, settings: Settings, tmp_path: Path
) -> None:
    day = tmp_path / "hf-daily"
    day.mkdir()
    write_json(day / "2026-04-01.json", [
        hf_item("2604.00001", day="2026-04-01"),
        hf_item("2604.00002", day="2026-04-01", title="x" * 5000),
        hf_item("2604.00003", day="2026-04-01", title="\ud800\x00 ok",
                githubRepo="javascript:alert(1)"),
        hf_item("2604.00004", day="2026-04-01", upvotes=float("inf")),
        hf_item("2604.00005", day="2026-04-01"),
    ])
    with FakeUpstream(tmp_path, atom_files=[], oai_pages=0) as fake:
        cfg = settings.model_copy(update={
            "hf_base_url": fake.url, "sync_min_interval_seconds": 0.0, "max_title_chars": 4000,
        })
        report = run_sync(cfg, engine, log=lambda _line: None, sources=["hf"],
                          now=dt.datetime(2026, 4, 1, 12, tzinfo=dt.timezone.utc),
                          backoff_base=0.02)

    assert report.ok, report.errors
    assert paper_ids(engine) == {"2604.00001", "2604.00003", "2604.00005"}
    assert stored(engine, "2604.00003")["title"] == "\ufffd ok"
    assert stored(engine, "2604.00003")["github_repo"] is None
    counts = report.counts["hf"]
    refused = {(r.record_id, r.position): r.reason for r in counts.refusal_list}
    assert refused[("2604.00002", None)].startswith(
        "title is 5,000 characters long, more than 4,000")
    assert "OverflowError" in refused[("2604.00004", "item 3")]
    assert refused[("2604.00003", "github_repo")].startswith("link dropped")
    assert counts.refused == 3


def test_the_importer_takes_its_limits_from_the_settings(
    engine: sa.Engine, tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    from dailypapers.settings import get_settings

    path = write_json(tmp_path / "2026-03-02.json",
                      [hf_item("2603.00001", title="t" * 20),
                       hf_item("2603.00002", title="t" * 21)])
    monkeypatch.setenv("DAILYPAPERS_MAX_TITLE_CHARS", "20")
    get_settings.cache_clear()
    try:
        _run_id, counts = import_paths(engine, [path])
    finally:
        get_settings.cache_clear()
    assert paper_ids(engine) == {"2603.00001"}
    assert [(r.record_id, r.reason) for r in counts.refusal_list] == [
        ("2603.00002", "title is 21 characters long, more than 20 (DAILYPAPERS_MAX_TITLE_CHARS)")
    ]


def test_a_day_the_sync_cannot_decode_is_refused_once_and_the_sync_goes_on(
    engine: sa.Engine, settings: Settings, tmp_path: Path
) -> None:
    (tmp_path / "hf-daily").mkdir()
    write_json(tmp_path / "hf-daily" / "2026-03-31.json",
               [hf_item("2603.00031", day="2026-03-31")])
    deep = b"[" * DEEP + b"]" * DEEP
    with FakeUpstream(tmp_path, atom_files=[], oai_pages=0) as fake:
        fake.add_fault(HF_PATH, Fault("status", status=200, body=deep), times=None,
                       when={"date": "2026-04-01"})
        cfg = settings.model_copy(update={"hf_base_url": fake.url,
                                          "sync_min_interval_seconds": 0.0})
        report = run_sync(cfg, engine, log=lambda _line: None, sources=["hf"],
                          now=dt.datetime(2026, 4, 1, 12, tzinfo=dt.timezone.utc),
                          backoff_base=0.02)
        asked_deep = [r for r in fake.requests_to(HF_PATH)
                      if r.query.get("date") == "2026-04-01"]

    assert report.ok, report.errors
    assert len(asked_deep) == 1  # refused, not retried: the same answer would come back
    assert paper_ids(engine) == {"2603.00031"}
    [refusal] = report.counts["hf"].refusal_list
    assert (refusal.file, refusal.position) == ("hf:2026-04-01", "answer")
    assert "nested more than" in refusal.reason
    with read_transaction(engine) as conn:
        assert checkpoints.load(conn, LAST_DAY_KEY) == "2026-04-01"  # the cycle finished
