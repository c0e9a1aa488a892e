"""Sending the digest outbox: claim rows under a lease, render, hand to the relay, record.

Exactly once, whatever crashes: a row is claimed (``sending``, ``lease_until``) in one short
transaction, sent, then marked ``sent`` — committed before the next mail goes (:class:`_SentMarks`).
A sender killed between the two leaves the row in ``sending``; when the lease ends any sender
takes it again. So a mail is never lost, and is sent twice only when the process died after the
relay took it and before the row said so — at most one mail per dead sender, with the same
Message-ID (fixed at build time), which a receiving system can deduplicate on. (On PostgreSQL a
mark is committed without waiting for the disk: a crash of the database server itself, not of a
sender, may also lose the marks of its last ~0.6 s, and send those mails again the same way.)

Claims: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so senders on several machines never wait on
each other; on SQLite a short ``write_transaction`` per batch (its one writer also serves votes).
Either walks the partial index of open rows (``ix_digest_outbox_open``), not past sent ones.

Answers: 2xx sent; 4xx (and a lost connection) retried after DAILYPAPERS_DIGEST_RETRY_SECONDS,
doubled each attempt, up to DAILYPAPERS_DIGEST_MAX_ATTEMPTS; 5xx failed at once.
DAILYPAPERS_DIGEST_PAUSE_AFTER failures in a row pause every sender (a row in the database) for
DAILYPAPERS_DIGEST_PAUSE_SECONDS. The throttle (DAILYPAPERS_DIGEST_RATE_PER_SECOND) holds across
all senders and processes: each reserves its send slots from one database row (notify/throttle.py).

Speed (bench/digest_throughput.py): mails are written as bytes from bodies rendered once per
distinct contents (digest_render.Renderer), not built as ``email.message`` objects (~2 ms a
mail, measured, more than the rest of a sender's work together).

The outbox row is the record of a digest mail (who, which period, state, attempts, error,
Message-ID, when sent): digests write no ``sent_mail`` row, which would repeat it for every
reader (mail.py's :func:`deliver` keeps that rule for one-off mails).
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
import threading
import time
import zoneinfo
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from dailypapers import catalog
from dailypapers.db.engine import db_now, read_transaction, write_transaction
from dailypapers.db.schema import (
    delivery_pauses, digest_outbox, digests, subscription_topics, subscriptions,
)
from dailypapers.notify import outbox
from dailypapers.notify.digest_render import Outgoing, Renderer
from dailypapers.notify.mail import MailBackend, SmtpBackend, backend_from_settings
from dailypapers.notify.subscriptions import deliverable
from dailypapers.notify.throttle import SharedThrottle
from dailypapers.settings import Settings

log = logging.getLogger(__name__)

BATCH = 50  # rows per claim: one short transaction per BATCH mails, besides one per result
# Written out, not bound: only a literal predicate lets PostgreSQL's and SQLite's planners use the
# partial index ix_digest_outbox_open (db/schema.py), the claim's path to the next open rows.
OPEN_ROWS = sa.text("digest_outbox.state IN ('pending', 'sending')")
POLL_SECONDS = 1.0  # how often a sender with nothing to claim looks again while rows are held


@dataclass
class Report:
    sent: int = 0
    retried: int = 0  # temporary failures, back to pending for a later attempt
    failed: int = 0
    skipped: int = 0
    paused: str | None = None  # why senders are paused, when they are
    errors: list[str] = field(default_factory=list)


class _Session:
    """One SMTP connection kept for many mails (a new one after any error)."""

    def __init__(self, backend: MailBackend) -> None:
        self.backend = backend
        self.smtp: smtplib.SMTP | None = None

    def send(self, mail: Outgoing, before_data: Callable[[], Any] = lambda: None) -> None:
        """Hand ``mail`` to the relay. ``before_data`` runs once the envelope is accepted and
        before the message goes (the relay can take it only then): the sender waits there for
        the previous mail's mark, so that wait overlaps MAIL FROM and RCPT TO."""
        if not isinstance(self.backend, SmtpBackend):
            before_data()
            self.backend.send(mail.as_email(), mail.sender)
            return
        if self.smtp is None:
            self.smtp = self.backend.connect()
        smtp = self.smtp
        try:
            if mail.data is None:
                before_data()
                smtp.send_message(mail.as_email(), from_addr=mail.sender)
                return
            # smtplib's sendmail in its steps; a refusal ends the connection, as any error.
            smtp.ehlo_or_helo_if_needed()
            code, answer = smtp.mail(mail.sender)
            if code != 250:
                raise smtplib.SMTPSenderRefused(code, answer, mail.sender)
            code, answer = smtp.rcpt(mail.to)
            if code not in (250, 251):
                raise smtplib.SMTPRecipientsRefused({mail.to: (code, answer)})
            before_data()
            code, answer = smtp.data(mail.data)
            if code != 250:
                raise smtplib.SMTPDataError(code, answer)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except Exception:  # already gone: nothing to say goodbye to
                self.smtp.close()
            self.smtp = None


def classify(exc: BaseException) -> tuple[bool, str]:
    """(permanent?, short reason). 5xx answers are permanent; 4xx, a dropped connection or a
    timeout are temporary."""
    code: int | None = None
    if isinstance(exc, smtplib.SMTPRecipientsRefused) and exc.recipients:
        code = next(iter(exc.recipients.values()))[0]
    elif isinstance(exc, smtplib.SMTPResponseException):
        code = exc.smtp_code
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    reason = f"{type(exc).__name__}: {text}"[:500] if text else type(exc).__name__
    if isinstance(exc, ValueError):  # a header we refused to write: sending again won't help
        return True, reason
    return code is not None and 500 <= code < 600, reason


def _aware(stamp: dt.datetime | None) -> dt.datetime | None:
    return outbox._aware(stamp) if stamp is not None else None


# --- claiming and recording -----------------------------------------------------------------


def _claim(conn: Connection, settings: Settings, size: int = BATCH) -> list[Any]:
    """Up to ``size`` rows now this sender's (``sending`` under a fresh lease). Only the rows
    looked at are touched, so a claim costs the same at the first row of 100,000 and the last."""
    now = db_now(conn)
    open_row = sa.and_(OPEN_ROWS, sa.or_(digest_outbox.c.lease_until.is_(None),
                                         digest_outbox.c.lease_until <= now))
    query = (sa.select(digest_outbox.c.id, digest_outbox.c.attempts,
                       deliverable().label("deliverable"))
             .join(subscriptions, subscriptions.c.id == digest_outbox.c.subscription_id)
             .where(open_row).order_by(digest_outbox.c.id).limit(size))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=digest_outbox)
    ids: list[int] = []
    while not ids:
        found = conn.execute(query).all()
        if not found:
            return []
        # Readers who left (unsubscribed, suppressed) before their turn get nothing; a row
        # whose every attempt ended in a dead sender or a 4xx is given up.
        gone = [r.id for r in found if not r.deliverable]
        spent = [r.id for r in found
                 if r.deliverable and r.attempts >= settings.digest_max_attempts]
        ids = [r.id for r in found
               if r.deliverable and r.attempts < settings.digest_max_attempts]
        if gone:
            conn.execute(digest_outbox.update().where(digest_outbox.c.id.in_(gone)).values(
                state="skipped", lease_until=None, last_error="not deliverable any more"))
        if spent:
            conn.execute(digest_outbox.update().where(digest_outbox.c.id.in_(spent)).values(
                state="failed", lease_until=None))
    conn.execute(digest_outbox.update().where(digest_outbox.c.id.in_(ids)).values(
        state="sending", attempts=digest_outbox.c.attempts + 1,
        lease_until=now + dt.timedelta(seconds=settings.digest_lease_seconds)))
    return conn.execute(
        sa.select(digest_outbox.c.id, digest_outbox.c.subscription_id, digest_outbox.c.contents,
                  digest_outbox.c.message_id, digest_outbox.c.attempts, digests.c.kind,
                  digests.c.period, subscriptions.c.email)
        .join(digests, digests.c.id == digest_outbox.c.digest_id)
        .join(subscriptions, subscriptions.c.id == digest_outbox.c.subscription_id)
        .where(digest_outbox.c.id.in_(ids)).order_by(digest_outbox.c.id)).all()


def _finish_digests(engine: Engine) -> None:
    """A digest with no row left to send is ``done``."""
    with write_transaction(engine, changes=None) as conn:
        still_open = sa.select(digest_outbox.c.id).where(
            digest_outbox.c.digest_id == digests.c.id,
            digest_outbox.c.state.in_(("pending", "sending")))
        conn.execute(digests.update().where(digests.c.state == "built",
                                            ~sa.exists(still_open)).values(state="done"))


def _record(engine: Engine, row_id: int, **values: Any) -> None:
    with write_transaction(engine, changes=None) as conn:
        if values.get("state") == "sent":
            values["sent_at"] = db_now(conn)
        if "retry_in" in values:
            values["lease_until"] = db_now(conn) + dt.timedelta(seconds=values.pop("retry_in"))
        conn.execute(digest_outbox.update().where(digest_outbox.c.id == row_id,
                                                  digest_outbox.c.state == "sending")
                     .values(**values))


class MarkFailed(Exception):
    """Recording a sent mail failed: the sender stops (the lease brings the row back)."""


class _SentMarks:
    """Marks mails ``sent``, each committed before the next mail goes: so a killed sender leaves
    at most the one mail whose SMTP transaction it cut unrecorded.

    On PostgreSQL a mark is one statement on a connection of its own, in autocommit mode with
    ``synchronous_commit`` off, run by a thread: it overlaps the next mail's MAIL FROM and
    RCPT TO, and :meth:`settle` (called before that mail's DATA) waits for it. Without the
    disk wait a mark costs 0.1 ms instead of 2–3 ms (measured here: the fsync made one commit
    per mail a fifth of a sender's time); the commit is visible at once and survives any death
    of the sender. What it risks: if the *database server* crashes (not a sender), the marks of
    its last ~0.6 s (3 × ``wal_writer_delay``) may be lost, and those mails sent again, each
    with the same Message-ID. On SQLite (one writer, ``synchronous=NORMAL`` already)
    a short write transaction in the sender's thread, as every other result."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.conn: Connection | None = None
        postgres = engine.dialect.name == "postgresql"
        self.pool = ThreadPoolExecutor(1, "digest-marks") if postgres else None
        self.in_flight: Future[None] | None = None

    def mark(self, row_id: int) -> None:
        self.settle()
        if self.pool is None:
            _record(self.engine, row_id, state="sent", lease_until=None, last_error=None)
        else:
            self.in_flight = self.pool.submit(self._mark_now, row_id)

    def _mark_now(self, row_id: int) -> None:
        if self.conn is None:
            self.conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            self.conn.exec_driver_sql("SET synchronous_commit TO off")
        self.conn.execute(digest_outbox.update().where(
            digest_outbox.c.id == row_id, digest_outbox.c.state == "sending").values(
            state="sent", sent_at=sa.func.clock_timestamp(), lease_until=None, last_error=None))

    def settle(self) -> None:
        """Return when every mark so far is committed."""
        if self.in_flight is not None:
            done, self.in_flight = self.in_flight, None
            try:
                done.result()
            except Exception as exc:
                raise MarkFailed(f"could not mark a digest mail sent: {exc}") from exc

    def close(self) -> None:
        try:
            self.settle()
        finally:
            if self.pool is not None:
                self.pool.submit(self._close_conn).result()
                self.pool.shutdown()

    def _close_conn(self) -> None:
        if self.conn is not None:
            try:
                self.conn.exec_driver_sql("RESET synchronous_commit")  # pooled: as it came
            finally:
                self.conn.close()
                self.conn = None


def _release(engine: Engine, ids: list[int]) -> None:
    """Rows claimed but not tried (a pause came first): back to pending, the attempt unspent."""
    if ids:
        with write_transaction(engine, changes=None) as conn:
            conn.execute(digest_outbox.update().where(digest_outbox.c.id.in_(ids),
                                                      digest_outbox.c.state == "sending")
                         .values(state="pending", lease_until=None,
                                 attempts=digest_outbox.c.attempts - 1))


def _pause(engine: Engine, seconds: float, reason: str) -> None:
    with write_transaction(engine, changes=None) as conn:
        now = db_now(conn)
        values = {"paused_until": now + dt.timedelta(seconds=seconds), "reason": reason,
                  "updated_at": now}
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        # Two senders pausing at once: one row, the later reason.
        conn.execute(dialect.insert(delivery_pauses).values(name="smtp", **values)
                     .on_conflict_do_update(index_elements=["name"], set_=values))


def _next_wait(engine: Engine) -> float | None:
    """Seconds until a row held by a lease or a backoff can be claimed; None: none left."""
    with read_transaction(engine) as conn:
        now = db_now(conn)
        soonest = conn.execute(sa.select(sa.func.min(digest_outbox.c.lease_until)).where(
            digest_outbox.c.state.in_(("pending", "sending")))).scalar()
        if soonest is None:
            left = conn.execute(sa.select(sa.func.count()).select_from(digest_outbox).where(
                digest_outbox.c.state.in_(("pending", "sending")))).scalar()
            return 0.0 if left else None
    return max(0.0, (_aware(soonest) - now).total_seconds())  # type: ignore[operator]


# --- rendering ------------------------------------------------------------------------------


# --- the sender -----------------------------------------------------------------------------


def deliver(settings: Settings, engine: Engine, key: bytes, *,
            backend: MailBackend | None = None, stop: threading.Event | None = None,
            wait: bool = True, log_line: Callable[[str], Any] = log.info) -> Report:
    """Send every claimable outbox row. ``wait``: also wait for rows held by another sender's
    lease or a retry's backoff, so the call returns only when none is left (or on a pause)."""
    report = Report()
    backend = backend or backend_from_settings(settings)
    session = _Session(backend)
    marks = _SentMarks(engine)
    renderer = Renderer(settings, key)
    throttle = SharedThrottle(engine, settings.digest_rate_per_second)
    failures_in_row = 0
    # Rows per claim: no more than half a lease's worth at the throttle's rate.
    rate = settings.digest_rate_per_second
    batch = max(1, min(BATCH, int(rate * settings.digest_lease_seconds / 2))) if rate else BATCH
    try:
        while not (stop and stop.is_set()):
            with read_transaction(engine) as conn:
                pause = outbox.current_pause(conn)
            if pause:
                report.paused = f"paused until {pause[0]:%Y-%m-%d %H:%M:%S} UTC: {pause[1]}"
                return report
            with write_transaction(engine, changes=None) as conn:
                rows = _claim(conn, settings, batch)
            claimed_at = time.monotonic()
            if not rows:
                left = _next_wait(engine) if wait else None
                if left is None:
                    marks.settle()
                    _finish_digests(engine)
                    return report
                # Held by another sender's lease (it may be alive and sending) or a backoff:
                # look again shortly rather than sleep through the whole lease.
                (stop.wait if stop else time.sleep)(min(max(left, 0.05), POLL_SECONDS))
                continue
            with read_transaction(engine) as conn:
                found = catalog.papers_by_ids(
                    conn, list({pid for row in rows for pid, _ in row.contents}))
            for n, row in enumerate(rows):
                # Stopping, or half the lease gone (a slow relay): the rest goes back, so no
                # other sender takes a row this one is still about to send.
                if (stop and stop.is_set()) or \
                        time.monotonic() - claimed_at > settings.digest_lease_seconds / 2:
                    _release(engine, [r.id for r in rows[n:]])
                    break
                try:
                    message = renderer.message(found, row)
                except ValueError as exc:  # a header that would inject one: never sendable
                    _record(engine, row.id, state="failed", lease_until=None,
                            last_error=classify(exc)[1])
                    report.failed += 1
                    continue
                if message is None:
                    _record(engine, row.id, state="skipped", lease_until=None,
                            last_error="its papers are gone")
                    report.skipped += 1
                    continue
                throttle.wait(stop)
                try:
                    session.send(message, before_data=marks.settle)
                except MarkFailed:
                    raise
                except Exception as exc:  # every relay failure: classified and recorded
                    permanent, reason = classify(exc)
                    failures_in_row += 1
                    report.errors.append(reason)
                    if permanent or row.attempts >= settings.digest_max_attempts:
                        _record(engine, row.id, state="failed", lease_until=None,
                                last_error=reason)
                        report.failed += 1
                    else:
                        _record(engine, row.id, state="pending", last_error=reason,
                                retry_in=settings.digest_retry_seconds * 2 ** (row.attempts - 1))
                        report.retried += 1
                    log_line(f"digest mail {row.id} to subscription {row.subscription_id}: "
                             f"{reason}")
                    if failures_in_row >= settings.digest_pause_after:
                        why = f"{failures_in_row} failures in a row, the last: {reason}"
                        _pause(engine, settings.digest_pause_seconds, why)
                        _release(engine, [r.id for r in rows[n + 1:]])
                        report.paused = why
                        return report
                    continue
                failures_in_row = 0
                marks.mark(row.id)
                report.sent += 1
        return report
    finally:
        session.close()
        marks.close()


# --- the command and the scheduled jobs -----------------------------------------------------


def local_now(settings: Settings) -> dt.datetime:
    return dt.datetime.now(zoneinfo.ZoneInfo(settings.digest_timezone))


def send_digest(settings: Settings, engine: Engine, kind: str, day: dt.date | None = None, *,
                today: dt.date | None = None, stop: threading.Event | None = None,
                backend: MailBackend | None = None,
                log_line: Callable[[str], Any] = log.info) -> Report:
    """Build the period's digest if missing, then deliver every pending digest mail (of any
    period: a run cut short earlier is finished too). Safe to run twice."""
    from dailypapers.community.secret_key import load_secret_key

    key = load_secret_key(settings)
    today = today or local_now(settings).date()
    with read_transaction(engine) as conn:
        try:
            period = outbox.target_period(conn, kind, day, today)
        except outbox.NotReady as exc:
            period = None
            log_line(f"{kind} digest: nothing to build: {exc}")
    if period is not None:
        _build(settings, engine, kind, period, log_line)
    return deliver(settings, engine, key, backend=backend, stop=stop, log_line=log_line)


def _build(settings: Settings, engine: Engine, kind: str, period: catalog.Period,
           log_line: Callable[[str], Any]) -> None:
    search = None
    with read_transaction(engine) as conn:
        if outbox.find(conn, kind, period) is not None:
            log_line(f"{kind} digest {period.label}: built already")
            return
        wants_search = conn.execute(sa.select(subscription_topics.c.subscription_id)
                                    .where(subscription_topics.c.kind == "search").limit(1)).first()
    if wants_search:
        from dailypapers.index.search import SearchService

        search = SearchService.from_settings(engine, settings)
        search.catch_up()
    domain = settings.mail_from.rpartition("@")[2].strip(" >") or "localhost"
    with write_transaction(engine, changes=None) as conn:
        built = outbox.build(conn, kind, period, base_url=settings.base_url,
                             sender_domain=domain, search=search)
    if built is None:
        log_line(f"{kind} digest {period.label}: no confirmed {kind} subscriber, nothing built")
    elif built.created:
        log_line(f"{kind} digest {period.label}: built, {built.pending} mails to send, "
                 f"{built.skipped} readers with nothing new")
