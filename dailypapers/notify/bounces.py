"""Bounces and complaints: what `dailypapers mail bounce` does with one returned message.

Two kinds of report are read, both ``multipart/report`` (parsed with the stdlib ``email``
package): a delivery status notification (RFC 3464, ``report-type=delivery-status``: per
recipient an Action and an enhanced Status, 5.x.x a hard bounce, 4.x.x a soft one) and an ARF
complaint (RFC 5965, ``report-type=feedback-report``).

The subscription is found, in this order, by the VERP address the report was delivered to
(notify/verp.py: the envelope recipient given on the command line, else the report's
``X-Original-To``, ``Delivered-To`` or ``To``; its signed token names the outbox row), by the
returned message's Message-ID (``digest_outbox.message_id``, fixed when the row was made), or by
the failed recipient's address (``email_key``). A VERP address whose token does not verify is
refused outright (:class:`Unreadable`): a forged bounce must not fall through to the address it
names.

Rules: a hard bounce or a complaint suppresses at once; a soft bounce is recorded, and two
within :data:`SOFT_WINDOW` of each other suppress. The window judges by when each bounce
happened, the report's own ``Arrival-Date`` (else its ``Date``), never later than when it is
read: a bounce mailbox piped days late still counts right. A delay warning (``Action: delayed``)
is recorded as ``delayed`` and never counts. Lifting a suppression (:func:`lift`) records a
``lifted`` event; soft bounces read before it no longer count. Every report applied is a
``mail_events`` row. A report that cannot be read or matched raises :class:`Unreadable` before
anything is written. Only validated tokens (status codes, feedback types) reach stored reasons,
so nothing a sender of the report typed is shown verbatim beside the address.

Services take a connection and never commit.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import Message
from email.parser import HeaderParser
from email.utils import getaddresses, parsedate_to_datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dailypapers.db.engine import db_now
from dailypapers.db.schema import digest_outbox, mail_events, subscriptions
from dailypapers.notify import verp

SOFT_LIMIT = 2  # soft bounces within SOFT_WINDOW that stop the mail
SOFT_WINDOW = dt.timedelta(days=7)
MAX_REPORT_BYTES = 10 * 1024 * 1024  # a report quoting a whole digest is far smaller
_STATUS = re.compile(r"([245])\.\d{1,3}\.\d{1,3}(?![\d.])")
_FEEDBACK_TYPE = re.compile(r"[a-z][a-z0-9-]{0,31}")
_MESSAGE_ID = re.compile(r"<[^<>\s]{1,250}>")


class Unreadable(ValueError):
    """Not a report we can apply; the message is the one-line reason."""


@dataclass
class Report:
    kind: str  # hard | soft | complaint | delayed
    status: str  # 5.1.1, 4.2.2, or the complaint's feedback type
    recipients: list[str] = field(default_factory=list)  # lowercased, the failed ones first
    message_id: str | None = None  # the returned message's
    occurred_at: dt.datetime | None = None  # the report's Arrival-Date or Date, aware
    delivered_to: list[str] = field(default_factory=list)  # where the report was sent: VERP


# --- reading ---------------------------------------------------------------------------------


def _one_line(text: str, limit: int = 80) -> str:
    return " ".join(str(text).split())[:limit]


def _address(value: str | None) -> str | None:
    """``rfc822; ann@example.org`` (DSN and ARF fields) or a header's address, lowercased."""
    if not value:
        return None
    text = str(value)
    if ";" in text:
        address_type, _, text = text.partition(";")
        if address_type.strip().lower() != "rfc822":
            return None
    found = [addr for _name, addr in getaddresses([text]) if "@" in addr]
    address = found[0].strip().lower() if found else ""
    if not address or len(address) > 320 or any(c.isspace() or ord(c) < 32 for c in address):
        return None
    return address


def _original_headers(report: Message) -> Message | None:
    """The returned message's headers: a message/rfc822 part or a text/rfc822-headers part."""
    for part in report.walk():
        kind = part.get_content_type()
        if kind == "message/rfc822":
            payload = part.get_payload()
            if isinstance(payload, list) and payload:
                return payload[0]
        elif kind == "text/rfc822-headers":
            text = part.get_payload(decode=True) or b""
            return HeaderParser().parsestr(text.decode("utf-8", "replace"))
    return None


def _message_id(original: Message | None) -> str | None:
    if original is None:
        return None
    match = _MESSAGE_ID.search(str(original.get("Message-ID", "")))
    return match.group(0) if match else None


def _part(report: Message, content_type: str) -> Message | None:
    return next((p for p in report.walk() if p.get_content_type() == content_type), None)


def _delivery_status(report: Message, original: Message | None) -> Report:
    part = _part(report, "message/delivery-status")
    blocks = part.get_payload() if part is not None else None
    if not isinstance(blocks, list) or len(blocks) < 2:
        raise Unreadable("delivery status report without per-recipient fields")
    failed: list[tuple[str, str | None]] = []
    delayed: list[tuple[str, str | None]] = []
    for block in blocks[1:]:  # the first block is about the message, the rest per recipient
        action = _one_line(block.get("Action", "")).lower()
        if action not in ("failed", "delayed"):
            continue  # delivered, relayed, expanded: not a bounce
        match = _STATUS.match(_one_line(block.get("Status", "")))
        if match is None:
            raise Unreadable(f"{action} recipient with an unreadable Status "
                             f"{_one_line(block.get('Status', ''), 40)!r}")
        if match.group(1) == "2":
            continue
        address = _address(block.get("Final-Recipient")) or _address(
            block.get("Original-Recipient"))
        (failed if action == "failed" else delayed).append((match.group(0), address))
    when = _report_date(report, blocks[0])
    if not failed and delayed:  # a warning: the relay still tries; recorded, never a bounce
        return Report("delayed", delayed[0][0], [a for _s, a in delayed if a],
                      _message_id(original), when)
    if not failed:
        raise Unreadable("delivery status report with no failed or delayed recipient")
    # One digest goes to one address: the worst status decides (a hard bounce before a soft).
    failed.sort(key=lambda item: item[0][0], reverse=True)
    status = failed[0][0]
    return Report("hard" if status.startswith("5") else "soft", status,
                  [a for _s, a in failed if a], _message_id(original), when)


def _report_date(report: Message, fields: Message | None) -> dt.datetime | None:
    """When it happened: the report's ``Arrival-Date`` field (when the reporting server got
    the mail), else its ``Date`` header; None when neither can be read."""
    for value in ((fields.get("Arrival-Date") if fields is not None else None),
                  report.get("Date")):
        try:
            stamp = parsedate_to_datetime(_one_line(value or "", 100)) if value else None
        except (TypeError, ValueError, IndexError, OverflowError):
            stamp = None
        if stamp is not None:
            # RFC 5322's "-0000" (no zone known) parses naive: taken as UTC.
            return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.timezone.utc)
    return None


def _feedback(report: Message, original: Message | None) -> Report:
    part = _part(report, "message/feedback-report")
    fields = None
    if part is not None:
        payload = part.get_payload()
        fields = payload[0] if isinstance(payload, list) and payload else None
    if fields is None:
        raise Unreadable("complaint without a message/feedback-report part")
    kind = _one_line(fields.get("Feedback-Type", "")).lower()
    if not _FEEDBACK_TYPE.fullmatch(kind):
        raise Unreadable("complaint without a readable Feedback-Type")
    recipients = [a for a in (_address(v) for v in fields.get_all("Original-Rcpt-To", []))
                  if a]
    if original is not None:
        recipients += [a for a in (_address(v) for v in original.get_all("To", [])) if a]
    return Report("complaint", kind, recipients, _message_id(original),
                  _report_date(report, fields))


def parse_report(data: bytes, envelope_recipient: str | None = None) -> Report:
    """The bounce or complaint in ``data`` (one whole message), or :class:`Unreadable`.
    ``envelope_recipient``: the address the report was delivered to, when the mail system
    says (a VERP address is looked for there first, then in the report's headers)."""
    if not data.strip():
        raise Unreadable("empty input: pipe one message on standard input")
    if len(data) > MAX_REPORT_BYTES:
        raise Unreadable(f"message larger than {MAX_REPORT_BYTES} bytes")
    try:
        report = email.message_from_bytes(data, policy=email.policy.compat32)
    except Exception as exc:  # noqa: BLE001 - the parser is lenient; anything else is unreadable
        raise Unreadable(f"not a mail message ({_one_line(exc, 60)})") from None
    if report.get_content_type() != "multipart/report":
        raise Unreadable(f"not a multipart/report but {_one_line(report.get_content_type(), 60)}")
    report_type = _one_line(report.get_param("report-type") or "").lower()
    original = _original_headers(report)
    if report_type == "delivery-status":
        parsed = _delivery_status(report, original)
    elif report_type == "feedback-report":
        parsed = _feedback(report, original)
    else:
        raise Unreadable(f"report-type {report_type[:40]!r} is neither delivery-status nor "
                         "feedback-report")
    parsed.delivered_to = ([envelope_recipient] if envelope_recipient else []) + [
        str(v) for name in ("X-Original-To", "Delivered-To", "To")
        for v in report.get_all(name, [])]
    return parsed


# --- applying --------------------------------------------------------------------------------


def find_subscription(conn: Connection, report: Report, bounce_address: str = "",
                      keys: Sequence[bytes] = ()) -> tuple[int, str] | None:
    """(subscription id, its address): by the VERP address the report was delivered to, else
    by the Message-ID of an outbox row, else by the failed recipient's address."""
    try:
        row_id = verp.outbox_id_in(report.delivered_to, bounce_address, keys)
    except verp.ForgedToken as exc:
        raise Unreadable(str(exc)) from None
    by_row = sa.select(subscriptions.c.id, subscriptions.c.email).join(
        digest_outbox, digest_outbox.c.subscription_id == subscriptions.c.id)
    if row_id is not None:
        row = conn.execute(by_row.where(digest_outbox.c.id == row_id)).first()
        if row is not None:
            return row.id, row.email
    if report.message_id:
        row = conn.execute(by_row.where(digest_outbox.c.message_id == report.message_id)
                           .limit(1)).first()
        if row is not None:
            return row.id, row.email
    for address in report.recipients:
        row = conn.execute(sa.select(subscriptions.c.id, subscriptions.c.email)
                           .where(subscriptions.c.email_key == address)).first()
        if row is not None:
            return row.id, row.email
    return None


def _suppress(conn: Connection, subscription_id: int, reason: str, now: dt.datetime) -> None:
    conn.execute(subscriptions.update().where(subscriptions.c.id == subscription_id)
                 .values(state="suppressed", suppressed_reason=reason[:200],
                         state_changed_at=now, updated_at=now))


def _soft_bounces_near(conn: Connection, subscription_id: int, when: dt.datetime) -> int:
    """Soft bounces of this subscription that happened within SOFT_WINDOW of ``when`` (either
    side: reports arrive out of order), not counting those read before the last lift."""
    lifted = conn.execute(sa.select(sa.func.max(mail_events.c.received_at)).where(
        mail_events.c.subscription_id == subscription_id,
        mail_events.c.kind == "lifted")).scalar()
    query = sa.select(sa.func.count()).select_from(mail_events).where(
        mail_events.c.subscription_id == subscription_id, mail_events.c.kind == "soft",
        mail_events.c.occurred_at > when - SOFT_WINDOW,
        mail_events.c.occurred_at < when + SOFT_WINDOW)
    if lifted is not None:
        query = query.where(mail_events.c.received_at > lifted)
    return conn.execute(query).scalar() or 0


def apply_report(conn: Connection, report: Report, now: dt.datetime | None = None, *,
                 bounce_address: str = "", keys: Sequence[bytes] = ()) -> str:
    """Record ``report`` and stop the mail when the rules say so; the one line to print.
    Raises :class:`Unreadable` (nothing written) when no subscription matches, or when the
    VERP address it was sent to (DAILYPAPERS_MAIL_BOUNCE_ADDRESS, tokens checked with
    ``keys``) carries a token that does not verify."""
    found = find_subscription(conn, report, bounce_address, keys)
    if found is None:
        named = ", ".join(report.recipients[:3]) or "no recipient"
        raise Unreadable(f"no subscription matches (Message-ID "
                         f"{report.message_id or 'none'}; {_one_line(named, 120)})")
    sid, address = found
    now = now or db_now(conn)
    when = min(report.occurred_at or now, now)  # a date in the future is not believed
    # Locked (PostgreSQL; SQLite's one writer already serialises): two soft bounces applied
    # at once must see each other, or neither would suppress.
    state = conn.execute(sa.select(subscriptions.c.state).where(subscriptions.c.id == sid)
                         .with_for_update()).scalar()
    conn.execute(mail_events.insert().values(
        subscription_id=sid, kind=report.kind, status=report.status,
        message_id=report.message_id, received_at=now, occurred_at=when))
    label = {"hard": "hard bounce", "soft": "soft bounce", "complaint": "complaint",
             "delayed": "delay warning"}[report.kind]
    if state == "suppressed":
        return f"{address} already suppressed; recorded {label} {report.status}"
    if report.kind == "delayed":
        return f"recorded delay warning {report.status} for {address} (not a bounce)"
    if report.kind in ("hard", "complaint"):
        reason = f"{label} {report.status}"
    else:
        recent = _soft_bounces_near(conn, sid, when)
        if recent < SOFT_LIMIT:
            return f"recorded soft bounce {recent} of {SOFT_LIMIT} for {address}"
        reason = f"{recent} soft bounces within {SOFT_WINDOW.days} days ({report.status})"
    _suppress(conn, sid, reason, now)
    return f"suppressed {address} ({reason})"


class NotSuppressed(LookupError):
    """No subscription has this address; ``str(exc)`` says so in one line."""


def lift(conn: Connection, raw_address: str, by: str) -> str:
    """Send to this address again: a suppressed subscription goes back to confirmed (or
    unconfirmed, if it never was), its reason cleared, a ``lifted`` event recorded (``by``:
    who, e.g. ``admin:ada``), so soft bounces before it no longer count. The line to print;
    :class:`NotSuppressed` when no subscription has the address."""
    from dailypapers.notify.subscriptions import SubscriptionError, normalise_address

    keys = [str(raw_address).strip().lower()[:320]]
    try:  # as typed, then as the form stores it (an internationalised domain in ASCII)
        keys.append(normalise_address(str(raw_address))[1])
    except SubscriptionError:
        pass
    row = conn.execute(sa.select(subscriptions.c.id, subscriptions.c.email,
                                 subscriptions.c.state, subscriptions.c.confirmed_at)
                       .where(subscriptions.c.email_key.in_(keys)).with_for_update()).first()
    if row is None:
        raise NotSuppressed(f"no subscription for {_one_line(raw_address, 120)!r}")
    if row.state != "suppressed":
        return f"{row.email} is not suppressed ({row.state}): nothing changed"
    now = db_now(conn)
    back = "confirmed" if row.confirmed_at is not None else "unconfirmed"
    conn.execute(subscriptions.update().where(subscriptions.c.id == row.id).values(
        state=back, suppressed_reason=None, state_changed_at=now, updated_at=now))
    conn.execute(mail_events.insert().values(subscription_id=row.id, kind="lifted",
                                             status=by[:32], received_at=now, occurred_at=now))
    return f"lifted the suppression of {row.email}: {back} again"


# --- what administrators and `dailypapers status` see ---------------------------------------


def suppressed(conn: Connection, limit: int = 500) -> list[dict]:
    """The stopped addresses, latest first."""
    rows = conn.execute(
        sa.select(subscriptions.c.id, subscriptions.c.email, subscriptions.c.suppressed_reason,
                  subscriptions.c.state_changed_at)
        .where(subscriptions.c.state == "suppressed")
        .order_by(subscriptions.c.state_changed_at.desc(), subscriptions.c.id.desc())
        .limit(limit)).mappings()
    return [dict(r) for r in rows]


def suppressed_count(conn: Connection) -> int:
    return conn.execute(sa.select(sa.func.count()).select_from(subscriptions)
                        .where(subscriptions.c.state == "suppressed")).scalar() or 0


def status_lines(conn: Connection) -> list[str]:
    events = dict(conn.execute(sa.select(mail_events.c.kind, sa.func.count())
                               .group_by(mail_events.c.kind)).all())
    return [f"Suppressed addresses: {suppressed_count(conn)} (bounces and complaints recorded: "
            f"{events.get('hard', 0)} hard, {events.get('soft', 0)} soft, "
            f"{events.get('complaint', 0)} complaints; {events.get('delayed', 0)} delay "
            f"warnings, {events.get('lifted', 0)} suppressions lifted)"]
