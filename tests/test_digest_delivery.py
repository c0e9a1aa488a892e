"""Digest delivery (issue 9 item 5): the outbox built once per period, mail through a real SMTP
server on loopback, exactly once, with retries, permanent failures and a pause."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from dailypapers.db.engine import write_transaction
from dailypapers.db.schema import digest_outbox, digests
from dailypapers.notify import outbox, tokens
from dailypapers.notify.delivery import _claim, deliver, send_digest
from dailypapers.notify.throttle import reserve
from tests.conftest import TEST_SECRET_KEY
from tests.digest_helpers import (
    BASE, ScriptedInbox, feature, outbox_rows, smtp_settings, subscribe, subscribe_many,
)
from tests.mail_helpers import smtp_server

DAY = dt.date(2026, 3, 2)
LATER = dt.date(2026, 3, 10)  # "today" for every send: March 2 and 3 are over
KEY = TEST_SECRET_KEY.encode()
# Stored trending scores unlike the ids' order: a digest in id order would be wrong.
MONDAY = {"2603.00001": 1.0, "2603.00002": 9.0, "2603.00003": 5.0, "2603.00004": 3.0}
TUESDAY = {"2603.00002": 8.0, "2603.00003": 7.0, "2603.00005": 6.0, "2603.00006": 0.5}


@pytest.fixture
def server():
    inbox = ScriptedInbox()
    with smtp_server(inbox) as controller:
        yield controller, inbox


@pytest.fixture
def mail_settings(settings, server):
    controller, _ = server
    return smtp_settings(settings, controller.port)


def paper_ids(message) -> list[str]:
    text = message.get_body(("plain",)).get_content() if hasattr(message, "get_body") else ""
    return [line.rsplit("/papers/", 1)[1].strip() for line in text.splitlines()
            if "/papers/" in line]


def plain(message) -> str:
    (part,) = [p for p in message.walk() if p.get_content_type() == "text/plain"]
    return part.get_payload(decode=True).decode()


def linked_papers(message) -> list[str]:
    return [line.split("/papers/", 1)[1].split()[0] for line in plain(message).splitlines()
            if f"{BASE}/papers/" in line]


def test_each_confirmed_reader_gets_one_multipart_digest_and_a_rerun_sends_nothing(
        engine, tmp_path, server, mail_settings):
    _, inbox = server
    feature(engine, tmp_path, "2026-03-02", MONDAY)
    ann = subscribe(engine, "ann@example.org")
    subscribe(engine, "bob@example.org", max_items=3)
    for address, state in [("un@example.org", "unconfirmed"), ("gone@example.org", "unsubscribed"),
                           ("bounced@example.org", "suppressed")]:
        subscribe(engine, address, state)
    subscribe(engine, "weekly@example.org", frequency="weekly")

    report = send_digest(mail_settings, engine, "daily", DAY, today=LATER)

    assert (report.sent, report.failed, report.retried) == (2, 0, 0)
    assert sorted(m["To"] for m in inbox.messages) == ["ann@example.org", "bob@example.org"]
    (mail,) = inbox.to("ann@example.org")
    assert mail.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in mail.get_payload()] == ["text/plain", "text/html"]
    assert linked_papers(mail) == ["2603.00002", "2603.00003"]  # best stored scores first
    assert linked_papers(inbox.to("bob@example.org")[0]) == ["2603.00002", "2603.00003",
                                                             "2603.00004"]
    rows = {r["email"]: r for r in outbox_rows(engine)}
    assert set(rows) == {"ann@example.org", "bob@example.org"}  # only confirmed daily readers
    assert mail["Message-ID"] == rows["ann@example.org"]["message_id"]
    assert mail["Date"] and mail["List-Id"]
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = str(mail["List-Unsubscribe"]).strip()  # folded: a long URL has no break point
    assert unsubscribe.startswith(f"<{BASE}/unsubscribe/") and unsubscribe.endswith(">")
    claims = tokens.read_token([KEY], "unsubscribe", unsubscribe[1:-1].rsplit("/", 1)[1])
    assert claims is not None and claims.subscription_id == ann
    assert f"{BASE}/subscription/" in plain(mail)  # the manage link
    assert all(r["state"] == "sent" and r["attempts"] == 1 for r in rows.values())

    again = send_digest(mail_settings, engine, "daily", DAY, today=LATER)
    assert (again.sent, len(inbox.messages)) == (0, 2)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(digests)).scalar() == 1

    # A forced resend (the row put back, as after a crash) carries the same Message-ID and items.
    with write_transaction(engine) as conn:
        conn.execute(digest_outbox.update().where(digest_outbox.c.subscription_id == ann)
                     .values(state="pending"))
    send_digest(mail_settings, engine, "daily", DAY, today=LATER)
    first, second = inbox.to("ann@example.org")
    assert first["Message-ID"] == second["Message-ID"]
    assert linked_papers(first) == linked_papers(second)


def test_no_paper_twice_across_consecutive_digests_and_empty_digests_are_skipped(
        engine, tmp_path, server, mail_settings):
    _, inbox = server
    feature(engine, tmp_path, "2026-03-02", MONDAY)
    feature(engine, tmp_path, "2026-03-03", TUESDAY)
    subscribe(engine, "ann@example.org", max_items=2)
    # Asks only for cs.CL: Hugging Face records carry no categories, so nothing ever matches.
    subscribe(engine, "cat@example.org", trending=False, categories=("cs.CL",))

    send_digest(mail_settings, engine, "daily", DAY, today=LATER)
    send_digest(mail_settings, engine, "daily", DAY + dt.timedelta(days=1), today=LATER)

    monday, tuesday = inbox.to("ann@example.org")
    assert linked_papers(monday) == ["2603.00002", "2603.00003"]
    # Tuesday's best two were in Monday's mail: the next best come instead.
    assert linked_papers(tuesday) == ["2603.00005", "2603.00006"]
    assert inbox.to("cat@example.org") == []
    states = [r["state"] for r in outbox_rows(engine) if r["email"] == "cat@example.org"]
    assert states == ["skipped", "skipped"]


def test_default_period_is_the_latest_complete_day_and_an_open_week_is_not_built(
        engine, tmp_path, server, mail_settings):
    _, inbox = server
    feature(engine, tmp_path, "2026-03-02", MONDAY)
    feature(engine, tmp_path, "2026-03-03", TUESDAY)
    subscribe(engine, "ann@example.org")
    subscribe(engine, "wk@example.org", frequency="weekly")

    send_digest(mail_settings, engine, "daily", None, today=dt.date(2026, 3, 3))  # 3rd not over
    send_digest(mail_settings, engine, "weekly", DAY, today=dt.date(2026, 3, 8))  # week open
    with engine.connect() as conn:
        built = conn.execute(sa.select(digests.c.kind, digests.c.period)).all()
    assert built == [("daily", "2026-03-02")]
    send_digest(mail_settings, engine, "weekly", None, today=dt.date(2026, 3, 9))
    (weekly,) = inbox.to("wk@example.org")
    assert "2026-W10" in weekly["Subject"]


def test_a_row_left_in_sending_by_a_dead_sender_is_retried_when_its_lease_ends(
        engine, tmp_path, server, mail_settings):
    _, inbox = server
    feature(engine, tmp_path, "2026-03-02", MONDAY)
    subscribe(engine, "ann@example.org")
    subscribe(engine, "bob@example.org")
    with write_transaction(engine) as conn:
        outbox.build(conn, "daily", outbox.target_period(conn, "daily", DAY, LATER),
                     base_url=BASE, sender_domain="papers.example.org", search=None)
    with write_transaction(engine) as conn:  # a sender claims both rows, then dies
        claimed = _claim(conn, mail_settings)
    assert len(claimed) == 2

    held = deliver(mail_settings, engine, KEY, wait=False)
    assert held.sent == 0 and inbox.messages == []  # the lease (300 s) still holds them
    with write_transaction(engine) as conn:
        conn.execute(digest_outbox.update().values(
            lease_until=dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)))
    retried = deliver(mail_settings, engine, KEY, wait=False)
    assert retried.sent == 2
    assert [r["attempts"] for r in outbox_rows(engine)] == [2, 2]
    assert sorted(m["To"] for m in inbox.messages) == ["ann@example.org", "bob@example.org"]


def test_4xx_is_retried_with_backoff_5xx_fails_at_once(engine, tmp_path, server, mail_settings):
    _, inbox = server
    feature(engine, tmp_path, "2026-03-02", MONDAY)
    subscribe(engine, "busy@example.org")
    subscribe(engine, "nouser@example.org")
    subscribe(engine, "fine@example.org")
    inbox.script["busy@example.org"] = ["451 4.3.0 try again later"] * 2
    inbox.script["nouser@example.org"] = ["550 5.1.1 no such user"]

    report = send_digest(mail_settings, engine, "daily", DAY, today=LATER)

    assert (report.sent, report.retried, report.failed) == (2, 2, 1)
    rows = {r["email"]: r for r in outbox_rows(engine)}
    assert rows["busy@example.org"]["state"] == "sent"
    assert rows["busy@example.org"]["attempts"] == 3
    assert rows["nouser@example.org"]["state"] == "failed"
    assert rows["nouser@example.org"]["attempts"] == 1
    assert "550" in rows["nouser@example.org"]["last_error"]
    assert len(inbox.to("busy@example.org")) == 1 and inbox.to("nouser@example.org") == []
    assert [a for r, a in inbox.answers if r == "nouser@example.org"] == [
        "550 5.1.1 no such user"]  # never asked again


def test_4xx_past_the_attempt_limit_fails(engine, tmp_path, server, mail_settings):
    _, inbox = server
    feature(engine, tmp_path, "2026-03-02", MONDAY)
    subscribe(engine, "busy@example.org")
    inbox.script["busy@example.org"] = ["451 4.3.0 later"] * 10
    cfg = mail_settings.model_copy(update={"digest_max_attempts": 3})

    report = send_digest(cfg, engine, "daily", DAY, today=LATER)

    assert (report.sent, report.retried, report.failed) == (0, 2, 1)
    (row,) = outbox_rows(engine)
    assert (row["state"], row["attempts"]) == ("failed", 3)
    assert len([a for r, a in inbox.answers if r == "busy@example.org"]) == 3


def test_senders_pause_after_consecutive_failures_and_status_says_so(
        engine, tmp_path, server, mail_settings):
    _, inbox = server
    feature(engine, tmp_path, "2026-03-02", MONDAY)
    subscribe_many(engine, [f"r{n}@example.org" for n in range(6)])
    inbox.refuse_all = "421 4.7.0 too many messages"
    cfg = mail_settings.model_copy(update={"digest_pause_after": 3, "digest_retry_seconds": 0})

    report = send_digest(cfg, engine, "daily", DAY, today=LATER)

    assert report.paused and "3 failures in a row" in report.paused
    assert len(inbox.answers) == 3 and inbox.messages == []
    rows = outbox_rows(engine)
    assert sorted(r["attempts"] for r in rows) == [0, 0, 0, 1, 1, 1]  # the rest untouched
    assert {r["state"] for r in rows} == {"pending"}
    with engine.connect() as conn:
        lines = outbox.status_lines(conn)
    assert lines[0].startswith("Digest outbox: 6 pending, 0 sending, 0 sent")
    assert "senders paused until" in lines[1] and "421" in lines[1]

    inbox.refuse_all = None
    again = deliver(cfg, engine, KEY)  # another sender: the pause holds it too
    assert again.paused and again.sent == 0 and len(inbox.answers) == 3

    # The pause over, the relay still refusing: paused again (the one pause row updated).
    from dailypapers.db.schema import delivery_pauses

    with write_transaction(engine) as conn:
        conn.execute(delivery_pauses.update().values(
            paused_until=dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)))
    inbox.refuse_all = "421 4.7.0 still too many"
    third = deliver(cfg, engine, KEY)
    assert third.paused and "still too many" in third.paused and len(inbox.answers) == 6
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(delivery_pauses)).scalar() == 1
    inbox.refuse_all = None
    with write_transaction(engine) as conn:
        conn.execute(delivery_pauses.update().values(
            paused_until=dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)))
    last = deliver(cfg, engine, KEY)
    assert last.sent == 6 and not last.paused


def test_send_slots_are_never_held_twice_and_an_idle_budget_saves_none_up(engine):
    """The shared throttle's arithmetic on the real row (two processes: test_digest_throttle)."""
    t0 = dt.datetime(2026, 3, 9, 7, 0, tzinfo=dt.timezone.utc)
    at = lambda seconds: t0 + dt.timedelta(seconds=seconds)  # noqa: E731

    def take(slots: int, now: dt.datetime) -> dt.datetime:
        with write_transaction(engine) as conn:
            return reserve(conn, 4.0, slots, now=now)[0]

    assert take(3, at(0)) == at(0)  # slots at 0, 0.25, 0.5
    assert take(2, at(0.1)) == at(0.75)  # another sender, asking meanwhile: the next free ones
    assert take(1, at(0.2)) == at(1.25)
    assert take(4, at(10)) == at(10)  # idle since 1.5 s: starts now, no burst of saved slots
    with write_transaction(engine) as conn:
        assert reserve(conn, 4.0, 1, name="other", now=at(10))[0] == at(10)  # its own budget
    assert take(1, at(10)) == at(11)
    with pytest.raises(ValueError):
        take(0, at(12))


def test_a_reader_who_leaves_between_build_and_send_gets_nothing(
        engine, tmp_path, server, mail_settings):
    _, inbox = server
    feature(engine, tmp_path, "2026-03-02", MONDAY)
    subscribe(engine, "stays@example.org")
    leaves = subscribe(engine, "leaves@example.org")
    bounced = subscribe(engine, "bounced@example.org")
    with write_transaction(engine) as conn:
        outbox.build(conn, "daily", outbox.target_period(conn, "daily", DAY, LATER),
                     base_url=BASE, sender_domain="papers.example.org", search=None)
    from dailypapers.notify import subscriptions as subs

    with write_transaction(engine) as conn:
        assert subs.unsubscribe(conn, leaves) == "unsubscribed"
        conn.execute(subs.subscriptions.update().where(subs.subscriptions.c.id == bounced)
                     .values(state="suppressed"))

    report = deliver(mail_settings, engine, KEY)

    assert report.sent == 1 and [m["To"] for m in inbox.messages] == ["stays@example.org"]
    states = {r["email"]: r["state"] for r in outbox_rows(engine)}
    assert states == {"stays@example.org": "sent", "leaves@example.org": "skipped",
                      "bounced@example.org": "skipped"}
    with engine.connect() as conn:
        assert conn.execute(sa.select(digests.c.state)).scalar() == "done"


def test_senders_running_side_by_side_send_each_mail_once(engine, tmp_path, server, mail_settings):
    """Claims exclude each other: SKIP LOCKED on PostgreSQL, the write lock on SQLite."""
    import threading

    _, inbox = server
    feature(engine, tmp_path, "2026-03-02", MONDAY)
    readers = [f"r{n:03d}@example.org" for n in range(120)]
    subscribe_many(engine, readers)
    with write_transaction(engine) as conn:
        outbox.build(conn, "daily", outbox.target_period(conn, "daily", DAY, LATER),
                     base_url=BASE, sender_domain="papers.example.org", search=None)
    reports = []
    senders = [threading.Thread(target=lambda: reports.append(
        deliver(mail_settings, engine, KEY))) for _ in range(3)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(60)

    assert sorted(m["To"] for m in inbox.messages) == readers
    assert sum(r.sent for r in reports) == 120 and len(reports) == 3
    assert {r["state"] for r in outbox_rows(engine)} == {"sent"}


def test_a_line_break_in_an_address_injects_no_header_and_fails_only_that_row(
        engine, tmp_path, server, mail_settings):
    _, inbox = server
    feature(engine, tmp_path, "2026-03-02", MONDAY)
    subscribe(engine, "ann@example.org")
    # Not possible through the form (email-validator): a row written some other way.
    subscribe(engine, "evil@example.org\r\nBcc: victim@example.org")

    report = send_digest(mail_settings, engine, "daily", DAY, today=LATER)

    assert (report.sent, report.failed) == (1, 1)
    assert [m["To"] for m in inbox.messages] == ["ann@example.org"]
    assert all(m["Bcc"] is None for m in inbox.messages)
    rows = {r["email"]: r for r in outbox_rows(engine)}
    evil = rows["evil@example.org\r\nBcc: victim@example.org"]
    assert evil["state"] == "failed" and "HeaderInjection" in evil["last_error"]


def test_an_address_outside_ascii_goes_by_smtputf8_and_the_file_backend_gets_the_same_mail(
        engine, tmp_path, settings):
    """The two ways besides the wire bytes: an EmailMessage for SMTPUTF8, and parsed bytes for a
    backend that is not SMTP (here: one .eml file per mail)."""
    inbox = ScriptedInbox()
    with smtp_server(inbox, enable_SMTPUTF8=True) as controller:
        feature(engine, tmp_path, "2026-03-02", MONDAY)
        subscribe(engine, "ann@example.org")
        subscribe(engine, "zoë@exämple.org")
        report = send_digest(smtp_settings(settings, controller.port), engine, "daily", DAY,
                             today=LATER)
    assert (report.sent, report.failed) == (2, 0)
    ann, zoe = inbox.to("ann@example.org"), inbox.to("zoë@exämple.org")
    assert len(ann) == len(zoe) == 1
    assert linked_papers(ann[0]) == linked_papers(zoe[0]) == ["2603.00002", "2603.00003"]
    assert zoe[0]["Message-ID"] != ann[0]["Message-ID"]

    with write_transaction(engine) as conn:  # sent again, to files this time
        conn.execute(digest_outbox.update().values(state="pending"))
    files = smtp_settings(settings, 0).model_copy(update={
        "mail_backend": "file", "mail_file_dir": str(tmp_path / "mail")})
    assert deliver(files, engine, KEY).sent == 2
    from email import message_from_bytes, policy

    written = [message_from_bytes(p.read_bytes(), policy=policy.default)
               for p in sorted((tmp_path / "mail").glob("*.eml"))]
    assert sorted(m["To"] for m in written) == ["ann@example.org", "zoë@exämple.org"]
    assert all(m.get_content_type() == "multipart/alternative" for m in written)
    assert {m["Message-ID"] for m in written} == {ann[0]["Message-ID"], zoe[0]["Message-ID"]}
