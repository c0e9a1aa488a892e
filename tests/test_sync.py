"""The live sync against a fake Hugging Face + arXiv upstream on loopback (tests/fake_upstream.py).

The recorded Hugging Face days run 2024-05-27 .. 2026-03-31, so every sync here runs with
``now = 2026-04-01``: the 7-day backfill window is 2026-03-26 .. 2026-04-01 (03-28, 03-29 and
04-01 have no file, so they answer ``[]``).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from lxml import etree

from dailypapers.db.engine import make_engine, read_transaction, write_transaction
from dailypapers.db.schema import feature_days, ingest_runs, papers, sync_checkpoints
from dailypapers.ingest.service import Counts
from dailypapers.settings import Settings
from dailypapers.status import gather_status
from dailypapers.sync import run_sync
from dailypapers.sync.http import (
    PoliteClient,
    Stopped,
    UpstreamError,
    decode_json,
    parse_retry_after,
    safe_url,
)
from tests.conftest import shared
from tests.fake_upstream import ATOM_PATH, HF_PATH, OAI_PATH, Fault, FakeUpstream
from tests.helpers import paper_ids

NOW = dt.datetime(2026, 4, 1, 12, 0, tzinfo=dt.timezone.utc)
WINDOW = [dt.date(2026, 4, 1) - dt.timedelta(days=n) for n in range(7)]  # newest first
FEATURED = ["2026-03-31", "2026-03-30", "2026-03-27", "2026-03-26"]  # days with a file
ATOM_A = "api_query_20260211T113450Z.xml"  # 1 entry, 2024
ATOM_C = "api_query_20260212T041036Z.xml"  # 5 entries, 2016-2025
UA = "dailypapers-test/1.0 (+loopback)"


# --- fixtures and helpers --------------------------------------------------------------------


@pytest.fixture
def data_dir() -> Path:
    return shared("hf-daily").parent


@pytest.fixture
def fake(data_dir: Path):  # type: ignore[no-untyped-def]
    with FakeUpstream(data_dir, atom_files=[ATOM_A, ATOM_C], oai_pages=2) as upstream:
        yield upstream


def point_at(settings: Settings, fake: FakeUpstream, **extra: Any) -> Settings:
    return settings.model_copy(update={
        "hf_base_url": fake.url,
        "arxiv_api_url": fake.url + ATOM_PATH,
        "arxiv_oai_url": fake.url + OAI_PATH,
        "sync_min_interval_seconds": 0.0,
        "sync_max_retries": 3,
        "sync_timeout_seconds": 5.0,
        "user_agent": UA,
        **extra,
    })


@pytest.fixture
def cfg(settings: Settings, fake: FakeUpstream) -> Settings:
    return point_at(settings, fake)


class Log(list):
    def __call__(self, line: str) -> None:
        self.append(line)

    def text(self) -> str:
        return "\n".join(self)


def sync(settings: Settings, engine: sa.Engine, *, sources: list[str] | None = None,
         stop: threading.Event | None = None, now: dt.datetime = NOW, log: Log | None = None):
    return run_sync(settings, engine, log=log if log is not None else Log(), stop=stop, now=now,
                    sources=sources, backoff_base=0.02)


def recorded_ids(data_dir: Path, day: str) -> set[str]:
    """Paper ids of a recorded HF day, read straight from the JSON (not through the parser)."""
    path = data_dir / "hf-daily" / f"{day}.json"
    if not path.exists():
        return set()
    return {item["paper"]["id"] for item in json.loads(path.read_text())}


def ids_by_day(engine: sa.Engine) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    with read_transaction(engine) as conn:
        for paper_id, day in conn.execute(sa.select(feature_days.c.paper_id, feature_days.c.day)):
            out.setdefault(day.isoformat(), set()).add(paper_id)
    return out


def snapshot(engine: sa.Engine) -> tuple[list[tuple], list[tuple]]:
    with read_transaction(engine) as conn:
        paper_rows = conn.execute(sa.select(
            papers.c.id, papers.c.title, papers.c.abstract, papers.c.upvotes,
            papers.c.num_comments, papers.c.github_repo, papers.c.github_stars, papers.c.sources,
        ).order_by(papers.c.id)).all()
        feature_rows = conn.execute(sa.select(
            feature_days.c.paper_id, feature_days.c.day, feature_days.c.upvotes,
            feature_days.c.num_comments, feature_days.c.submitter_name,
        ).order_by(feature_days.c.paper_id, feature_days.c.day)).all()
    return [tuple(r) for r in paper_rows], [tuple(r) for r in feature_rows]


def checkpoint_values(engine: sa.Engine) -> dict[str, Any]:
    with read_transaction(engine) as conn:
        rows = conn.execute(sa.select(sync_checkpoints.c.key, sync_checkpoints.c.value)).all()
    return {key: json.loads(value) for key, value in rows}


def runs(engine: sa.Engine) -> list[dict[str, Any]]:
    with read_transaction(engine) as conn:
        return [dict(r) for r in conn.execute(
            sa.select(ingest_runs).order_by(ingest_runs.c.id)).mappings()]


def hf_pages(fake: FakeUpstream) -> list[tuple[str, str]]:
    return [(r.query["date"], r.query.get("p", "0")) for r in fake.requests_to(HF_PATH)]


def stop_after(fake: FakeUpstream, path: str, count: int) -> threading.Event:
    """An event the fake sets as it receives the ``count``-th request to ``path``."""
    stop = threading.Event()

    def hook(_rec: object) -> None:
        if len(fake.requests_to(path)) >= count:
            stop.set()

    fake.on_request(hook)
    return stop


# --- Hugging Face ----------------------------------------------------------------------------


def test_first_sync_backfills_the_window_then_only_refreshes(
    engine: sa.Engine, cfg: Settings, fake: FakeUpstream, data_dir: Path
) -> None:
    report = sync(cfg, engine, sources=["hf"])

    assert report.ok, report.errors
    assert fake.hf_dates() == [d.isoformat() for d in WINDOW]
    assert all(r.headers.get("user-agent") == UA for r in fake.requests)
    expected = {day: recorded_ids(data_dir, day) for day in FEATURED}
    assert all(expected.values())
    assert ids_by_day(engine) == expected
    total = sum(len(v) for v in expected.values())
    assert report.counts["hf"].inserted == total
    assert checkpoint_values(engine) == {"hf:last_day": "2026-04-01"}

    fake.clear()
    before = snapshot(engine)
    again = sync(cfg, engine, sources=["hf"])

    assert again.ok, again.errors
    # Today again (its list grows during the day), then the feature days already stored.
    assert fake.hf_dates() == ["2026-04-01", *FEATURED]
    counts = again.counts["hf"]
    assert (counts.inserted, counts.updated, counts.unchanged) == (0, 0, total)
    assert snapshot(engine) == before


def test_refresh_updates_counts_that_changed_upstream(
    engine: sa.Engine, cfg: Settings, fake: FakeUpstream, data_dir: Path
) -> None:
    assert sync(cfg, engine, sources=["hf"]).ok
    item = json.loads((data_dir / "hf-daily" / "2026-03-27.json").read_text())[0]
    paper_id, upvotes = item["paper"]["id"], item["paper"]["upvotes"]
    with write_transaction(engine) as conn:  # as if we had stored an earlier snapshot
        conn.execute(feature_days.update().where(feature_days.c.paper_id == paper_id)
                     .values(upvotes=upvotes + 1000))

    report = sync(cfg, engine, sources=["hf"])

    assert report.ok, report.errors
    assert report.counts["hf"].updated == 1
    with read_transaction(engine) as conn:
        stored = conn.execute(sa.select(feature_days.c.upvotes)
                              .where(feature_days.c.paper_id == paper_id)).scalar_one()
    assert stored == upvotes


def test_paging_follows_link_next(
    engine: sa.Engine, settings: Settings, data_dir: Path
) -> None:
    with FakeUpstream(data_dir, hf_max_limit=10) as fake:
        cfg = point_at(settings, fake)
        report = sync(cfg, engine, sources=["hf"])

    assert report.ok, report.errors
    sizes = {d.isoformat(): len(recorded_ids(data_dir, d.isoformat())) for d in WINDOW}
    expected_pages = [
        (day, str(p)) for day, n in sizes.items() for p in range(max(1, -(-n // 10)))
    ]
    assert hf_pages(fake) == expected_pages
    assert ("2026-03-31", "2") in expected_pages  # 22 items: three pages
    assert ids_by_day(engine) == {day: recorded_ids(data_dir, day) for day in FEATURED}


def test_503_with_retry_after_is_retried_after_the_pause(
    engine: sa.Engine, cfg: Settings, fake: FakeUpstream, data_dir: Path
) -> None:
    fake.add_fault(HF_PATH, Fault.http(503, retry_after="1"), when={"date": "2026-03-31"})
    fake.add_fault(HF_PATH, Fault.http(429), when={"date": "2026-03-30"})

    log = Log()
    report = sync(cfg, engine, sources=["hf"], log=log)

    assert report.ok, report.errors
    tries = [r for r in fake.requests_to(HF_PATH) if r.query["date"] == "2026-03-31"]
    assert len(tries) == 2
    assert tries[1].at - tries[0].at >= 1.0
    assert fake.hf_dates().count("2026-03-30") == 2
    assert "HTTP 503; retry 1/3" in log.text() and "HTTP 429; retry 1/3" in log.text()
    assert ids_by_day(engine)["2026-03-31"] == recorded_ids(data_dir, "2026-03-31")
    assert ids_by_day(engine)["2026-03-30"] == recorded_ids(data_dir, "2026-03-30")


def test_truncated_cut_and_dropped_answers_are_retried(
    engine: sa.Engine, cfg: Settings, fake: FakeUpstream, data_dir: Path
) -> None:
    fake.add_fault(HF_PATH, Fault.truncate(), when={"date": "2026-03-31"})  # short of its length
    fake.add_fault(HF_PATH, Fault.cut(), when={"date": "2026-03-30"})  # JSON cut mid-way
    fake.add_fault(HF_PATH, Fault.close(), when={"date": "2026-03-27"})  # no answer at all
    fake.add_fault(OAI_PATH, Fault.cut(), when={"set": "cs"})  # XML cut mid-way
    cfg = cfg.model_copy(update={"arxiv_method": "oai"})

    log = Log()
    report = sync(cfg, engine, log=log)

    assert report.ok, report.errors
    for day in ("2026-03-31", "2026-03-30", "2026-03-27"):
        assert fake.hf_dates().count(day) == 2, day
    assert [r.query.get("set") for r in fake.requests_to(OAI_PATH)].count("cs") == 2
    assert "expected" in log.text() or "truncated" in log.text()  # the short body was noticed
    assert "not valid JSON" in log.text() and "not well-formed XML" in log.text()
    assert ids_by_day(engine) == {day: recorded_ids(data_dir, day) for day in FEATURED}
    assert report.counts["arxiv"].inserted > 0


def test_an_upstream_down_for_good_fails_its_source_only(
    engine: sa.Engine, cfg: Settings, fake: FakeUpstream
) -> None:
    fake.down(HF_PATH)
    cfg = cfg.model_copy(update={"sync_max_retries": 2})

    report = sync(cfg, engine)

    assert not report.ok
    assert report.sources["hf"].status == "failed"
    assert report.sources["arxiv"].status == "ok"
    assert len(report.errors) == 1
    error = report.errors[0]
    assert error.startswith("hf: ") and "HTTP 503" in error and "3 attempt(s)" in error
    assert len(fake.requests_to(HF_PATH)) == 3  # 1 + 2 retries, then the source gives up
    assert report.counts["arxiv"].inserted == 1  # the first API page, then older than the window
    by_source = {r["source"]: r for r in runs(engine)}
    assert by_source["sync:hf"]["status"] == "failed"
    assert "HTTP 503" in by_source["sync:hf"]["error"]
    assert by_source["sync:arxiv"]["status"] == "ok"
    assert by_source["sync:arxiv"]["inserted"] == 1
    assert "hf:cycle" in checkpoint_values(engine)  # the next run resumes the planned days


def test_a_client_error_is_not_retried(
    engine: sa.Engine, cfg: Settings, fake: FakeUpstream
) -> None:
    fake.add_fault(HF_PATH, Fault.http(400, body=b'{"error": "Invalid date"}'), times=None)

    report = sync(cfg, engine, sources=["hf"])

    assert report.sources["hf"].status == "failed"
    assert "HTTP 400" in report.errors[0] and "Invalid date" in report.errors[0]
    assert len(fake.requests_to(HF_PATH)) == 1


@pytest.mark.parametrize("how", ["stop", "upstream-fails"])
def test_an_interrupted_sync_resumes_without_fetching_again(
    how: str, engine: sa.Engine, settings: Settings, data_dir: Path, tmp_path: Path,
    sqlite_template: Path,
) -> None:
    # The reference: one uninterrupted sync on its own database.
    reference_path = tmp_path / "reference.sqlite3"
    shutil.copyfile(sqlite_template, reference_path)
    reference = make_engine(f"sqlite:///{reference_path}")
    with FakeUpstream(data_dir, hf_max_limit=10) as fake:
        assert sync(point_at(settings, fake), reference, sources=["hf"]).ok
        full = hf_pages(fake)
    expected = snapshot(reference)
    reference.dispose()
    assert ("2026-03-31", "1") in full

    with FakeUpstream(data_dir, hf_max_limit=10) as fake:
        cfg = point_at(settings, fake)
        # Cut after 3 answers: 04-01, then pages 0 and 1 of 03-31 (22 items, 10 a page).
        if how == "stop":
            stop = stop_after(fake, HF_PATH, 3)
        else:
            stop = None
            fake.down(HF_PATH, after=3)
            cfg = cfg.model_copy(update={"sync_max_retries": 1})
        first = sync(cfg, engine, sources=["hf"], stop=stop)
        assert not first.ok
        assert first.sources["hf"].status == "failed"
        if how == "stop":
            assert "interrupted" in first.errors[0]
        done = hf_pages(fake)[:3]
        assert done == [("2026-04-01", "0"), ("2026-03-31", "0"), ("2026-03-31", "1")]
        with read_transaction(engine) as conn:
            stored = conn.execute(sa.select(sa.func.count()).select_from(feature_days)).scalar()
        assert stored == 20  # exactly the two stored pages: nothing half-written
        cycle = checkpoint_values(engine)["hf:cycle"]
        assert cycle["todo"][0]["day"] == "2026-03-31" and cycle["todo"][0]["page"] == 2

    with FakeUpstream(data_dir, hf_max_limit=10) as fake:
        cfg = point_at(settings, fake)
        second = sync(cfg, engine, sources=["hf"])
        assert second.ok, second.errors
        resumed = hf_pages(fake)

    assert resumed[0] == ("2026-03-31", "2")  # continues from the stored rel=next link
    assert not set(resumed) & set(done)
    assert done + resumed == full
    assert snapshot(engine) == expected
    assert checkpoint_values(engine) == {"hf:last_day": "2026-04-01"}
    assert [r["status"] for r in runs(engine)] == ["failed", "ok"]


def test_stop_interrupts_a_long_retry_after_wait(
    engine: sa.Engine, cfg: Settings, fake: FakeUpstream
) -> None:
    fake.add_fault(HF_PATH, Fault.http(503, retry_after="60"))
    stop = threading.Event()

    def stop_once_the_first_answer_is_in() -> None:
        # On the first 503, not on a timer: a loaded machine may not have asked by then.
        deadline = time.monotonic() + 30
        while not fake.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)
        stop.set()

    threading.Thread(target=stop_once_the_first_answer_is_in, daemon=True).start()
    started = time.monotonic()
    report = sync(cfg, engine, stop=stop)

    assert time.monotonic() - started < 30  # not the 60 s the upstream asked for
    assert report.sources["hf"].status == "failed"
    assert "interrupted" in report.sources["hf"].error
    assert report.sources["arxiv"].status == "skipped"  # not started once stop is set
    assert len(fake.requests) == 1
    assert [r["source"] for r in runs(engine)] == ["sync:hf"]


# --- arXiv -----------------------------------------------------------------------------------


def atom_ids(data_dir: Path, *names: str) -> list[str]:
    ids = []
    for name in names:
        root = etree.parse(str(data_dir / "arxiv" / "api-atom" / name)).getroot()
        for entry in root.iter("{http://www.w3.org/2005/Atom}entry"):
            raw = entry.findtext("{http://www.w3.org/2005/Atom}id")
            ids.append(re.sub(r"v\d+$", "", raw.rsplit("/abs/", 1)[1]))
    return ids


def test_arxiv_api_sync_pages_by_start_and_lands_every_entry(
    engine: sa.Engine, settings: Settings, fake: FakeUpstream, data_dir: Path
) -> None:
    cfg = point_at(settings, fake, sync_backfill_days=20000)  # the recorded entries are old

    report = sync(cfg, engine, sources=["arxiv"])

    assert report.ok, report.errors
    queries = [r.query for r in fake.requests_to(ATOM_PATH)]
    assert [q["start"] for q in queries] == ["0", "1", "6"]  # 1 entry, 5 entries, empty page
    assert queries[0]["search_query"] == "cat:cs.LG OR cat:cs.CL OR cat:cs.CV OR cat:cs.AI OR cat:stat.ML"
    assert (queries[0]["sortBy"], queries[0]["sortOrder"]) == ("submittedDate", "descending")
    assert queries[0]["max_results"] == "100"
    served = atom_ids(data_dir, ATOM_A, ATOM_C)
    assert len(served) == 6
    assert report.counts["arxiv"].inserted == len(served)
    assert paper_ids(engine) == set(served)
    assert not fake.requests_to(HF_PATH)


def test_arxiv_api_stops_at_entries_older_than_the_window(
    engine: sa.Engine, cfg: Settings, fake: FakeUpstream, data_dir: Path
) -> None:
    report = sync(cfg, engine, sources=["arxiv"])

    assert report.ok, report.errors
    assert [r.query["start"] for r in fake.requests_to(ATOM_PATH)] == ["0"]
    assert paper_ids(engine) == set(atom_ids(data_dir, ATOM_A))
    assert checkpoint_values(engine) == {"arxiv:api:last_day": "2026-04-01"}


def oai_expected(data_dir: Path, pages: int, wanted: list[str]) -> tuple[set[str], int]:
    """(ids of the records with a wanted category, number of records) on the first pages."""
    import gzip

    ns = {"o": "http://www.openarchives.org/OAI/2.0/", "a": "http://arxiv.org/OAI/arXiv/"}
    keep, total = set(), 0
    for n in range(1, pages + 1):
        raw = gzip.decompress(
            (data_dir / "arxiv" / "oai-pmh-cs-2016" / f"listrecords-{n:03d}.xml.gz").read_bytes()
        )
        for meta in etree.fromstring(raw).iterfind(".//o:metadata/a:arXiv", ns):
            total += 1
            if set(meta.findtext("a:categories", namespaces=ns).split()) & set(wanted):
                keep.add(meta.findtext("a:id", namespaces=ns).strip())
    return keep, total


def test_arxiv_oai_sync_follows_tokens_and_keeps_configured_categories(
    engine: sa.Engine, settings: Settings, fake: FakeUpstream, data_dir: Path
) -> None:
    cfg = point_at(settings, fake, arxiv_method="oai")

    report = sync(cfg, engine, sources=["arxiv"])

    assert report.ok, report.errors
    queries = [r.query for r in fake.requests_to(OAI_PATH)]
    first_token = fake.oai_pages[0][1]
    assert queries == [
        {"verb": "ListRecords", "metadataPrefix": "arXiv", "set": "cs", "from": "2026-03-26"},
        {"verb": "ListRecords", "resumptionToken": first_token},
        {"verb": "ListRecords", "metadataPrefix": "arXiv", "set": "stat", "from": "2026-03-26"},
    ]
    keep, total = oai_expected(data_dir, 2, cfg.arxiv_categories)
    assert 0 < len(keep) < total  # the filter has something to do
    assert paper_ids(engine) == keep
    assert report.counts["arxiv"].inserted == len(keep)
    assert "0704.0002" not in paper_ids(engine)  # math.CO cs.CG: in set cs, not configured

    fake.clear()
    later = dt.datetime(2026, 4, 3, 6, 0, tzinfo=dt.timezone.utc)
    assert sync(cfg, engine, sources=["arxiv"], now=later).ok
    assert fake.requests_to(OAI_PATH)[0].query["from"] == "2026-04-01"  # from the last sync


def test_arxiv_oai_resumes_with_its_token(
    engine: sa.Engine, settings: Settings, fake: FakeUpstream, data_dir: Path
) -> None:
    cfg = point_at(settings, fake, arxiv_method="oai")
    stop = stop_after(fake, OAI_PATH, 1)

    first = sync(cfg, engine, sources=["arxiv"], stop=stop)

    assert not first.ok and "interrupted" in first.errors[0]
    assert len(fake.requests_to(OAI_PATH)) == 1
    fake.hooks.clear()
    fake.clear()
    second = sync(cfg, engine, sources=["arxiv"])
    assert second.ok, second.errors
    queries = [r.query for r in fake.requests_to(OAI_PATH)]
    assert queries[0] == {"verb": "ListRecords", "resumptionToken": fake.oai_pages[0][1]}
    assert not any(q.get("set") == "cs" for q in queries)  # page 1 is not asked for again
    assert paper_ids(engine) == oai_expected(data_dir, 2, cfg.arxiv_categories)[0]


def test_oai_sets_come_from_the_categories() -> None:
    from dailypapers.sync.arxiv import category_wanted, oai_sets

    assert oai_sets(["cs.LG", "cs.CL", "stat.ML"]) == ["cs", "stat"]
    assert oai_sets(["hep-th", "astro-ph.GA", "math.PR", "q-bio.NC"]) == [
        "math", "physics:astro-ph", "physics:hep-th", "q-bio",
    ]
    assert category_wanted(["math.CO", "cs.LG"], ["cs.LG"])
    assert not category_wanted(["math.CO", "cs.CG"], ["cs.LG", "stat.ML"])
    assert category_wanted(["cs.CG"], ["cs"])


# --- status ----------------------------------------------------------------------------------


def test_status_shows_the_last_sync_per_source(
    engine: sa.Engine, cfg: Settings, fake: FakeUpstream
) -> None:
    assert sync(cfg, engine).ok
    fake.down(HF_PATH)
    assert not sync(cfg.model_copy(update={"sync_max_retries": 0}), engine).ok

    with read_transaction(engine) as conn:
        lines = gather_status(conn)

    hf_lines = [line for line in lines if line.strip().startswith("sync:hf")]
    arxiv_lines = [line for line in lines if line.strip().startswith("sync:arxiv")]
    assert len(hf_lines) == 1 and len(arxiv_lines) == 1  # the last run only
    assert " failed " in hf_lines[0] and "HTTP 503" in hf_lines[0]
    assert " ok " in arxiv_lines[0] and "0 inserted" in arxiv_lines[0]
    assert "1 unchanged" in arxiv_lines[0]


# --- the client on its own -------------------------------------------------------------------


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    now = dt.datetime(2026, 4, 1, 12, 0, 0, tzinfo=dt.timezone.utc)
    assert parse_retry_after("7", now=now) == 7
    assert parse_retry_after("Wed, 01 Apr 2026 12:00:30 GMT", now=now) == 30
    assert parse_retry_after("Wed, 01 Apr 2026 11:00:00 GMT", now=now) == 0
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after(None) is None


def test_urls_in_logs_carry_no_credentials() -> None:
    shown = safe_url("https://user:hunter2@example.org/api?api_key=abc&date=2026-04-01&token=x")
    assert "hunter2" not in shown and "abc" not in shown and "token=x" not in shown
    assert "date=2026-04-01" in shown and shown.startswith("https://example.org/api?")
    assert "resumptionToken=1122234|1001" in safe_url("http://h/oai?resumptionToken=1122234|1001")


def test_client_keeps_its_distance_and_times_out(fake: FakeUpstream) -> None:
    cfg = Settings(sync_min_interval_seconds=0.25, sync_timeout_seconds=0.5, sync_max_retries=2,
                   user_agent=UA)
    fake.add_fault(HF_PATH, Fault.delay(2.0))
    log = Log()
    with PoliteClient(cfg, log=log, backoff_base=0.01) as client:
        url = fake.url + HF_PATH
        for day in ("2026-03-30", "2026-03-31", "2026-04-01"):
            client.get(url, decode_json, params={"date": day})
        with pytest.raises(UpstreamError, match="HTTP 400"):
            client.get(url, decode_json, params={"date": "yesterday"})
    times = [r.at for r in fake.requests]
    assert len(times) == 5  # one timed out and was retried
    assert "timed out" in log.text()
    assert all(b - a >= 0.24 for a, b in zip(times, times[1:]))


def test_client_raises_stopped_instead_of_sleeping(fake: FakeUpstream) -> None:
    stop = threading.Event()
    stop.set()
    with PoliteClient(Settings(), stop=stop) as client, pytest.raises(Stopped):
        client.get(fake.url + HF_PATH, decode_json, params={"date": "2026-03-31"})
    assert fake.requests == []


def test_counts_are_reported_per_source(engine: sa.Engine, cfg: Settings) -> None:
    report = sync(cfg, engine)
    assert report.ok, report.errors
    assert set(report.counts) == {"hf", "arxiv"}
    assert all(isinstance(c, Counts) for c in report.counts.values())
    by_source = {r["source"]: r for r in runs(engine)}
    assert by_source["sync:hf"]["inserted"] == report.counts["hf"].inserted > 0
    assert by_source["sync:arxiv"]["inserted"] == report.counts["arxiv"].inserted
