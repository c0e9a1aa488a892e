"""One-off mails through the task queue (notify/queued_mail.py): with DAILYPAPERS_QUEUE_URL set,
a password reset or a subscription's confirmation asked through the web app is committed as a
row of ids, enqueued by id (no token in Redis), and sent by a worker (its loop in a thread, on
real Redis) to a real SMTP server on loopback; the link it mails works. A queue that is down at
request time costs nothing: the scheduler's sweep enqueues the row later. A worker that died
between sending and marking leaves a row the sweep finishes; a refused attempt is retried with
dramatiq's backoff. SQLite and PostgreSQL; a `dailypapers worker` process of its own on
PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager

import lxml.html
import pytest
import redis
import sqlalchemy as sa

from dailypapers.community.accounts import create_user
from dailypapers.db.engine import write_transaction
from dailypapers.db.schema import password_resets, queued_mail, sent_mail, users
from dailypapers.notify import queued_mail as mails
from dailypapers.queue import make_broker, queue_depth, run_worker, sweep_mail
from tests.account_helpers import NEW_PASSWORD, PASSWORD, Browser, csrf, serve, sha256
from tests.conftest import REPO, TEST_SECRET_KEY, free_port
from tests.mail_helpers import Inbox, smtp, smtp_server  # noqa: F401  (smtp: the fixture)
from tests.test_queue import _cli, redis_or_skip

REDIS_DB = "redis://127.0.0.1:6379/9"  # a database of its own on the test machine's Redis


@pytest.fixture
def queue(settings, smtp):  # noqa: F811
    """Settings with the queue (a key prefix of this test's own) and the SMTP sink; the keys
    are deleted afterwards."""
    redis_or_skip()
    controller, inbox = smtp
    prefix = f"test-{uuid.uuid4().hex[:10]}"
    cfg = settings.model_copy(update={
        "queue_url": REDIS_DB, "queue_prefix": prefix, "queue_retry_seconds": 0.05,
        "queue_max_retries": 2, "mail_backend": "smtp", "mail_smtp_host": "127.0.0.1",
        "mail_smtp_port": controller.port, "mail_smtp_security": "none",
        "mail_from": "Papers <papers@example.org>"})
    yield cfg, inbox
    client = redis.Redis.from_url(REDIS_DB)
    for name in client.scan_iter(f"{prefix}:*"):
        client.delete(name)


@contextmanager
def worker(cfg, engine):
    stop = threading.Event()
    thread = threading.Thread(target=run_worker, args=(cfg, engine, stop), daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        stop.set()
        thread.join(30)


def wait_until(what, check, seconds=30.0):
    deadline = time.monotonic() + seconds
    while not (value := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return value


def add_user(engine, name, mail=""):
    with write_transaction(engine) as conn:
        return create_user(conn, name, PASSWORD, email=mail)


def rows(engine, table=queued_mail):
    with engine.connect() as conn:
        return conn.execute(sa.select(table).order_by(*table.primary_key.columns)).all()


def link_in(message) -> str:
    (link,) = re.findall(r"http://\S+", message.get_payload(decode=True).decode())
    return link


def queued_messages(cfg) -> list[dict]:
    """What the queue holds, as dramatiq stored it."""
    raw = redis.Redis.from_url(REDIS_DB).hvals(f"{cfg.queue_prefix}:jobs.msgs")
    return [json.loads(r) for r in raw]


def reset_through_link(server_url: str, link: str, name: str) -> None:
    """The mailed link opens the form, sets a new password once, and the new password signs in."""
    assert link.startswith(f"{server_url}/reset/")
    opener = Browser(server_url)
    page = opener.get(link.removeprefix(server_url))
    assert page.status_code == 200 and name in page.text
    done = opener.post(link.removeprefix(server_url),
                       {"csrf_token": csrf(page.text), "new_password": NEW_PASSWORD})
    assert done.status_code == 303 and done.headers["location"] == "/login?done=reset"
    assert Browser(server_url).sign_in(name, NEW_PASSWORD).status_code == 303
    assert opener.get(link.removeprefix(server_url)).status_code == 410  # spent


def test_a_reset_asked_on_the_web_is_queued_by_id_and_a_worker_mails_a_link_that_works(
        engine, queue):
    cfg, inbox = queue
    margaret = add_user(engine, "Margaret", "margaret@example.org")
    add_user(engine, "NoMail")
    with serve(cfg, engine) as server:
        asker = Browser(server.url)
        for who in ("nobody-here", "NoMail", "MARGARET@example.org"):
            answer = asker.submit("/reset", "/reset", {"name_or_email": who})
            assert answer.status_code == 200 and "on its way" in answer.text  # the same for all
        # No worker yet: the request committed a row and enqueued its id, nothing more.
        wait_until("the enqueue", lambda: queue_depth(cfg).waiting == 1)
        (row,) = rows(engine)  # none for the unknown name or the account without address
        assert (row.kind, row.user_id, row.subscription_id, row.state, row.attempts) == (
            "password_reset", margaret.id, None, "pending", 0)
        assert row.base_url == server.url
        assert rows(engine, password_resets) == []  # no token exists before the worker sends
        (message,) = queued_messages(cfg)
        assert (message["actor_name"], message["args"], message["kwargs"]) == (
            "mail", [row.id], {})
        raw = json.dumps(message)
        for secret in ("reset", "margaret", "example.org", TEST_SECRET_KEY, "http"):
            assert secret not in raw.lower()

        with worker(cfg, engine):
            (mail,) = inbox.wait_for(1)
            wait_until("the row marked sent", lambda: rows(engine)[0].state == "sent")
        assert mail["To"] == "margaret@example.org" and "Reset your password" in mail["Subject"]
        link = link_in(mail)
        token = link.rsplit("/", 1)[1]
        (stored,) = rows(engine, password_resets)
        assert stored.token_hash == sha256(token) and stored.user_id == margaret.id
        (done,) = rows(engine)
        assert (done.state, done.attempts, done.error) == ("sent", 1, None)
        assert token not in str(tuple(done))
        (logged,) = rows(engine, sent_mail)  # recorded as every mail is
        assert (logged.kind, logged.recipient, logged.status, logged.backend) == (
            "password_reset", "margaret@example.org", "sent", "smtp")
        assert queue_depth(cfg).held == 0  # acknowledged

        reset_through_link(server.url, link, "Margaret")
    time.sleep(0.3)
    assert len(inbox.messages) == 1


def test_with_the_queue_down_at_request_time_the_request_succeeds_and_the_sweep_mails_later(
        engine, queue, db_url, tmp_path, monkeypatch):
    cfg, inbox = queue
    add_user(engine, "Grace", "grace@example.org")
    down = cfg.model_copy(update={"queue_url": f"redis://127.0.0.1:{free_port()}/9"})
    with serve(down, engine) as web:
        started = time.monotonic()
        answer = Browser(web.url).submit("/reset", "/reset", {"name_or_email": "grace"})
        assert answer.status_code == 200 and "on its way" in answer.text
        assert time.monotonic() - started < 2.5  # the enqueue runs after the answer
        time.sleep(0.5)  # its failed enqueue is only a log line
        (row,) = rows(engine)
        assert (row.state, row.attempts) == ("pending", 0)
        assert queue_depth(cfg).waiting == 0

        shown = _cli(monkeypatch, db_url, tmp_path, "jobs", SECRET_KEY=TEST_SECRET_KEY)
        assert "Queued mails: 1 waiting; in the last day 0 sent, 0 failed" in shown.output

        # The scheduler's sweep, once Redis answers (the same prefix, the real address).
        _, actors = make_broker(cfg)
        send = actors["mail"].send
        assert sweep_mail(cfg, engine, send) == 0  # just made: its own enqueue may still come
        later = row.due_at + dt.timedelta(seconds=1)
        assert mails.take_due(engine, cfg, now=later) == [row.id]  # the scheduler a minute on
        assert mails.take_due(engine, cfg, now=later) == []  # of two schedulers, one enqueues
        mails.release(engine, [row.id])  # given back: the sweep itself enqueues it below
        assert sweep_mail(cfg, engine, send) == 1
        assert [m["args"] for m in queued_messages(cfg)] == [[row.id]]

        with worker(cfg, engine):
            (mail,) = inbox.wait_for(1)
            wait_until("the row marked sent", lambda: rows(engine)[0].state == "sent")
        reset_through_link(web.url, link_in(mail), "Grace")
    shown = _cli(monkeypatch, db_url, tmp_path, "jobs", SECRET_KEY=TEST_SECRET_KEY)
    assert "Queued mails: 0 waiting; in the last day 1 sent, 0 failed" in shown.output


def test_a_worker_dead_between_sending_and_marking_leaves_a_row_the_sweep_finishes(
        engine, queue):
    cfg, inbox = queue
    user = add_user(engine, "Ada", "ada@example.org")
    with write_transaction(engine) as conn:
        mail_id = mails.add(conn, "password_reset", "http://papers.example", user_id=user.id)
    # The dead worker: claimed the row (and sent, say), then died before marking it.
    with write_transaction(engine) as conn:
        assert mails.claim(conn, mail_id, 0.3, mails.max_attempts(cfg)) is not None
    _, actors = make_broker(cfg)
    with worker(cfg, engine):
        actors["mail"].send(mail_id)  # dramatiq redelivers the dead worker's message: held
        time.sleep(1.0)
        assert rows(engine)[0].state == "pending" and inbox.messages == []
        assert sweep_mail(cfg, engine, actors["mail"].send) == 1  # its lease ran out
        (mail,) = inbox.wait_for(1)
        wait_until("the row marked sent", lambda: rows(engine)[0].state == "sent")
        actors["mail"].send(mail_id)  # a late duplicate message sends nothing more
        wait_until("the queue drained", lambda: queue_depth(cfg).held == 0)
    assert rows(engine)[0].attempts == 2 and len(inbox.messages) == 1
    assert link_in(mail).startswith("http://papers.example/reset/")


class RefusesFirst(Inbox):
    """An SMTP server that answers the first mail with a temporary failure."""

    def __init__(self) -> None:
        super().__init__()
        self.refused = 0

    async def handle_DATA(self, server, session, envelope):
        if not self.refused:
            self.refused += 1
            return "451 4.3.0 try again later"
        return await super().handle_DATA(server, session, envelope)


def test_a_refused_mail_is_retried_with_backoff_and_one_never_accepted_ends_failed(
        engine, queue, db_url, tmp_path, monkeypatch):
    cfg, _ = queue
    inbox = RefusesFirst()
    with smtp_server(inbox) as controller:
        flaky = cfg.model_copy(update={"mail_smtp_port": controller.port})
        nobody = cfg.model_copy(update={"mail_smtp_port": free_port()})  # nothing listens
        add_user(engine, "Barbara", "barbara@example.org")
        add_user(engine, "Edsger", "edsger@example.org")
        with serve(flaky, engine) as web, worker(flaky, engine):
            Browser(web.url).submit("/reset", "/reset", {"name_or_email": "barbara"})
            (mail,) = inbox.wait_for(1)
            wait_until("the row marked sent", lambda: rows(engine)[0].state == "sent")
            assert inbox.refused == 1 and rows(engine)[0].attempts == 2
            reset_through_link(web.url, link_in(mail), "Barbara")
        assert [(r.status, r.recipient) for r in rows(engine, sent_mail)] == [
            ("failed", "barbara@example.org"), ("sent", "barbara@example.org")]
        # Two tokens were made (one per attempt); the first mail never arrived, and the link
        # that did is spent: no usable token is left over.
        assert len(rows(engine, password_resets)) == 2

        with serve(nobody, engine) as web, worker(nobody, engine):
            Browser(web.url).submit("/reset", "/reset", {"name_or_email": "edsger"})
            wait_until("the last attempt", lambda: rows(engine)[-1].state == "failed")
        last = rows(engine)[-1]
        assert last.attempts == 3 and "Connection" in last.error  # 1 + 2 retries
        assert [r.status for r in rows(engine, sent_mail)][2:] == ["failed"] * 3
        assert mails.take_due(engine, cfg, now=last.due_at + dt.timedelta(hours=2)) == []
        shown = _cli(monkeypatch, db_url, tmp_path, "jobs", SECRET_KEY=TEST_SECRET_KEY)
        assert "Queued mails: 0 waiting; in the last day 1 sent, 1 failed" in shown.output


def test_a_subscription_confirmation_goes_by_the_worker_and_its_signed_link_confirms(
        engine, queue):
    cfg, inbox = queue
    with serve(cfg, engine) as web, worker(cfg, engine):
        visitor = Browser(web.url)
        form = visitor.get("/subscribe").text
        answer = visitor.post("/subscribe", {"csrf_token": csrf(form, "/subscribe"),
                                             "email": "reader@example.org", "frequency": "daily",
                                             "trending": "1",
                                             "max_items": "5"})
        assert answer.status_code == 200
        (mail,) = inbox.wait_for(1)
        (row,) = rows(engine)
        assert (row.kind, row.user_id, row.subscription_id is not None) == (
            "subscription_confirm", None, True)
        path = link_in(mail).removeprefix(web.url)
        assert path.startswith("/subscribe/confirm/")
        reader = Browser(web.url)
        shown = reader.get(path)
        done = reader.post(path, {"csrf_token": csrf(shown.text)})
        assert done.status_code == 200 and "Subscribed" in done.text
        # Asked again: the owner gets the preferences link, signed by the worker too.
        form = visitor.get("/subscribe").text
        visitor.post("/subscribe", {"csrf_token": csrf(form, "/subscribe"),
                                    "email": "reader@example.org", "frequency": "weekly",
                                    "trending": "1"})
        second = inbox.wait_for(2)[1]
        manage = link_in(second).removeprefix(web.url)
        assert manage.startswith("/subscription/") and reader.get(manage).status_code == 200
        wait_until("both rows sent", lambda: [r.state for r in rows(engine)] == ["sent"] * 2)
    assert [r.kind for r in rows(engine)] == ["subscription_confirm", "subscription_manage"]


def test_without_a_queue_the_web_process_mails_itself_and_queues_nothing(
        settings, engine, smtp):  # noqa: F811
    controller, inbox = smtp
    add_user(engine, "Margaret", "margaret@example.org")
    with serve(settings, engine, mail_backend="smtp", mail_smtp_host="127.0.0.1",
               mail_smtp_port=controller.port, mail_smtp_security="none") as server:
        Browser(server.url).submit("/reset", "/reset", {"name_or_email": "margaret"})
        (mail,) = inbox.wait_for(1)
        reset_through_link(server.url, link_in(mail), "Margaret")
    assert rows(engine) == []


def test_administrators_see_the_queued_mails_on_the_jobs_page(settings, engine):
    from tests.moderation_helpers import add_person, site

    user = add_user(engine, "Ada", "ada@example.org")
    with write_transaction(engine) as conn:
        mails.add(conn, "password_reset", "http://papers.example", user_id=user.id)
    with site(settings, engine) as server:
        admin = add_person(engine, server.url, "Chief", is_admin=True)
        doc = lxml.html.fromstring(admin.http.get("/admin/jobs").text)
        text = doc.cssselect("p.mail")[0].text_content()
    assert text.startswith("Queued mails: 1 waiting; in the last day 0 sent, 0 failed")
    assert "the oldest waiting since" in text


def test_users_unknown_to_the_table_keep_nothing_behind(engine):
    """A user deleted with a mail queued takes the row along (no mail to a stranger)."""
    user = add_user(engine, "Gone", "gone@example.org")
    with write_transaction(engine) as conn:
        mails.add(conn, "password_reset", "http://papers.example", user_id=user.id)
        conn.execute(users.delete().where(users.c.id == user.id))
    assert rows(engine) == []


def test_the_scheduler_s_rounds_enqueue_a_mail_left_unsent(engine, queue):
    """The sweep runs in `dailypapers scheduler`'s loop (here in a thread, no worker)."""
    from dailypapers.queue import run_scheduler

    cfg, _ = queue
    cfg = cfg.model_copy(update={"embed_in_background": False})
    user = add_user(engine, "Ada", "ada@example.org")
    with write_transaction(engine) as conn:
        mail_id = mails.add(conn, "password_reset", "http://papers.example", user_id=user.id)
    mails.release(engine, [mail_id])  # as if its minute had passed with no enqueue
    stop = threading.Event()
    thread = threading.Thread(target=run_scheduler, args=(cfg, engine, stop), daemon=True)
    thread.start()
    try:
        wait_until("the sweep's enqueue", lambda: [m["args"] for m in queued_messages(cfg)
                                                   if m["actor_name"] == "mail"])
    finally:
        stop.set()
        thread.join(30)
    assert [m["args"] for m in queued_messages(cfg) if m["actor_name"] == "mail"] == [[mail_id]]
    (row,) = rows(engine)  # not enqueued again until a lease later (90 s here)
    assert row.due_at - row.created_at > dt.timedelta(seconds=80) and row.state == "pending"


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_reset_asked_on_the_web_is_mailed_once_by_a_separate_worker_process(
        engine, queue, db_url, tmp_path):
    """`dailypapers worker` as its own process, as deployed: the web app only commits the row
    and enqueues its id; the worker process claims, sends and marks it."""
    cfg, inbox = queue
    add_user(engine, "Margaret", "margaret@example.org")
    env = {**os.environ, "PYTHONPATH": str(REPO), "DAILYPAPERS_DATABASE_URL": db_url,
           "DAILYPAPERS_DATA_DIR": str(tmp_path), "DAILYPAPERS_SECRET_KEY": TEST_SECRET_KEY,
           "DAILYPAPERS_QUEUE_URL": cfg.queue_url, "DAILYPAPERS_QUEUE_PREFIX": cfg.queue_prefix,
           "DAILYPAPERS_MAIL_BACKEND": "smtp", "DAILYPAPERS_MAIL_SMTP_HOST": "127.0.0.1",
           "DAILYPAPERS_MAIL_SMTP_PORT": str(cfg.mail_smtp_port),
           "DAILYPAPERS_MAIL_SMTP_SECURITY": "none", "DAILYPAPERS_MAIL_FROM": cfg.mail_from}
    log = tmp_path / "worker.log"
    with log.open("w") as out:  # started first: its start-up overlaps the request
        proc = subprocess.Popen([sys.executable, "-m", "dailypapers", "worker"], env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        with serve(cfg, engine) as server:
            answer = Browser(server.url).submit("/reset", "/reset",
                                                {"name_or_email": "margaret"})
            assert answer.status_code == 200 and "on its way" in answer.text
            (mail,) = inbox.wait_for(1)
            wait_until("the row marked sent", lambda: rows(engine)[0].state == "sent")
            wait_until("the task acknowledged", lambda: queue_depth(cfg).held == 0)
        assert proc.poll() is None, log.read_text()
    finally:
        proc.send_signal(signal.SIGTERM)  # finishes what it holds, exits 0
        code = proc.wait(30)
    assert code == 0, log.read_text()
    assert "Worker on" in log.read_text()
    assert mail["To"] == "margaret@example.org" and "Reset your password" in mail["Subject"]
    (row,) = rows(engine)
    assert (row.state, row.attempts, row.error) == ("sent", 1, None)  # one claim, one send
    assert [(r.kind, r.status) for r in rows(engine, sent_mail)] == [("password_reset", "sent")]
    assert queue_depth(cfg).waiting == 0
    assert len(inbox.messages) == 1  # after the worker stopped: nothing more arrived
