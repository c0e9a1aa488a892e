"""`dailypapers mail bounce` on SQLite and PostgreSQL: delivery status notifications (RFC 3464)
and ARF complaints (RFC 5965), built with the stdlib email package, piped to the real command;
the subscription found by the Message-ID of a real outbox row or by the recipient's address;
hard bounce and complaint suppress at once, soft bounces only twice within 7 days; what it
cannot read exits 2 and changes nothing; `status` counts the stopped addresses and
administrators (only) see them, hostile text inert."""

from __future__ import annotations

import datetime as dt
from email.message import Message
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path

import httpx
import lxml.html
import sqlalchemy as sa

from dailypapers import catalog
from dailypapers.db.engine import read_transaction, write_transaction
from dailypapers.db.schema import digest_outbox, mail_events, subscriptions
from dailypapers.notify import bounces, outbox
from dailypapers.notify.delivery import deliver
from tests.conftest import TEST_SECRET_KEY
from tests.digest_helpers import BASE, ScriptedInbox, feature, outbox_rows, smtp_settings, subscribe
from tests.mail_helpers import smtp_server
from tests.moderation_helpers import add_person, site
from tests.test_cli import cli, data_dir  # noqa: F401  (fixtures)

DAY = "2026-03-30"


# --- reports, as mail servers send them --------------------------------------------------------


def _original(to: str, message_id: str | None) -> Message:
    original = MIMEText("Your digest", "plain")
    original["From"] = "Daily Papers <digest@papers.example.org>"
    original["To"] = to
    original["Subject"] = "Daily papers"
    if message_id:
        original["Message-ID"] = message_id
    return original


def dsn(recipient: str, status: str, *, message_id: str | None = None, action: str = "failed",
        headers_only: bool = False, original_to: str | None = None,
        returned: Message | None = None, arrival: str | None = None,
        headers: dict[str, str] | None = None) -> bytes:
    """A delivery status notification for one recipient, with the returned message (whole, or
    its headers only as text/rfc822-headers); ``arrival``: its Arrival-Date, ``headers``: the
    report's own (To, Date, X-Original-To, …)."""
    report = MIMEMultipart("report", **{"report-type": "delivery-status"})
    report["From"] = "Mail Delivery System <MAILER-DAEMON@mx.example.net>"
    for name, value in {"To": "digest@papers.example.org", **(headers or {})}.items():
        report[name] = value
    report["Subject"] = "Undelivered Mail Returned to Sender"
    report.attach(MIMEText("This is the mail system. Your message could not be delivered."))
    status_part = Message()
    status_part["Content-Type"] = "message/delivery-status"
    per_message = Message()
    per_message["Reporting-MTA"] = "dns; mx.example.net"
    if arrival:
        per_message["Arrival-Date"] = arrival
    per_recipient = Message()
    per_recipient["Final-Recipient"] = f"rfc822; {recipient}"
    per_recipient["Action"] = action
    per_recipient["Status"] = status
    per_recipient["Diagnostic-Code"] = f"smtp; 550 {status} <{recipient}>: no such user"
    status_part.set_payload([per_message, per_recipient])
    report.attach(status_part)
    original = returned or _original(original_to or recipient, message_id)
    if headers_only:
        text = "".join(f"{k}: {v}\n" for k, v in original.items())
        report.attach(MIMEText(text, "rfc822-headers"))
    else:
        report.attach(MIMEMessage(original))
    return report.as_bytes()


def arf(recipient: str | None, *, message_id: str | None = None, original_to: str = "",
        feedback_type: str = "abuse") -> bytes:
    report = MIMEMultipart("report", **{"report-type": "feedback-report"})
    report["From"] = "feedback@isp.example.net"
    report["Subject"] = "FW: Daily papers"
    report.attach(MIMEText("This is an email abuse report."))
    fields = Message()
    fields["Feedback-Type"] = feedback_type
    fields["User-Agent"] = "SomeGenerator/1.0"
    fields["Version"] = "1"
    if recipient:
        fields["Original-Rcpt-To"] = recipient
    part = MIMEMessage(fields, "feedback-report")
    report.attach(part)
    report.attach(MIMEMessage(_original(original_to or "redacted@isp.example.net", message_id)))
    return report.as_bytes()


# --- helpers -----------------------------------------------------------------------------------


def _subs(engine) -> dict[str, tuple]:
    with read_transaction(engine) as conn:
        rows = conn.execute(sa.select(subscriptions.c.email, subscriptions.c.state,
                                      subscriptions.c.suppressed_reason)).all()
    return {r.email: (r.state, r.suppressed_reason) for r in rows}


def _events(engine) -> list[tuple]:
    with read_transaction(engine) as conn:
        return [tuple(r) for r in conn.execute(
            sa.select(subscriptions.c.email, mail_events.c.kind, mail_events.c.status,
                      mail_events.c.message_id)
            .join(subscriptions, subscriptions.c.id == mail_events.c.subscription_id)
            .order_by(mail_events.c.id))]


def _outbox_message_ids(engine, tmp_path: Path) -> dict[int, str]:
    """A real digest built for the confirmed subscribers: their outbox rows' Message-IDs."""
    feature(engine, tmp_path, DAY, {"2603.10001": 5.0})
    with write_transaction(engine) as conn:
        built = outbox.build(conn, "daily", catalog.day_period(dt.date.fromisoformat(DAY)),
                             base_url=BASE, sender_domain="papers.example.org", search=None)
    assert built is not None and built.pending >= 1
    with read_transaction(engine) as conn:
        return dict(conn.execute(sa.select(digest_outbox.c.subscription_id,
                                           digest_outbox.c.message_id)).all())


def _bounce(cli, data: bytes):  # noqa: F811
    return cli("mail", "bounce", input=data)


# --- the rules ---------------------------------------------------------------------------------


def test_hard_bounce_found_by_outbox_message_id(cli, engine, tmp_path) -> None:  # noqa: F811
    ann = subscribe(engine, "Ann@example.org")
    subscribe(engine, "bob@example.org")
    ids = _outbox_message_ids(engine, tmp_path)
    # The report names an alias the mail was forwarded to: only the Message-ID finds Ann.
    result = _bounce(cli, dsn("ann.forward@elsewhere.example", "5.1.1", message_id=ids[ann]))
    assert result.exit_code == 0, result.output
    assert result.stdout == "suppressed Ann@example.org (hard bounce 5.1.1)\n"
    assert _subs(engine) == {"Ann@example.org": ("suppressed", "hard bounce 5.1.1"),
                             "bob@example.org": ("confirmed", None)}
    assert _events(engine) == [("Ann@example.org", "hard", "5.1.1", ids[ann])]
    # The same again (a second report of one failure): recorded, still suppressed.
    again = _bounce(cli, dsn("ann.forward@elsewhere.example", "5.1.1", message_id=ids[ann],
                             headers_only=True))
    assert again.exit_code == 0
    assert again.stdout == "Ann@example.org already suppressed; recorded hard bounce 5.1.1\n"
    assert len(_events(engine)) == 2


def test_a_delivered_digest_bounced_back_stops_the_next_one(cli, settings, engine,  # noqa: F811
                                                            tmp_path) -> None:
    """The round trip: a digest really sent over SMTP comes back as a DSN quoting it whole; the
    bounce finds the subscriber by its Message-ID, and the next day's digest leaves it out."""
    ann = subscribe(engine, "ann@example.org")
    subscribe(engine, "bob@example.org")
    inbox = ScriptedInbox()
    with smtp_server(inbox) as controller:
        ids = _outbox_message_ids(engine, tmp_path)
        report = deliver(smtp_settings(settings, controller.port), engine,
                         TEST_SECRET_KEY.encode())
        assert report.sent == 2
        (returned,) = [m for m in inbox.messages if m["To"] == "ann@example.org"]
        assert returned["Message-ID"] == ids[ann]
        result = _bounce(cli, dsn("ann@mx.example.org", "5.1.1", returned=returned))
        assert result.stdout == "suppressed ann@example.org (hard bounce 5.1.1)\n"
        feature(engine, tmp_path, "2026-03-31", {"2603.10002": 4.0})
        with write_transaction(engine) as conn:
            outbox.build(conn, "daily", catalog.day_period(dt.date(2026, 3, 31)),
                         base_url=BASE, sender_domain="papers.example.org", search=None)
    rows = [(r["email"], r["state"]) for r in outbox_rows(engine)]
    assert rows.count(("ann@example.org", "sent")) == 1
    assert [e for e, _s in rows].count("ann@example.org") == 1  # none in the second digest
    assert [e for e, _s in rows].count("bob@example.org") == 2


def test_hard_bounce_found_by_recipient_address(cli, engine) -> None:  # noqa: F811
    subscribe(engine, "carl@example.org")
    subscribe(engine, "dora@example.org")
    result = _bounce(cli, dsn("CARL@example.org", "5.1.1", message_id="<unknown@elsewhere>"))
    assert result.exit_code == 0, result.output
    assert result.stdout == "suppressed carl@example.org (hard bounce 5.1.1)\n"
    assert _subs(engine)["carl@example.org"][0] == "suppressed"
    assert _subs(engine)["dora@example.org"][0] == "confirmed"


def _soft_before(engine, address: str, days: float) -> None:
    """An earlier soft bounce, ``days`` ago (applied through the service with its time)."""
    earlier = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days)
    with write_transaction(engine) as conn:
        line = bounces.apply_report(conn, bounces.Report("soft", "4.2.2", [address]), now=earlier)
    assert line == f"recorded soft bounce 1 of 2 for {address}"


def test_two_soft_bounces_within_seven_days_suppress(cli, engine) -> None:  # noqa: F811
    subscribe(engine, "eve@example.org")
    subscribe(engine, "finn@example.org")
    _soft_before(engine, "eve@example.org", 6.9)   # within the week
    _soft_before(engine, "finn@example.org", 7.1)  # just outside it
    eve = _bounce(cli, dsn("eve@example.org", "4.2.2"))
    finn = _bounce(cli, dsn("finn@example.org", "4.2.2"))
    assert eve.exit_code == 0 and finn.exit_code == 0
    assert eve.stdout == "suppressed eve@example.org (2 soft bounces within 7 days (4.2.2))\n"
    assert finn.stdout == "recorded soft bounce 1 of 2 for finn@example.org\n"
    assert _subs(engine)["eve@example.org"] == ("suppressed",
                                                "2 soft bounces within 7 days (4.2.2)")
    assert _subs(engine)["finn@example.org"] == ("confirmed", None)
    assert [e[1] for e in _events(engine)] == ["soft"] * 4


def test_one_soft_bounce_is_only_recorded(cli, engine) -> None:  # noqa: F811
    subscribe(engine, "gus@example.org")
    result = _bounce(cli, dsn("gus@example.org", "4.2.2"))
    assert result.exit_code == 0
    assert result.stdout == "recorded soft bounce 1 of 2 for gus@example.org\n"
    assert _subs(engine)["gus@example.org"] == ("confirmed", None)
    assert _events(engine) == [("gus@example.org", "soft", "4.2.2", None)]


def test_complaint_suppresses_by_message_id_and_by_recipient(  # noqa: F811
        cli, engine, tmp_path) -> None:
    hal = subscribe(engine, "hal@example.org")
    subscribe(engine, "ida@example.org")
    subscribe(engine, "jon@example.org")
    ids = _outbox_message_ids(engine, tmp_path)
    by_id = _bounce(cli, arf(None, message_id=ids[hal]))  # the recipient redacted
    by_rcpt = _bounce(cli, arf("ida@example.org"))
    assert by_id.exit_code == 0 and by_rcpt.exit_code == 0
    assert by_id.stdout == "suppressed hal@example.org (complaint abuse)\n"
    assert by_rcpt.stdout == "suppressed ida@example.org (complaint abuse)\n"
    assert _subs(engine)["jon@example.org"] == ("confirmed", None)
    assert [e[:3] for e in _events(engine)] == [("hal@example.org", "complaint", "abuse"),
                                               ("ida@example.org", "complaint", "abuse")]
    status = cli("status")
    assert "Suppressed addresses: 2 (bounces and complaints recorded: 0 hard, 0 soft, " \
           "2 complaints; 0 delay warnings, 0 suppressions lifted)" in status.stdout


def test_what_it_cannot_read_exits_2_and_changes_nothing(cli, engine) -> None:  # noqa: F811
    subscribe(engine, "kim@example.org")
    _soft_before(engine, "kim@example.org", 1)
    before = (_subs(engine), _events(engine))
    plain = MIMEText("hello")
    plain["To"] = "kim@example.org"
    mdn = MIMEMultipart("report", **{"report-type": "disposition-notification"})
    cases = {
        b"": "empty input",
        b"\x00\xff garbage \r\n\r\n not a mail": "not a multipart/report",
        plain.as_bytes(): "not a multipart/report but text/plain",
        mdn.as_bytes(): "neither delivery-status nor feedback-report",
        dsn("kim@example.org", "2.0.0", action="delivered"): "no failed or delayed recipient",
        dsn("kim@example.org", "five.one.one"): "unreadable Status",
        dsn("nobody@example.org", "5.1.1", message_id="<nope@x>"): "no subscription matches",
        arf("kim@example.org", feedback_type="ab\u00fcse!"): "Feedback-Type",
        arf(None): "no subscription matches",
    }
    for data, reason in cases.items():
        result = _bounce(cli, data)
        assert result.exit_code == 2, (reason, result.output)
        assert result.stdout == ""
        assert reason in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert (_subs(engine), _events(engine)) == before


def test_administrators_see_stopped_addresses_inert(settings, engine) -> None:
    hostile = '"<script>alert(1)</script>\\r\\nBcc: x"@example.org'
    subscribe(engine, hostile, state="suppressed")
    subscribe(engine, "lou@example.org")
    with write_transaction(engine) as conn:
        conn.execute(subscriptions.update().where(subscriptions.c.email == hostile)
                     .values(suppressed_reason="<img src=x onerror=alert(2)>"))
        bounces.apply_report(conn, bounces.Report("hard", "5.1.1", ["lou@example.org"]))
    with site(settings, engine) as server:
        admin = add_person(engine, server.url, "Ada", is_admin=True)
        reader = add_person(engine, server.url, "Rex")
        moderator = add_person(engine, server.url, "Moe", is_moderator=True)
        log = lxml.html.fromstring(admin.http.get("/moderation").text)
        assert log.cssselect('a[href="/admin/mail"]')  # administrators find the page
        assert not lxml.html.fromstring(moderator.http.get("/moderation").text).cssselect(
            'a[href="/admin/mail"]')
        page = admin.http.get("/admin/mail")
        assert page.status_code == 200
        doc = lxml.html.fromstring(page.text)
        rows = [[td.text_content().strip() for td in tr.findall("td")]
                for tr in doc.cssselect("table.mail-suppressed tbody tr")]
        assert sorted((r[1], r[2]) for r in rows) == sorted([
            (hostile, "<img src=x onerror=alert(2)>"),
            ("lou@example.org", "hard bounce 5.1.1")])
        assert not doc.cssselect("main script, main img")
        assert reader.http.get("/admin/mail").status_code == 403
        assert moderator.http.get("/admin/mail").status_code == 403
        anonymous = httpx.get(server.url + "/admin/mail", follow_redirects=False)
        assert anonymous.status_code == 303 and "/login" in anonymous.headers["location"]
