"""The task queue's parts, in one process (issue 12 item 2): slots floored to their times, a slot
claimed once and run under a lease, retried and finished; a scheduler that keeps claiming while
the queue is down and enqueues once it answers (real Redis); embedding claims that two processes
split; `dailypapers jobs` and /admin/jobs. The processes themselves: tests/test_queue_workers.py."""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import time
import uuid

import httpx
import lxml.html
import pytest
import redis
import sqlalchemy as sa
from click.testing import CliRunner

from dailypapers import job_runs
from dailypapers.cli import main
from dailypapers.db.engine import read_transaction, write_transaction
from dailypapers.db.schema import embed_claims, job_slots
from dailypapers.index.vectors import claim, pending
from dailypapers.jobs import Job, after_interval, current_slot, run_slot, scheduled_jobs
from dailypapers.queue import SlotScheduler, make_broker, queue_depth
from dailypapers.settings import Settings, get_settings
from tests.conftest import IN_CI, TEST_SECRET_KEY, free_port
from tests.helpers import hf_item, parse_hf_file, store, write_json
from tests.moderation_helpers import add_person, site

UTC = dt.timezone.utc
REDIS = os.environ.get("DAILYPAPERS_TEST_REDIS_URL", "redis://127.0.0.1:6379")


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def redis_or_skip() -> None:
    try:
        redis.Redis.from_url(REDIS, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        if IN_CI:
            pytest.fail(f"Redis not reachable at {REDIS}: {exc}")
        pytest.skip(f"Redis not reachable at {REDIS}: {exc}")


def slots(engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(job_slots).order_by(
            job_slots.c.job, job_slots.c.slot)).mappings()]


def test_the_sync_s_slots_are_its_interval_floored_and_a_digest_s_its_last_time(tmp_path):
    cfg = Settings(data_dir=tmp_path, sync_interval_minutes=30, digest_time="07:30",
                   digest_timezone="Europe/Paris", digest_weekday="wednesday")
    sync, daily, weekly = scheduled_jobs()
    assert current_slot(sync, cfg, at("2026-03-02T13:47:12")) == at("2026-03-02T13:30")
    assert current_slot(sync, cfg, at("2026-03-02T14:00:00")) == at("2026-03-02T14:00")
    # 07:30 in Paris is 06:30 UTC in winter: before it, yesterday's slot; at it, today's.
    assert current_slot(daily, cfg, at("2026-03-02T06:29")) == at("2026-03-01T06:30")
    assert current_slot(daily, cfg, at("2026-03-02T06:30")) == at("2026-03-02T06:30")
    # Wednesday March 4: on Tuesday the 3rd the slot is the Wednesday before (Feb 25).
    assert current_slot(weekly, cfg, at("2026-03-03T12:00")) == at("2026-02-25T06:30")
    assert current_slot(weekly, cfg, at("2026-03-04T06:31")) == at("2026-03-04T06:30")


def test_a_slot_is_claimed_once_and_a_live_attempt_holds_it(engine):
    slot = at("2026-03-02T13:30")
    key = job_runs.slot_key(slot)
    assert job_runs.claim_slot(engine, "sync", slot, 60)
    assert not job_runs.claim_slot(engine, "sync", slot, 60)  # a second scheduler
    assert job_runs.start(engine, "sync", key, 60)
    assert not job_runs.start(engine, "sync", key, 60)  # a duplicate message while it runs
    job_runs.finish(engine, "sync", key, "ok")
    assert not job_runs.start(engine, "sync", key, 60)  # done is done
    assert job_runs.take_expired(engine, 60) == []
    [row] = slots(engine)
    assert (row["attempts"], row["outcome"]) == (1, "ok") and row["finished_at"] is not None
    with read_transaction(engine) as conn:
        [summary] = job_runs.summaries(conn, ["sync"])
    assert (summary.queued, summary.running, summary.failed, summary.finished) == (0, 0, 0, 1)
    assert summary.last_outcome == "ok"


def test_a_slot_whose_runner_died_is_enqueued_again_once_its_lease_ends(engine):
    slot = at("2026-03-02T13:30")
    key = job_runs.slot_key(slot)
    job_runs.claim_slot(engine, "sync", slot, 60)
    assert job_runs.start(engine, "sync", key, 0.3)  # then the runner is SIGKILLed
    assert job_runs.take_expired(engine, 60) == []  # its lease still runs
    with read_transaction(engine) as conn:
        assert job_runs.summaries(conn, ["sync"])[0].running == 1
    time.sleep(0.4)
    with read_transaction(engine) as conn:
        assert job_runs.summaries(conn, ["sync"])[0].queued == 1
    assert job_runs.take_expired(engine, 60) == [("sync", key)]
    assert job_runs.take_expired(engine, 60) == []  # of two schedulers, one enqueues it
    assert slots(engine)[0]["outcome"] == "lost"
    with read_transaction(engine) as conn:
        assert job_runs.summaries(conn, ["sync"])[0].queued == 1
    assert job_runs.start(engine, "sync", key, 60)  # the new message starts it
    assert slots(engine)[0]["attempts"] == 2


def test_a_failing_job_is_recorded_retried_and_finished_as_failed_after_its_last_try(
        settings, engine):
    calls = []

    def flaky(s, e, stop):
        calls.append(1)
        raise RuntimeError("upstream down\nsecond line")

    job = Job("flaky", flaky, after_interval)
    slot = at("2026-03-02T13:30")
    key = job_runs.slot_key(slot)
    job_runs.claim_slot(engine, "flaky", slot, 60)
    stop = threading.Event()
    with pytest.raises(RuntimeError):
        run_slot(settings, engine, job, slot, stop, final_attempt=False)
    [row] = slots(engine)
    assert (row["outcome"], row["finished_at"], row["error"]) == (
        "failed", None, "RuntimeError: upstream down")
    with read_transaction(engine) as conn:
        [summary] = job_runs.summaries(conn, ["flaky"])
    assert (summary.failed, summary.running, summary.last_outcome) == (1, 0, "failed")
    with pytest.raises(RuntimeError):  # the retry may start at once, then it is the last
        run_slot(settings, engine, job, slot, stop, final_attempt=True)
    [row] = slots(engine)
    assert row["attempts"] == 2 and row["finished_at"] is not None and len(calls) == 2
    assert run_slot(settings, engine, job, slot, stop) == "skipped" and len(calls) == 2


def test_a_job_stopped_midway_gives_its_slot_back_unfinished(settings, engine):
    stop = threading.Event()
    job = Job("long", lambda s, e, st: stop.set(), after_interval)  # SIGTERM came meanwhile
    slot = at("2026-03-02T13:30")
    job_runs.claim_slot(engine, "long", slot, 60)
    assert run_slot(settings, engine, job, slot, stop) == "stopped"
    [row] = slots(engine)
    assert row["finished_at"] is None and row["outcome"] == "stopped"
    assert job_runs.take_expired(engine, 60) == [("long", job_runs.slot_key(slot))]


def test_the_scheduler_keeps_claiming_while_the_queue_is_down_and_enqueues_each_slot_once(
        settings, engine):
    redis_or_skip()
    prefix = f"test-{uuid.uuid4().hex[:10]}"
    sync = scheduled_jobs()[0]
    cfg = settings.model_copy(update={"queue_prefix": prefix, "sync_interval_minutes": 60})
    down = cfg.model_copy(update={"queue_url": f"redis://127.0.0.1:{free_port()}/0"})
    up = cfg.model_copy(update={"queue_url": REDIS})
    _, dead_actors = make_broker(down)
    _, actors = make_broker(up)
    now = at("2026-03-02T13:47")
    outage = SlotScheduler(down, engine, lambda j, k: dead_actors["slot"].send(j, k), [sync])
    outage.tick(now)
    assert outage.queue_down and not outage.enqueued
    [row] = slots(engine)
    assert row["slot"] == job_runs.slot_key(at("2026-03-02T13:00")) and row["finished_at"] is None
    outage.tick(now)  # still down: still claimed once, not lost
    assert len(slots(engine)) == 1
    try:
        back = SlotScheduler(up, engine, lambda j, k: actors["slot"].send(j, k), [sync])
        back.tick(now)
        back.tick(now)
        other = SlotScheduler(up, engine, lambda j, k: actors["slot"].send(j, k), [sync])
        other.tick(now)  # a second scheduler enqueues nothing more
        assert list(back.enqueued) == [("sync", row["slot"])] and not other.enqueued
        assert queue_depth(up).waiting == 1
        # The message names the job and the slot; nothing of the settings travels.
        [raw] = redis.Redis.from_url(REDIS).hvals(f"{prefix}:jobs.msgs")
        message = json.loads(raw)
        assert (message["actor_name"], message["args"]) == ("slot", ["sync", row["slot"]])
        assert TEST_SECRET_KEY.encode() not in raw and b"postgresql" not in raw
        back.tick(now + dt.timedelta(hours=1))  # the next slot
        assert [k for _, k in back.enqueued][1:] == [job_runs.slot_key(at("2026-03-02T14:00"))]
        assert queue_depth(up).waiting == 2
    finally:
        client = redis.Redis.from_url(REDIS)
        for name in client.scan_iter(f"{prefix}:*"):
            client.delete(name)


def _papers(engine, tmp_path, ids):
    items = [hf_item(pid, title=f"Paper {pid}", day="2026-03-02") for pid in ids]
    parsed, refused = parse_hf_file(write_json(tmp_path / "day.json", items))
    assert not refused
    store(engine, parsed)


def test_two_processes_offered_the_same_papers_embed_disjoint_batches(engine, tmp_path):
    ids = [f"2603.{n:05d}" for n in range(1, 7)]
    _papers(engine, tmp_path, ids)
    with write_transaction(engine) as conn:
        first = claim(conn, "m", ids[:4])
        second = claim(conn, "m", ids)  # offered an overlapping batch
    assert first == set(ids[:4]) and second == set(ids[4:])
    with read_transaction(engine) as conn:
        assert [p.paper_id for p in pending(conn, "m", 10)] == []  # all claimed, none left
        assert sorted(p.paper_id for p in pending(conn, "other-model", 10)) == ids
    with write_transaction(engine) as conn:  # the first one died: its claims expire
        conn.execute(embed_claims.update().where(embed_claims.c.paper_id.in_(ids[:2]))
                     .values(lease_until=dt.datetime(2000, 1, 1, tzinfo=UTC)))
    with read_transaction(engine) as conn:
        assert sorted(p.paper_id for p in pending(conn, "m", 10)) == ids[:2]
    with write_transaction(engine) as conn:
        assert claim(conn, "m", ids) == set(ids[:2])


def _cli(monkeypatch, db_url, tmp_path, *args, **env):
    for name, value in {"DATABASE_URL": db_url, "DATA_DIR": str(tmp_path), **env}.items():
        monkeypatch.setenv(f"DAILYPAPERS_{name}", value)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(main, list(args))
    finally:
        get_settings.cache_clear()


def _record_runs(engine):
    """A sync slot finished yesterday, one running now, one failed; a daily digest queued."""
    runs = [("sync", "2026-03-01T12:00", "ok"), ("sync", "2026-03-02T12:00", None),
            ("sync", "2026-03-02T11:00", "failed"), ("digest-daily", "2026-03-02T07:00", "queued")]
    for job, when, outcome in runs:
        slot = at(when)
        key = job_runs.slot_key(slot)
        job_runs.claim_slot(engine, job, slot, 600)
        if outcome == "queued":
            continue
        job_runs.start(engine, job, key, 600)
        if outcome == "ok":
            job_runs.finish(engine, job, key, "ok")
        elif outcome == "failed":
            job_runs.finish(engine, job, key, "failed", "OSError: relay <down>", done=False)
            with write_transaction(engine) as conn:  # keep it the older attempt
                conn.execute(job_slots.update().where(job_slots.c.slot == key).values(
                    started_at=dt.datetime(2026, 3, 2, 11, tzinfo=UTC)))


def test_jobs_command_shows_each_job_and_the_queue_and_fails_when_the_queue_is_down(
        db_url, engine, tmp_path, monkeypatch):
    _record_runs(engine)
    result = _cli(monkeypatch, db_url, tmp_path, "jobs")
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line.split() for line in result.output.splitlines()}
    assert lines["sync"][1:4] == ["0", "1", "1"]  # queued, running, failed
    assert lines["sync"][4] == "running:"  # the last started attempt runs now
    assert lines["digest-daily"][1:5] == ["1", "0", "0", "never"]
    assert lines["digest-weekly"][1:5] == ["0", "0", "0", "never"]
    assert "DAILYPAPERS_QUEUE_URL is empty" in result.output
    down = _cli(monkeypatch, db_url, tmp_path, "jobs",
                QUEUE_URL=f"redis://:hunter2@127.0.0.1:{free_port()}/0")
    assert down.exit_code == 1
    assert "DAILYPAPERS_QUEUE_URL" in down.output and "does not answer" in down.output
    assert "hunter2" not in down.output and "embed" in down.output  # the queue's job list


@pytest.mark.parametrize("command", ["worker", "scheduler"])
def test_worker_and_scheduler_need_a_queue_that_answers(db_url, tmp_path, monkeypatch, command):
    unset = _cli(monkeypatch, db_url, tmp_path, command)
    assert unset.exit_code == 1 and "DAILYPAPERS_QUEUE_URL is empty" in unset.output
    down = _cli(monkeypatch, db_url, tmp_path, command,
                QUEUE_URL=f"redis://:hunter2@127.0.0.1:{free_port()}/0")
    assert down.exit_code == 1 and down.output.count("\n") == 1, down.output
    assert "DAILYPAPERS_QUEUE_URL: redis://:***@127.0.0.1" in down.output
    assert "hunter2" not in down.output
    wrong = _cli(monkeypatch, db_url, tmp_path, command, QUEUE_URL="http://:hunter2@x/0")
    assert wrong.exit_code == 1 and "DAILYPAPERS_QUEUE_URL" in wrong.output
    assert "hunter2" not in wrong.output


def test_administrators_see_the_jobs_page_others_do_not(settings, engine):
    _record_runs(engine)
    with site(settings, engine) as server:
        admin = add_person(engine, server.url, "Ada", is_admin=True)
        moderator = add_person(engine, server.url, "Moe", is_moderator=True)
        assert lxml.html.fromstring(admin.http.get("/moderation").text).cssselect(
            'a[href="/admin/jobs"]')
        page = admin.http.get("/admin/jobs")
        assert page.status_code == 200
        doc = lxml.html.fromstring(page.text)
        rows = {tr.cssselect("td.job")[0].text_content(): [
            tr.cssselect(f"td.{c}")[0].text_content().strip()
            for c in ("queued", "running", "failed", "last-run")]
            for tr in doc.cssselect("table.jobs tbody tr")}
        assert rows["sync"][:3] == ["0", "1", "1"] and rows["sync"][3].startswith("running")
        assert rows["digest-daily"] == ["1", "0", "0", "never"]
        assert "DAILYPAPERS_QUEUE_URL is empty" in doc.cssselect("p.queue")[0].text_content()
        assert moderator.http.get("/admin/jobs").status_code == 403
        anonymous = httpx.get(server.url + "/admin/jobs", follow_redirects=False)
        assert anonymous.status_code == 303


def test_a_failing_task_is_retried_with_backoff_then_its_slot_ends_failed(
        settings, engine, tmp_path):
    """A worker (in a thread here) whose embedding server refuses: dramatiq retries the slot's
    task twice, then the slot is finished as failed with the reason; nothing runs after."""
    from dailypapers.queue import queued_jobs, run_worker

    redis_or_skip()
    _papers(engine, tmp_path, ["2603.00001"])
    prefix = f"test-{uuid.uuid4().hex[:10]}"
    cfg = settings.model_copy(update={
        "queue_url": REDIS, "queue_prefix": prefix, "queue_max_retries": 2,
        "queue_retry_seconds": 0.05, "embedder": f"openai:http://127.0.0.1:{free_port()}/v1#m"})
    stop = threading.Event()
    worker = threading.Thread(target=run_worker, args=(cfg, engine, stop), daemon=True)
    worker.start()
    _, actors = make_broker(cfg)
    embed = next(job for job in queued_jobs(cfg) if job.name == "embed")
    scheduler = SlotScheduler(cfg, engine, lambda j, k: actors["slot"].send(j, k), [embed])
    try:
        scheduler.tick()
        deadline = time.monotonic() + 60
        while not (rows := slots(engine)) or rows[0]["finished_at"] is None:
            assert time.monotonic() < deadline and worker.is_alive()
            time.sleep(0.1)
        time.sleep(0.5)  # no further attempt follows
        [row] = slots(engine)
        assert (row["job"], row["outcome"], row["attempts"]) == ("embed", "failed", 3)
        assert "ConnectError" in row["error"]
        with read_transaction(engine) as conn:
            [summary] = job_runs.summaries(conn, ["embed"])
        assert (summary.failed, summary.queued, summary.running) == (1, 0, 0)
    finally:
        stop.set()
        worker.join(30)
        client = redis.Redis.from_url(REDIS)
        for name in client.scan_iter(f"{prefix}:*"):
            client.delete(name)


@pytest.mark.parametrize("queue", [False, True])
def test_with_a_queue_the_web_process_catches_up_but_embeds_nothing(
        settings, engine, tmp_path, queue):
    from dailypapers.index.worker import IndexWorker
    from dailypapers.web.app import create_app
    from tests.conftest import LiveServer

    _papers(engine, tmp_path, ["2603.00001"])
    cfg = settings.model_copy(update={"index_interval_seconds": 0.05,
                                      "queue_url": REDIS if queue else ""})
    app = create_app(cfg, engine, index_worker=True)
    # On PostgreSQL the data-version listener is one of the app's threads too.
    [index_worker] = [job for job in app.state.jobs if isinstance(job, IndexWorker)]
    with LiveServer(app) as server:
        deadline = time.monotonic() + 60
        while index_worker.cycles < 2 or (not queue and not _vectors(engine)):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        found = httpx.get(server.url + "/api/papers/search", params={"q": "Paper 2603.00001"})
    assert [p["paper"]["id"] for p in found.json()] == ["2603.00001"]  # caught up
    assert _vectors(engine) == (0 if queue else 1)  # the workers embed, not this process


def _vectors(engine) -> int:
    from dailypapers.db.schema import paper_embeddings

    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(paper_embeddings)).scalar()


def test_a_queued_sync_stores_papers_then_a_media_task_fetches_their_thumbnails(
        settings, engine, tmp_path):
    from dailypapers.db.schema import media, papers
    from dailypapers.queue import queued_jobs, run_worker
    from tests.fake_upstream import FakeUpstream
    from tests.helpers import png

    redis_or_skip()
    root = tmp_path / "upstream"
    (root / "hf-daily").mkdir(parents=True)
    today = dt.datetime.now(UTC).date().isoformat()
    prefix = f"test-{uuid.uuid4().hex[:10]}"
    stop = threading.Event()
    with FakeUpstream(root, atom_files=[], oai_pages=0) as fake:
        fake.images["/thumbs/a.png"] = ("image/png", png(8, 8))
        item = hf_item("2611.00001", title="Synced by a worker", day=today)
        item["thumbnail"] = fake.url + "/thumbs/a.png"
        write_json(root / "hf-daily" / f"{today}.json", [item])
        cfg = settings.model_copy(update={
            "queue_url": REDIS, "queue_prefix": prefix, "hf_base_url": fake.url,
            "arxiv_api_url": fake.url + "/api/query", "sync_min_interval_seconds": 0.0,
            "sync_backfill_days": 1, "media_fetch_max": 5, "media_min_interval_seconds": 0.0,
            "media_allow_private_hosts": True, "embed_in_background": False})
        worker = threading.Thread(target=run_worker, args=(cfg, engine, stop), daemon=True)
        worker.start()
        _, actors = make_broker(cfg)
        [sync] = [job for job in queued_jobs(cfg) if job.name == "sync"]
        try:
            SlotScheduler(cfg, engine, lambda j, k: actors["slot"].send(j, k), [sync]).tick()
            deadline = time.monotonic() + 60
            while True:
                with engine.connect() as conn:
                    fetched = conn.execute(sa.select(media.c.status)).scalars().all()
                if fetched:
                    break
                assert time.monotonic() < deadline and worker.is_alive()
                time.sleep(0.1)
        finally:
            stop.set()
            worker.join(30)
            client = redis.Redis.from_url(REDIS)
            for name in client.scan_iter(f"{prefix}:*"):
                client.delete(name)
    with engine.connect() as conn:
        assert conn.execute(sa.select(papers.c.id)).scalars().all() == ["2611.00001"]
    assert fetched == ["ok"]
    [row] = slots(engine)
    assert (row["job"], row["outcome"]) == ("sync", "ok") and row["finished_at"] is not None
