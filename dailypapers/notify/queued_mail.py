"""One-off mails (password reset, subscription confirmation) sent by a queue worker.

With DAILYPAPERS_QUEUE_URL set, a web request sends no mail itself: it adds a ``queued_mail``
row in its own transaction — the kind, whom it is for (a user or subscription id) and the
site's address for links, never a token or a link — and after the commit enqueues a task
carrying the row's id (queue.py's ``mail`` task). The worker then (:func:`send_queued`):

1. claims the row (``lease_until``, ``attempts`` + 1) and, in the same transaction, makes what
   the mail needs: a reset token for a reset (stored hashed as ever; the link exists only in the
   mail), a freshly signed link for a subscription. Committed before the mail goes out, so the
   link works when it arrives;
2. sends the mail, recorded in ``sent_mail`` as every mail is;
3. marks the row ``sent``; after a failure it raises, so dramatiq retries with its backoff, and
   once ``DAILYPAPERS_QUEUE_MAX_RETRIES`` retries are spent it marks the row ``failed``.

A row left pending — its enqueue failed after the commit (the queue was down), or its worker
died between 2 and 3 — is enqueued again by the scheduler's sweep (:func:`take_due`) once its
``due_at`` passed: a mail may go out twice, never zero times. Without a queue none of this
runs: the routes send after their commit, in the web process, as before.

The mails' texts live here, for both ways of sending.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from dailypapers.community.resets import ResetRequest, reset_for_user
from dailypapers.db.engine import db_now, write_transaction
from dailypapers.db.schema import queued_mail
from dailypapers.notify import subscriptions as subs
from dailypapers.notify import tokens
from dailypapers.notify.mail import Mail, MailBackend, send_and_record
from dailypapers.settings import Settings

KINDS = ("password_reset", "subscription_confirm", "subscription_manage")
# A fresh row's enqueue should have reached a worker well within this; after it, the sweep
# enqueues the row again.
SWEEP_AFTER = dt.timedelta(seconds=60)
MAX_BACKOFF = dt.timedelta(hours=1)  # queue.py's MAX_BACKOFF_MS
KEEP_DAYS = 30  # rows done this long ago are pruned by the scheduler


class MailNotSent(Exception):
    """The backend refused this attempt; the queue retries the task after its backoff."""


# --- the mails --------------------------------------------------------------------------------

RESET_MAIL = """Hello {username},

someone (we hope you) asked to reset your password on {site}.
Open this link within {minutes} minutes to choose a new one; it works once:

{link}

If you did not ask, ignore this mail: your password stays as it is.
"""

CONFIRM_MAIL = """Hello,

someone (we hope you) asked {site} to mail its papers digest to this address.
Open this link within {hours} hours and press the button to confirm:

{link}

If you did not ask, ignore this mail: nothing more will be sent.
"""

MANAGE_MAIL = """Hello,

someone (we hope you) asked {site} to mail its papers digest to this address, which
already receives it. Nothing has changed. To change what arrives, or to unsubscribe:

{link}
"""


def reset_mail(settings: Settings, base_url: str, reset: ResetRequest) -> Mail:
    return Mail(to=reset.email, kind="password_reset", user_id=reset.user_id,
                subject=f"Reset your password on {settings.site_name}",
                text=RESET_MAIL.format(username=reset.username, site=settings.site_name,
                                       link=f"{base_url}/reset/{reset.token}",
                                       minutes=int(settings.password_reset_minutes)))


def subscription_mail(settings: Settings, base_url: str, key: bytes, kind: str,
                      subscription_id: int, address: str) -> Mail:
    """``kind``: subscription_confirm (the double opt-in link) or subscription_manage (the
    address already receives the digest: a link to its preferences)."""
    site = settings.site_name
    if kind == "subscription_confirm":
        url = base_url + tokens.link_path(key, "confirm", subscription_id)
        return Mail(to=address, kind=kind, subject=f"Confirm your {site} digest",
                    text=CONFIRM_MAIL.format(site=site, link=url,
                                             hours=int(settings.subscribe_confirm_hours)))
    url = base_url + tokens.link_path(key, "manage", subscription_id)
    return Mail(to=address, kind="subscription_manage", subject=f"Your {site} digest",
                text=MANAGE_MAIL.format(site=site, link=url))


# --- rows -------------------------------------------------------------------------------------


def add(conn: Connection, kind: str, base_url: str, *, user_id: int | None = None,
        subscription_id: int | None = None) -> int:
    """A mail to send once this transaction commits; enqueue its id after the commit."""
    if kind not in KINDS:
        raise ValueError(f"unknown mail kind {kind!r}")
    now = db_now(conn)
    return conn.execute(queued_mail.insert().values(
        kind=kind, user_id=user_id, subscription_id=subscription_id, base_url=base_url,
        state="pending", attempts=0, due_at=now + SWEEP_AFTER, created_at=now,
    ).returning(queued_mail.c.id)).scalar_one()


def max_attempts(settings: Settings) -> int:
    return settings.queue_max_retries + 1


def lease_seconds(settings: Settings) -> float:
    """How long a worker holds a row: one SMTP conversation's timeouts, with room to spare."""
    return 2 * settings.mail_smtp_timeout_seconds + 30


def claim(conn: Connection, mail_id: int, lease: float, attempts: int) -> Any:
    """Hold a pending row for one attempt: the row, or None when it is done, gone, held by a
    live attempt, or has had its ``attempts``."""
    now = db_now(conn)
    until = now + dt.timedelta(seconds=lease)
    taken = conn.execute(queued_mail.update().where(
        queued_mail.c.id == mail_id, queued_mail.c.state == "pending",
        queued_mail.c.attempts < attempts,
        sa.or_(queued_mail.c.lease_until.is_(None), queued_mail.c.lease_until <= now),
    ).values(lease_until=until, due_at=until, attempts=queued_mail.c.attempts + 1))
    if taken.rowcount != 1:
        return None
    return conn.execute(sa.select(queued_mail).where(queued_mail.c.id == mail_id)).one()


def _finish(conn: Connection, mail_id: int, state: str, error: str | None = None) -> None:
    conn.execute(queued_mail.update().where(queued_mail.c.id == mail_id).values(
        state=state, error=error, lease_until=None, finished_at=db_now(conn)))


def _compose(conn: Connection, settings: Settings, row: Any, key: bytes | None) -> Mail | None:
    """The mail for a claimed row, its credential made now; None when there is nobody to send
    it to any more (the account lost its address or was suspended, the subscription moved on)."""
    if row.kind == "password_reset":
        reset = reset_for_user(conn, row.user_id)
        return reset_mail(settings, row.base_url, reset) if reset is not None else None
    found = subs.get(conn, row.subscription_id)
    wanted = "unconfirmed" if row.kind == "subscription_confirm" else "confirmed"
    if found is None or found.state != wanted:
        return None
    if key is None:
        from dailypapers.community.secret_key import load_secret_key

        key = load_secret_key(settings)
    return subscription_mail(settings, row.base_url, key, row.kind, found.id, found.email)


def send_queued(settings: Settings, engine: Engine, backend: MailBackend, mail_id: int, *,
                key: bytes | None = None, lease: float | None = None) -> str:
    """Send one queued mail: "sent", "skipped" (nobody to send to), "failed" (its last attempt
    failed), "held" (done already, or another worker holds it: nothing to do). Raises
    :class:`MailNotSent` after a failed attempt with attempts left."""
    limit = max_attempts(settings)
    with write_transaction(engine, changes=None) as conn:
        row = claim(conn, mail_id, lease or lease_seconds(settings), limit)
        if row is None:
            return "held"
        mail = _compose(conn, settings, row, key)
        if mail is None:
            _finish(conn, mail_id, "skipped")
            return "skipped"
    error = send_and_record(engine, backend, settings.mail_from, mail)
    with write_transaction(engine, changes=None) as conn:
        if error is None:
            _finish(conn, mail_id, "sent")
            return "sent"
        if row.attempts >= limit:
            _finish(conn, mail_id, "failed", error)
            return "failed"
        # Released for the queue's retry; the sweep waits out the longest backoff it may take.
        backoff = min(MAX_BACKOFF, dt.timedelta(seconds=settings.queue_retry_seconds
                                                * 2 ** (row.attempts + 1)))
        conn.execute(queued_mail.update().where(queued_mail.c.id == mail_id).values(
            lease_until=None, error=error,
            due_at=db_now(conn) + backoff + dt.timedelta(seconds=lease_seconds(settings))))
    raise MailNotSent(error)


# --- the scheduler's sweep --------------------------------------------------------------------


def take_due(engine: Engine, settings: Settings, now: dt.datetime | None = None,
             limit: int = 100) -> list[int]:
    """Pending rows past ``due_at`` with no live attempt, each made due again a lease later (of
    several schedulers, one takes each): the ones to enqueue again. Rows whose attempts are
    spent (their last worker died) are marked failed instead. ``now``: tests look ahead."""
    lease = dt.timedelta(seconds=lease_seconds(settings))
    taken: list[int] = []
    with write_transaction(engine, changes=None) as conn:
        when = now or db_now(conn)
        c = queued_mail.c
        due = sa.and_(c.state == "pending", c.due_at <= when,
                      sa.or_(c.lease_until.is_(None), c.lease_until <= when))
        conn.execute(queued_mail.update().where(due, c.attempts >= max_attempts(settings))
                     .values(state="failed", lease_until=None, finished_at=when,
                             error=sa.func.coalesce(c.error, "its worker stopped answering")))
        for mail_id in conn.execute(sa.select(c.id).where(due).order_by(c.id).limit(limit)
                                    ).scalars().all():
            won = conn.execute(queued_mail.update().where(due, c.id == mail_id)
                               .values(due_at=when + lease))
            if won.rowcount == 1:
                taken.append(mail_id)
    return taken


def release(engine: Engine, mail_ids: list[int]) -> None:
    """Make rows due at once again (the sweep could not enqueue them: the queue is down)."""
    if mail_ids:
        with write_transaction(engine, changes=None) as conn:
            conn.execute(queued_mail.update().where(queued_mail.c.id.in_(mail_ids))
                         .values(due_at=db_now(conn)))


def prune(engine: Engine, days: int = KEEP_DAYS) -> int:
    with write_transaction(engine, changes=None) as conn:
        cutoff = db_now(conn) - dt.timedelta(days=days)
        return conn.execute(queued_mail.delete().where(queued_mail.c.state != "pending",
                                                       queued_mail.c.finished_at < cutoff)).rowcount


# --- what `dailypapers jobs` and /admin/jobs show ---------------------------------------------


@dataclass
class MailSummary:
    waiting: int  # pending: queued, being sent, or waiting for a retry
    sent: int  # in the last day
    failed: int  # in the last day
    oldest_waiting: dt.datetime | None


def summary(conn: Connection) -> MailSummary:
    c = queued_mail.c
    day_ago = db_now(conn) - dt.timedelta(days=1)

    def count(condition: Any) -> Any:
        return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)

    row = conn.execute(sa.select(
        count(c.state == "pending"),
        count(sa.and_(c.state == "sent", c.finished_at >= day_ago)),
        count(sa.and_(c.state == "failed", c.finished_at >= day_ago)),
        sa.func.min(sa.case((c.state == "pending", c.created_at))),
    )).one()
    return MailSummary(int(row[0]), int(row[1]), int(row[2]), row[3])
