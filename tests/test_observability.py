"""Metrics at /metrics (prometheus-client, multiprocess mode) and the request's log lines.

Scrapes are parsed with prometheus_client.parser and compared before and after: the counters
live in files shared by every process of this test run, so only differences are asserted. The
outbox and index gauges are read from the database at scrape time, so they are compared with the
rows themselves.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from dailypapers import logs
from dailypapers.db.engine import write_transaction
from dailypapers.db.schema import digest_outbox, digests, papers, queued_mail
from dailypapers.index import keyword_store
from dailypapers.jobs import Job, Scheduler
from dailypapers.settings import Settings
from dailypapers.web.app import create_app
from tests.account_helpers import csrf
from tests.conftest import REPO, TEST_SECRET_KEY, LiveServer, free_port
from tests.digest_helpers import subscribe_many
from tests.helpers import hf_item, parse_hf_file, search_service, store, write_json

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str, **headers: str) -> Samples:
    answer = httpx.get(f"{url}/metrics", headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text[:300]
    assert answer.headers["cache-control"] == "no-store"
    samples: Samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


# --- metrics ----------------------------------------------------------------------------------

OUTBOX = {"pending": 3, "sending": 4, "sent": 2, "failed": 1}  # all different: a swap shows


def fill_outbox(engine: sa.Engine) -> None:
    subscribe_many(engine, [f"reader{i}@example.org" for i in range(sum(OUTBOX.values()))])
    now = dt.datetime.now(dt.timezone.utc)
    states = [state for state, n in OUTBOX.items() for _ in range(n)]
    with write_transaction(engine) as conn:
        digest_id = conn.execute(digests.insert().values(
            kind="daily", period="2026-03-02", built_at=now, state="built")
            .returning(digests.c.id)).scalar_one()
        sids = conn.execute(sa.text("SELECT id FROM subscriptions ORDER BY id")).scalars().all()
        conn.execute(digest_outbox.insert(), [dict(
            digest_id=digest_id, subscription_id=sid, state=state, attempts=0,
            message_id=f"<{sid}@test>", contents=[]) for sid, state in zip(sids, states)])


def store_papers(engine: sa.Engine, tmp_path: Path) -> None:
    items = [hf_item(f"2603.0000{i}", title=f"Paper {i}") for i in range(3)]
    parsed, refused = parse_hf_file(write_json(tmp_path / "day.json", items))
    assert not refused
    store(engine, parsed)


def test_metrics_follow_requests_jobs_rows_and_the_index(
    settings: Settings, engine: sa.Engine, tmp_path: Path
) -> None:
    fill_outbox(engine)
    store_papers(engine, tmp_path)
    search_service(engine, settings).keyword  # builds the keyword index: caught up
    with LiveServer(create_app(settings, engine)) as server:
        before = scrape(server.url)
        for _ in range(3):
            assert httpx.get(f"{server.url}/papers/2603.00001").status_code == 200
        for path in ("/no-such-page", "/papers/2603.00001/no/such/thing"):
            assert httpx.get(f"{server.url}{path}").status_code == 404
        assert httpx.head(f"{server.url}/papers/2603.00001").status_code == 200
        failing = Job("always-fails", run=lambda *_: 1 / 0,
                      next_time=lambda _s, now: now + dt.timedelta(hours=1))
        scheduler = Scheduler(settings, engine, jobs=[failing], first_delay=0)
        scheduler.start()
        deadline = time.monotonic() + 10
        while scheduler.counts["always-fails"] < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        scheduler.stop()
        # Another process writing into the same folder: its count joins this one's, while its
        # live gauge (a pool it had open) leaves with it.
        subprocess.run([sys.executable, "-c", "from dailypapers import metrics; "
                        "metrics.count_task_failure('elsewhere'); "
                        "metrics.instruments().pool_capacity.inc(1000)"], check=True, cwd=REPO,
                       env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60)
        after = scrape(server.url)

        with engine.connect():  # one connection held: the pool gauge counts it
            holding = scrape(server.url)
        released = scrape(server.url)

    route = "/papers/{paper_id:path}"
    count = "dailypapers_http_request_duration_seconds_count"
    assert moved(before, after, count, method="GET", route=route) == 3 + 1  # + its 404
    assert moved(before, after, count, method="HEAD", route=route) == 1
    assert moved(before, after, "dailypapers_http_request_duration_seconds_bucket",
                 method="GET", route=route, le="+Inf") == 4
    assert moved(before, after, "dailypapers_http_request_duration_seconds_sum",
                 method="GET", route=route) > 0
    assert moved(before, after, "dailypapers_http_requests_total", route=route, status="2xx") == 4
    # Both 404s: one matched no route at all; the other matched the paper route's template
    # (an id that is a path), whose handler answered 404: labels stay templates either way.
    assert moved(before, after, "dailypapers_http_requests_total",
                 route="<unmatched>", status="4xx") == 1
    assert moved(before, after, "dailypapers_http_requests_total", route=route, status="4xx") == 1
    assert not any("2603.00001" in str(labels) for _name, labels in after)
    assert moved(before, after, "dailypapers_task_failures_total", job="always-fails") == 1
    assert moved(before, after, "dailypapers_task_failures_total", job="elsewhere") == 1
    assert moved(before, after, "dailypapers_db_pool_capacity") == 0

    for state, rows in OUTBOX.items():
        assert value(after, "dailypapers_outbox_mails", state=state) == rows, state
    assert value(after, "dailypapers_outbox_mails", state="skipped") == 0
    assert value(after, "dailypapers_queue_depth", queue="digest_outbox") == 3 + 4
    assert value(after, "dailypapers_database_up") == 1
    assert value(after, "dailypapers_papers") == 3
    assert value(after, "dailypapers_index_keyword_documents") == 3
    assert value(after, "dailypapers_index_keyword_lag_seconds") == 0
    assert value(holding, "dailypapers_db_pool_in_use") - \
        value(released, "dailypapers_db_pool_in_use") == 1


def test_index_lag_is_the_newest_change_past_the_watermark(
    settings: Settings, engine: sa.Engine, tmp_path: Path
) -> None:
    store_papers(engine, tmp_path)
    search_service(engine, settings).keyword
    gen = keyword_store.current_generation(keyword_store.keyword_dir(settings.data_dir))
    assert gen is not None
    watermark = dt.datetime.fromisoformat(keyword_store.read_state(gen)["watermark"])
    with write_transaction(engine) as conn:  # a change 90 s past what the index has seen
        conn.execute(papers.update().where(papers.c.id == "2603.00001")
                     .values(row_updated_at=watermark + dt.timedelta(seconds=90)))
    with LiveServer(create_app(settings, engine)) as server:
        lag = value(scrape(server.url), "dailypapers_index_keyword_lag_seconds")
    assert lag == pytest.approx(90, abs=0.01)


QUEUED = {"pending": 3, "sent": 5, "skipped": 1, "failed": 2}  # all different: a swap shows


def test_queued_one_off_mails_are_counted_by_state(settings: Settings, engine: sa.Engine) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    with write_transaction(engine, changes=None) as conn:
        conn.execute(queued_mail.insert(), [dict(
            kind="password_reset", base_url="http://testserver", state=state, attempts=1,
            due_at=now, created_at=now) for state, n in QUEUED.items() for _ in range(n)])
    with LiveServer(create_app(settings, engine)) as server:
        samples = scrape(server.url)
    assert {state: value(samples, "dailypapers_queued_mails", state=state)
            for state in QUEUED} == QUEUED
    assert value(samples, "dailypapers_outbox_mails", state="pending") == 0  # not the outbox's


def test_metrics_answer_only_allowed_direct_clients(sqlite_url: str, tmp_path: Path) -> None:
    from dailypapers.db.engine import make_engine

    engine = make_engine(sqlite_url)

    def metrics_status(allow: list[str], **headers: str) -> int:
        settings = Settings(database_url=sqlite_url, data_dir=tmp_path,
                            secret_key=TEST_SECRET_KEY, metrics_allow=allow)
        with LiveServer(create_app(settings, engine)) as server:
            return httpx.get(f"{server.url}/metrics", headers=headers).status_code

    try:
        assert metrics_status(["127.0.0.1"]) == 200
        assert metrics_status(["127.0.0.0/8", "::1"]) == 200
        assert metrics_status(["10.0.0.0/8"]) == 404  # loopback is not in the list
        assert metrics_status([]) == 404  # off
        # Through a reverse proxy on this machine the client looks like loopback: refused.
        assert metrics_status(["127.0.0.1"], **{"X-Forwarded-For": "203.0.113.9"}) == 404
        assert metrics_status(["127.0.0.1"], Forwarded="for=203.0.113.9") == 404
    finally:
        engine.dispose()
    with pytest.raises(ValueError, match="DAILYPAPERS_METRICS_ALLOW"):
        Settings(metrics_allow=["localhost"])


# --- log lines --------------------------------------------------------------------------------


@pytest.mark.parametrize(("incoming", "kept"), [
    ("3f2a9c1e-8d4b-4c55-9a77-0e1f2d3c4b5a", True),
    ("proxy.req:42_a", True),
    ("x" * 128, True),
    ("x" * 129, False),
    ("", False),
    ("two words", False),
    ('quote"d', False),
    ("line\nforged", False),
    ("é", False),
])
def test_only_a_sane_incoming_request_id_is_kept(incoming: str, kept: bool) -> None:
    assert (logs.sane_request_id(incoming) == incoming) is kept


@pytest.mark.parametrize(("line", "shown"), [
    ("GET /reset/Zq9-xY_1 200", "GET /reset/… 200"),
    ("POST /subscribe/confirm/AbC.123 303", "POST /subscribe/confirm/… 303"),
    ("GET /unsubscribe/t0k?x=1", "GET /unsubscribe/…?x=1"),
    ("GET /subscription/t0k/", "GET /subscription/…/"),
    ("q=graphs&author=Smith&token=abc123&page=2", "q=graphs&author=Smith&token=***&page=2"),
    ("api_key=k1 csrf_token=c2 reset-token=r3", "api_key=*** csrf_token=*** reset-token=***"),
    ('{"password": "hunter2", "user": "bo"}', '{"password": "***", "user": "bo"}'),
    ("Authorization: Bearer dp_abc.def", "Authorization: Bearer ***"),
    ("postgresql://app:s3cret@db:5432/papers", "postgresql://app:***@db:5432/papers"),
    ("mail to alice.smith@example.org refused", "mail to a***@example.org refused"),
    ("Cookie: dp_session=abc; theme=dark", "Cookie: dp_session=***; theme=dark"),
    ("keywords=attention&sort=upvotes", "keywords=attention&sort=upvotes"),
])
def test_redaction(line: str, shown: str) -> None:
    assert logs.redact(line) == shown
    assert logs.redact(shown) == shown


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """Every log line of this process, as `serve` writes them with DAILYPAPERS_LOG_FORMAT=json."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(logs.RequestContext())
    handler.setFormatter(logs.JsonFormatter())
    root = logging.getLogger()
    watched = [logging.getLogger(name) for name in ("dailypapers", "uvicorn")]
    levels = [logger.level for logger in watched]
    root.addHandler(handler)
    for logger in watched:
        logger.setLevel(logging.INFO)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        for logger, level in zip(watched, levels):
            logger.setLevel(level)


def test_a_request_s_log_lines_carry_its_id_and_no_credentials(
    sqlite_url: str, tmp_path: Path, json_log: io.StringIO
) -> None:
    """A sign-in while the rate limiter's Redis is down: the route (in the threadpool) logs the
    outage, the middleware its access line; both carry the request's id, neither the address
    nor the password."""
    from dailypapers.db.engine import make_engine

    engine = make_engine(sqlite_url)
    settings = Settings(database_url=sqlite_url, data_dir=tmp_path, secret_key=TEST_SECRET_KEY,
                        ratelimit_storage=f"redis://127.0.0.1:{free_port()}")
    address, password = "alice.smith@example.org", "violet-lanterns-hum-7"
    try:
        with LiveServer(create_app(settings, engine)) as server, \
                httpx.Client(base_url=server.url, timeout=30) as http:
            token = csrf(http.get("/login").text, "/login")
            signed = http.post("/login", data={"csrf_token": token, "username": address,
                                               "password": password},
                               headers={"X-Request-ID": "login-attempt-1"})
            link = http.get(f"/unsubscribe/SECRET-LINK-TOKEN?email={address}&token=abc",
                            headers={"X-Request-ID": 'forged" level=admin'})
            made = http.get("/papers")
    finally:
        engine.dispose()
    assert signed.status_code == 400 and signed.headers["x-request-id"] == "login-attempt-1"
    replaced = link.headers["x-request-id"]
    assert replaced != 'forged" level=admin' and logs.sane_request_id(replaced) == replaced
    assert logs.sane_request_id(made.headers["x-request-id"])
    assert made.headers["x-request-id"] != replaced

    text = json_log.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]
    login = [line for line in lines if line["request_id"] == "login-attempt-1"]
    assert {line["logger"] for line in login} >= {"dailypapers.community.ratelimit",
                                                 "dailypapers.access"}, login
    access = next(line for line in login if line["logger"] == "dailypapers.access")
    assert (access["method"], access["route"], access["status"]) == ("POST", "/login", 400)
    (unsubscribe,) = [line for line in lines if line["request_id"] == replaced]
    assert unsubscribe["path"] == "/unsubscribe/…?email=a***@example.org&token=***"
    assert unsubscribe["route"] == "/unsubscribe/{token}"
    for secret in (address, "alice.smith", password, "SECRET-LINK-TOKEN", "forged", token):
        assert secret not in text
    assert "dp_session=" not in text and "dp_csrf" not in text


def test_serve_writes_json_lines_and_serves_its_metrics(tmp_path: Path) -> None:
    """The real command: DAILYPAPERS_LOG_FORMAT=json makes every line of the server's stderr a
    JSON object, and /metrics counts what it answered, from <data_dir>/metrics."""
    port = free_port()
    env = {key: val for key, val in os.environ.items()
           if not key.startswith("DAILYPAPERS_") and key != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(PYTHONPATH=str(REPO), DAILYPAPERS_DATA_DIR=str(tmp_path),
               DAILYPAPERS_LOG_FORMAT="json", DAILYPAPERS_SECRET_KEY=TEST_SECRET_KEY)
    server = subprocess.Popen(
        [sys.executable, "-m", "dailypapers", "serve", "--no-demo", "--no-sync",
         "--port", str(port)], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    errors: list[str] = []
    reader = threading.Thread(target=lambda: errors.extend(server.stderr), daemon=True)  # type: ignore[arg-type]
    reader.start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                answer = httpx.get(f"{url}/papers", headers={"X-Request-ID": "first-visit"})
                break
            except httpx.TransportError:
                assert server.poll() is None and time.monotonic() < deadline, "".join(errors)
                time.sleep(0.1)
        assert answer.headers["x-request-id"] == "first-visit"
        reset = httpx.get(f"{url}/reset/RESET-TOKEN-1")
        samples = scrape(url)
        assert value(samples, "dailypapers_http_requests_total", route="/reset/{token}",
                     status=f"{reset.status_code // 100}xx") == 1
        assert value(samples, "dailypapers_http_request_duration_seconds_count",
                     method="GET", route="/papers") == 1
        assert list((tmp_path / "metrics").glob("*.db"))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
        reader.join(10)
    lines = [json.loads(line) for line in errors if line.strip()]
    first = [line for line in lines if line["request_id"] == "first-visit"]
    assert [(line["logger"], line["route"]) for line in first] == \
        [("dailypapers.access", "/papers")]
    assert any(line["logger"].startswith("uvicorn") for line in lines)  # uvicorn's own lines too
    assert "RESET-TOKEN-1" not in "".join(errors)



def test_a_scrape_answers_when_the_database_does_not(tmp_path: Path) -> None:
    from dailypapers.db.engine import make_engine

    url = f"postgresql://nobody@127.0.0.1:{free_port()}/nothing"  # nothing listens there
    engine = make_engine(url)
    settings = Settings(database_url=url, data_dir=tmp_path, secret_key=TEST_SECRET_KEY)
    try:
        with LiveServer(create_app(settings, engine)) as server:
            samples = scrape(server.url)
    finally:
        engine.dispose()
    assert value(samples, "dailypapers_database_up") == 0
    assert not any(name.startswith("dailypapers_outbox") for name, _labels in samples)
