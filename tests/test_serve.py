"""The served app with its background sync (what `dailypapers serve` runs), against a fake
upstream on loopback (tests/fake_upstream.py): pages keep answering while the upstream is down,
the failed sync is recorded with its error, and once the upstream is back a scheduled run lands
papers and the footer's "Data last updated" moves.

The scheduler syncs with the real clock, so the fake's Hugging Face days are written for today
and yesterday (both inside the 7-day backfill window whatever the hour).
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from dailypapers.db.engine import read_transaction, write_transaction
from dailypapers.db.schema import ingest_runs, papers
from dailypapers.ingest.files import import_paths
from dailypapers.jobs import Scheduler
from dailypapers.settings import Settings
from dailypapers.web.app import create_app
from dailypapers.web.filters import timestamp
from tests.conftest import LiveServer, free_port
from tests.fake_upstream import ATOM_PATH, HF_PATH, OAI_PATH, Fault, FakeUpstream
from tests.helpers import hf_item, write_json

FOOTER = re.compile(r"Data last updated ([^<·]+?)\s*</span>")
OLD_STAMP = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
KNOWN = "2603.00042"
KNOWN_TITLE = "A paper stored before the upstream went down"


def point_at(settings: Settings, url: str, **extra: Any) -> Settings:
    return settings.model_copy(update={
        "hf_base_url": url,
        "arxiv_api_url": url + ATOM_PATH,
        "arxiv_oai_url": url + OAI_PATH,
        "arxiv_method": "api",
        "sync_min_interval_seconds": 0.0,
        "sync_max_retries": 2,
        "sync_backoff_seconds": 0.2,
        "sync_timeout_seconds": 2.0,
        **extra,
    })


def wait_for(condition: Callable[[], bool], timeout: float = 8.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.02)


def footer(html: str) -> str:
    match = FOOTER.search(html)
    assert match, "no 'Data last updated' in the page"
    return match.group(1).strip()


def sync_runs(engine: sa.Engine) -> list[dict[str, Any]]:
    with read_transaction(engine) as conn:
        return [dict(r) for r in conn.execute(
            sa.select(ingest_runs).where(ingest_runs.c.source.like("sync:%"))
            .order_by(ingest_runs.c.id)).mappings()]


def paper_ids(engine: sa.Engine) -> set[str]:
    with read_transaction(engine) as conn:
        return set(conn.execute(sa.select(papers.c.id)).scalars())


@pytest.fixture
def stored(engine: sa.Engine, tmp_path: Path) -> None:
    """One paper imported earlier, its import run backdated so the footer has a known stamp."""
    path = write_json(tmp_path / "2026-03-02.json", [hf_item(KNOWN, title=KNOWN_TITLE)])
    run_id, _counts = import_paths(engine, [path], parse_ahead=False)
    with write_transaction(engine) as conn:
        conn.execute(ingest_runs.update().where(ingest_runs.c.id == run_id)
                     .values(started_at=OLD_STAMP, finished_at=OLD_STAMP))


@pytest.fixture
def upstream_dir(tmp_path: Path) -> tuple[Path, dict[str, list[str]]]:
    """A fake upstream's data: Hugging Face days for today and yesterday (UTC), no arXiv files."""
    root = tmp_path / "upstream"
    (root / "hf-daily").mkdir(parents=True)
    today = dt.datetime.now(dt.timezone.utc).date()
    days: dict[str, list[str]] = {}
    for offset, (n, label) in enumerate([(3, "today"), (2, "yesterday")]):
        day = (today - dt.timedelta(days=offset)).isoformat()
        ids = [f"2611.{90000 + offset * 10 + i:05d}" for i in range(n)]
        write_json(root / "hf-daily" / f"{day}.json", [
            hf_item(pid, title=f"Fresh paper {i} of {label}", day=day, upvotes=10 + i)
            for i, pid in enumerate(ids)
        ])
        days[day] = ids
    return root, days


def get_ok(url: str) -> httpx.Response:
    started = time.monotonic()
    response = httpx.get(url, timeout=5.0)
    assert response.status_code == 200, (url, response.status_code, response.text[:300])
    assert time.monotonic() - started < 2.0, f"{url} took too long"
    return response


@pytest.mark.parametrize("trouble", ["503", "closed port"])
def test_pages_keep_answering_while_the_upstream_is_down(
    settings: Settings, engine: sa.Engine, stored: None,
    upstream_dir: tuple[Path, dict[str, list[str]]], trouble: str,
) -> None:
    with FakeUpstream(upstream_dir[0], atom_files=[], oai_pages=0) as fake:
        if trouble == "503":
            fake.down(HF_PATH)
            fake.down(ATOM_PATH)
            url = fake.url
        else:
            url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
        cfg = point_at(settings, url)
        scheduler = Scheduler(cfg, engine, first_delay=0)
        app = create_app(cfg, engine, background=scheduler)
        answered_during_sync = 0

        with LiveServer(app) as server:
            # Each source makes 3 attempts with ~0.1-0.4 s pauses: the sync takes a while, and
            # the site answers meanwhile.
            deadline = time.monotonic() + 8
            while scheduler.runs == 0 and time.monotonic() < deadline:
                syncing = bool(fake.requests) if trouble == "503" else True
                get_ok(server.url + "/papers")
                get_ok(server.url + "/api/daily_papers")
                if syncing and scheduler.runs == 0:
                    answered_during_sync += 1
                time.sleep(0.05)
            wait_for(lambda: scheduler.runs >= 1, what="the first scheduled sync")

            page = get_ok(server.url + "/papers").text
            api = get_ok(server.url + "/api/daily_papers").json()
            paper = get_ok(server.url + f"/papers/{KNOWN}").text

        assert answered_during_sync >= 1
        assert KNOWN_TITLE in page and KNOWN_TITLE in paper
        assert [item["paper"]["id"] for item in api] == [KNOWN]
        # A failed sync is not an update.
        assert footer(page) == timestamp(OLD_STAMP) == "2026-03-01 12:00 UTC"
        if trouble == "503":
            assert len(fake.requests_to(HF_PATH)) == 3  # 1 + sync_max_retries
            assert len(fake.requests_to(ATOM_PATH)) == 3

    by_source = {r["source"]: r for r in sync_runs(engine)}
    assert set(by_source) == {"sync:hf", "sync:arxiv"}
    host = url.split("://", 1)[1]
    for source, run in by_source.items():
        assert run["status"] == "failed", source
        assert run["finished_at"] is not None
        error = run["error"] or ""
        assert host in error and "3 attempt(s)" in error, error
        if trouble == "503":
            assert "HTTP 503" in error
        else:
            assert "connection error" in error
    assert paper_ids(engine) == {KNOWN}


def test_a_scheduled_run_after_the_upstream_recovers_lands_papers_and_moves_the_footer(
    settings: Settings, engine: sa.Engine, stored: None,
    upstream_dir: tuple[Path, dict[str, list[str]]],
) -> None:
    root, days = upstream_dir
    expected = {pid for ids in days.values() for pid in ids}
    with FakeUpstream(root, atom_files=[], oai_pages=0) as fake:
        # The first run's attempts (1 + 1 retry per source) all fail; after that it is healthy.
        fake.add_fault(HF_PATH, Fault.http(503), times=2)
        fake.add_fault(ATOM_PATH, Fault.http(503), times=2)
        cfg = point_at(settings, fake.url, sync_max_retries=1,
                       sync_backoff_seconds=0.01, sync_interval_minutes=0.5 / 60)
        scheduler = Scheduler(cfg, engine, first_delay=0)

        with LiveServer(create_app(cfg, engine)) as plain:  # no scheduler: the page before
            before = get_ok(plain.url + "/papers").text
        assert footer(before) == "2026-03-01 12:00 UTC"
        assert KNOWN_TITLE in before

        with LiveServer(create_app(cfg, engine, background=scheduler)) as server:
            wait_for(lambda: scheduler.runs >= 2, what="a failed run, then a good one")
            page = get_ok(server.url + "/papers").text
            api = get_ok(server.url + "/api/daily_papers?limit=100").json()

    runs = sync_runs(engine)
    hf_runs = [r for r in runs if r["source"] == "sync:hf"]
    assert [r["status"] for r in hf_runs[:2]] == ["failed", "ok"]
    assert "HTTP 503" in hf_runs[0]["error"]
    assert hf_runs[1]["inserted"] == len(expected)
    assert paper_ids(engine) == expected | {KNOWN}
    stamp = footer(page)
    assert stamp != footer(before)
    # The end of a successful sync run (a later run may have finished since the page was read).
    assert stamp in {timestamp(r["finished_at"]) for r in runs if r["status"] == "ok"}
    assert dt.datetime.strptime(stamp, "%Y-%m-%d %H:%M UTC").replace(
        tzinfo=dt.timezone.utc) > dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    # The latest featured day is now the fake's newest: its papers are on /papers and the API.
    newest_day = max(days)
    for i in range(len(days[newest_day])):
        assert f"Fresh paper {i} of " in page
    assert KNOWN_TITLE not in page
    # The API without a date: every featured paper, newest feature day first.
    got = [item["paper"]["id"] for item in api]
    ordered_days = sorted(days, reverse=True)
    assert [set(got[:3]), set(got[3:5]), got[5:]] == [
        set(days[ordered_days[0]]), set(days[ordered_days[1]]), [KNOWN]]


def test_uptime_monitors_can_head_the_served_app(live_server: Any, stored: None) -> None:
    """HEAD through uvicorn, as monitors send it: 200 with GET's headers, 404 where GET is."""
    for path in ("/papers", f"/papers/{KNOWN}", "/api/daily_papers", f"/api/papers/{KNOWN}"):
        get = httpx.get(live_server.url + path, timeout=5.0)
        head = httpx.head(live_server.url + path, timeout=5.0)
        assert get.status_code == head.status_code == 200, path
        assert head.headers["content-type"] == get.headers["content-type"]
        assert head.headers["content-length"] == get.headers["content-length"]
        assert head.content == b""
    assert httpx.head(live_server.url + "/no/such/page", timeout=5.0).status_code == 404
