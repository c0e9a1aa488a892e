"""VERP return paths and the bounce rules that judge by a report's own date, on SQLite and
PostgreSQL: digest mails sent over real SMTP (aiosmtpd) carry a signed per-row envelope sender;
`dailypapers mail bounce` finds the subscriber by it before the Message-ID and the failed
recipient, refuses a forged token, accepts one signed with a previous key; delay warnings are
recorded and never count; two soft bounces count by their Arrival-Date (bounded by now);
`mail unsuppress` and the administrators' button lift a suppression."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import email.utils
import threading

import httpx
import lxml.html
import pytest
import sqlalchemy as sa

from dailypapers import catalog
from dailypapers.db.engine import read_transaction, write_transaction
from dailypapers.db.schema import digest_outbox, mail_events, subscriptions
from dailypapers.notify import outbox, tokens
from dailypapers.notify.delivery import deliver
from tests.conftest import TEST_SECRET_KEY
from tests.digest_helpers import BASE, feature, smtp_settings, subscribe
from tests.mail_helpers import smtp_server
from tests.moderation_helpers import add_person, site
from tests.test_bounces import DAY, _bounce, _events, _subs, dsn
from tests.test_cli import cli, data_dir  # noqa: F401  (fixtures)

BOUNCES = "bounces@papers.example.org"
KEY = TEST_SECRET_KEY.encode()
OLD_KEY = "an-earlier-secret-key-that-was-rotated-out-0001"
NOW = dt.datetime.now(dt.timezone.utc)


class EnvelopeSink:
    """An SMTP server on loopback keeping each mail with its envelope (MAIL FROM, RCPT TO)."""

    def __init__(self) -> None:
        self.mails: list[tuple[str, str, email.message.Message]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001
        with self.lock:
            self.mails.append((envelope.mail_from, envelope.rcpt_tos[0], email.message_from_bytes(
                envelope.content, policy=email.policy.default)))
        return "250 OK"


@pytest.fixture
def sink():  # type: ignore[no-untyped-def]
    inbox = EnvelopeSink()
    with smtp_server(inbox) as controller:
        yield controller.port, inbox


def _build(engine, tmp_path) -> dict[int, int]:  # type: ignore[no-untyped-def]
    """A real daily digest for the confirmed subscribers: {subscription id: outbox row id}."""
    feature(engine, tmp_path, DAY, {"2603.10001": 5.0})
    with write_transaction(engine) as conn:
        outbox.build(conn, "daily", catalog.day_period(dt.date.fromisoformat(DAY)),
                     base_url=BASE, sender_domain="papers.example.org", search=None)
    with read_transaction(engine) as conn:
        return dict(conn.execute(sa.select(digest_outbox.c.subscription_id,
                                           digest_outbox.c.id)).all())


def _verp(row_id: int, key: bytes = KEY) -> str:
    return f"bounces+{tokens.make_bounce_token(key, row_id)}@papers.example.org"


# --- the envelope sender ----------------------------------------------------------------------


def test_each_digest_mail_carries_its_own_signed_return_path(settings, engine, tmp_path,  # type: ignore[no-untyped-def]
                                                             sink, cli, monkeypatch) -> None:  # noqa: F811
    port, inbox = sink
    ann, bob = subscribe(engine, "ann@example.org"), subscribe(engine, "bob@example.org")
    rows = _build(engine, tmp_path)
    report = deliver(smtp_settings(settings, port, mail_bounce_address=BOUNCES), engine, KEY)
    assert report.sent == 2
    envelopes = {rcpt: mail_from for mail_from, rcpt, _m in inbox.mails}
    assert envelopes == {"ann@example.org": _verp(rows[ann]), "bob@example.org": _verp(rows[bob])}
    for rcpt, mail_from in envelopes.items():
        local = mail_from.split("@")[0]
        assert len(local) <= 64 and local == local.lower()  # survives relays that fold case
        assert tokens.read_bounce_token([KEY], local.removeprefix("bounces+")) == \
            rows[ann if rcpt.startswith("ann") else bob]
    # The header a reader sees is unchanged: only the envelope names the row.
    assert {str(m["From"]) for _f, _r, m in inbox.mails} == {
        "Daily Papers <digest@papers.example.org>"}

    # The real return path comes back as the bounce's envelope recipient: the report names a
    # forwarding alias and quotes headers without the Message-ID, yet Ann is found.
    monkeypatch.setenv("DAILYPAPERS_MAIL_BOUNCE_ADDRESS", BOUNCES)
    returned = dsn("ann.alias@forward.example", "5.1.1", message_id=None, headers_only=True)
    result = cli("mail", "bounce", "--recipient", envelopes["ann@example.org"], input=returned)
    assert result.exit_code == 0, result.output
    assert result.stdout == "suppressed ann@example.org (hard bounce 5.1.1)\n"
    assert _subs(engine)["bob@example.org"] == ("confirmed", None)


def test_without_a_bounce_address_the_envelope_sender_is_mail_from(settings, engine, tmp_path,  # type: ignore[no-untyped-def]
                                                                   sink) -> None:
    port, inbox = sink
    subscribe(engine, "cat@example.org")
    _build(engine, tmp_path)
    assert deliver(smtp_settings(settings, port), engine, KEY).sent == 1
    assert [(f, r) for f, r, _m in inbox.mails] == [("digest@papers.example.org",
                                                     "cat@example.org")]


# --- finding the subscriber -------------------------------------------------------------------


@pytest.fixture
def verp_cli(cli, monkeypatch):  # type: ignore[no-untyped-def]  # noqa: F811
    monkeypatch.setenv("DAILYPAPERS_MAIL_BOUNCE_ADDRESS", BOUNCES)
    monkeypatch.setenv("DAILYPAPERS_SECRET_KEY_PREVIOUS", OLD_KEY)
    return cli


def test_the_verp_address_comes_before_message_id_and_recipient(verp_cli, engine,  # type: ignore[no-untyped-def]
                                                                tmp_path) -> None:
    ids = {a: subscribe(engine, f"{a}@example.org") for a in ("dan", "eva", "fay", "gil")}
    rows = _build(engine, tmp_path)
    with read_transaction(engine) as conn:
        message_ids = dict(conn.execute(sa.select(digest_outbox.c.id,
                                                  digest_outbox.c.message_id)).all())
    # Each report names another subscriber by recipient and by Message-ID: only the VERP
    # address (in each of the places a mail system puts it) points at the right one.
    cases = [
        ("dan", {"X-Original-To": _verp(rows[ids["dan"]])}),
        ("eva", {"Delivered-To": _verp(rows[ids["eva"]]).upper()}),  # case folded by a relay
        ("fay", {"To": f"<{_verp(rows[ids['fay']], OLD_KEY.encode())}>"}),  # a previous key
    ]
    for name, headers in cases:
        data = dsn("gil@example.org", "5.1.1", message_id=message_ids[rows[ids["gil"]]],
                   headers=headers)
        result = _bounce(verp_cli, data)
        assert result.exit_code == 0, result.output
        assert result.stdout == f"suppressed {name}@example.org (hard bounce 5.1.1)\n"
    assert _subs(engine)["gil@example.org"] == ("confirmed", None)


def test_a_forged_verp_token_changes_nothing(verp_cli, engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    hugo = subscribe(engine, "hugo@example.org")
    rows = _build(engine, tmp_path)
    good = tokens.make_bounce_token(KEY, rows[hugo])
    stranger_key = tokens.make_bounce_token(b"x" * 48, rows[hugo])
    other_row = tokens.make_bounce_token(KEY, rows[hugo] + 1).split("-")[1]
    before = (_subs(engine), _events(engine))
    for token in (stranger_key, f"{rows[hugo]}-{'a' * 26}", good[:-1] + "q",
                  f"{tokens._b36(rows[hugo])}-{other_row}"):
        # The failed recipient names Hugo too: a bad token must not fall through to it.
        data = dsn("hugo@example.org", "5.1.1",
                   headers={"X-Original-To": f"bounces+{token}@papers.example.org"})
        result = _bounce(verp_cli, data)
        assert result.exit_code == 2, (token, result.output)
        assert "does not verify" in result.stderr and result.stderr.count("\n") == 1
    assert (_subs(engine), _events(engine)) == before


def test_without_a_bounce_address_verp_headers_are_ignored(cli, engine, tmp_path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    ida = subscribe(engine, "ida@example.org")
    rows = _build(engine, tmp_path)
    subscribe(engine, "jo@example.org")
    data = dsn("jo@example.org", "5.1.1", headers={"X-Original-To": _verp(rows[ida])})
    assert _bounce(cli, data).stdout == "suppressed jo@example.org (hard bounce 5.1.1)\n"


def test_a_bounce_address_that_is_not_plain_is_a_one_line_config_error(cli, monkeypatch) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    for bad in ("bounces+x@papers.example.org", "no-at-sign", "Bounces <b@x.org>"):
        monkeypatch.setenv("DAILYPAPERS_MAIL_BOUNCE_ADDRESS", bad)
        result = cli("status")
        assert result.exit_code != 0
        assert "DAILYPAPERS_MAIL_BOUNCE_ADDRESS" in result.stderr
        assert result.stderr.strip().count("\n") == 0, result.stderr


# --- the rules --------------------------------------------------------------------------------


def _date(when: dt.datetime) -> str:
    return email.utils.format_datetime(when)


def test_delay_warnings_are_recorded_and_never_count(cli, engine) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    subscribe(engine, "kai@example.org")
    for _ in range(3):
        result = _bounce(cli, dsn("kai@example.org", "4.4.7", action="delayed"))
        assert result.exit_code == 0, result.output
        assert result.stdout == "recorded delay warning 4.4.7 for kai@example.org (not a bounce)\n"
    soft = _bounce(cli, dsn("kai@example.org", "4.2.2"))
    assert soft.stdout == "recorded soft bounce 1 of 2 for kai@example.org\n"
    assert _subs(engine)["kai@example.org"] == ("confirmed", None)
    assert [e[1] for e in _events(engine)] == ["delayed"] * 3 + ["soft"]
    assert "0 soft" not in cli("status").stdout and "3 delay warnings" in cli("status").stdout


def test_soft_bounces_count_by_their_own_dates(cli, engine) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    for name in ("lea", "max", "ned", "ola"):
        subscribe(engine, f"{name}@example.org")
    # Piped together today, but ten days apart by their dates: not within 7 days.
    for days in (12, 2):
        _bounce(cli, dsn("lea@example.org", "4.2.2", arrival=_date(NOW - dt.timedelta(days=days))))
    # Six days apart, the later one read first: they count together.
    for days in (3, 9):
        last = _bounce(cli, dsn("max@example.org", "4.2.2",
                                arrival=_date(NOW - dt.timedelta(days=days))))
    assert last.stdout == "suppressed max@example.org (2 soft bounces within 7 days (4.2.2))\n"
    # No Arrival-Date: the report's Date header decides (8 days apart: not together).
    for days in (9, 1):
        _bounce(cli, dsn("ned@example.org", "4.2.2",
                         headers={"Date": _date(NOW - dt.timedelta(days=days))}))
    # A date in the future is not believed: it counts as now, beside yesterday's.
    for when in (NOW - dt.timedelta(days=1), NOW + dt.timedelta(days=3650)):
        ola = _bounce(cli, dsn("ola@example.org", "4.2.2", arrival=_date(when)))
    assert ola.stdout == "suppressed ola@example.org (2 soft bounces within 7 days (4.2.2))\n"
    states = {a: s[0] for a, s in _subs(engine).items()}
    assert states == {"lea@example.org": "confirmed", "max@example.org": "suppressed",
                      "ned@example.org": "confirmed", "ola@example.org": "suppressed"}
    with read_transaction(engine) as conn:
        latest = conn.execute(sa.select(sa.func.max(mail_events.c.occurred_at))).scalar()
    assert latest.replace(tzinfo=latest.tzinfo or dt.timezone.utc) <= \
        dt.datetime.now(dt.timezone.utc)


# --- lifting a suppression --------------------------------------------------------------------


def test_mail_unsuppress_lifts_and_forgets_earlier_soft_bounces(cli, engine) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    pia = subscribe(engine, "pia@example.org")
    subscribe(engine, "quinn@example.org", state="unconfirmed")  # its confirmation mail bounced
    with write_transaction(engine) as conn:
        conn.execute(subscriptions.update().where(subscriptions.c.id == pia)
                     .values(confirmed_at=NOW))
    for _ in range(2):
        _bounce(cli, dsn("pia@example.org", "4.2.2"))
    _bounce(cli, dsn("quinn@example.org", "5.1.1"))
    assert _subs(engine)["pia@example.org"][0] == "suppressed"
    lifted = cli("mail", "unsuppress", "PIA@example.org")
    assert lifted.exit_code == 0, lifted.output
    assert lifted.stdout == "lifted the suppression of pia@example.org: confirmed again\n"
    assert _subs(engine)["pia@example.org"] == ("confirmed", None)
    # The two soft bounces before the lift are forgiven: one more is only recorded.
    again = _bounce(cli, dsn("pia@example.org", "4.2.2"))
    assert again.stdout == "recorded soft bounce 1 of 2 for pia@example.org\n"
    assert cli("mail", "unsuppress", "quinn@example.org").stdout == \
        "lifted the suppression of quinn@example.org: unconfirmed again\n"
    same = cli("mail", "unsuppress", "pia@example.org")
    assert (same.exit_code, same.stdout) == (
        0, "pia@example.org is not suppressed (confirmed): nothing changed\n")
    before = (_subs(engine), _events(engine))
    unknown = cli("mail", "unsuppress", "nobody@example.org")
    assert unknown.exit_code == 1 and unknown.stdout == ""
    assert "nobody@example.org" in unknown.stderr and unknown.stderr.count("\n") == 1
    assert (_subs(engine), _events(engine)) == before
    assert [e[1] for e in _events(engine)].count("lifted") == 2


def test_administrators_lift_a_suppression_from_the_page(settings, engine) -> None:  # type: ignore[no-untyped-def]
    rae = subscribe(engine, "rae@example.org", state="suppressed")
    with write_transaction(engine) as conn:
        conn.execute(subscriptions.update().where(subscriptions.c.id == rae)
                     .values(confirmed_at=NOW))
    subscribe(engine, "sam@example.org", state="suppressed")
    with site(settings, engine) as server:
        admin = add_person(engine, server.url, "Ada", is_admin=True)
        moderator = add_person(engine, server.url, "Moe", is_moderator=True)
        page = lxml.html.fromstring(admin.http.get("/admin/mail").text)
        form = page.xpath("//form[.//input[@name='address' and @value='rae@example.org']]")[0]
        assert form.get("action") == "/admin/mail/unsuppress" and form.get("method") == "post"
        fields = {i.get("name"): i.get("value") for i in form.xpath(".//input")}
        before = _subs(engine)
        # Without the token, or from someone who is not an administrator: refused, unchanged.
        assert admin.http.post("/admin/mail/unsuppress",
                               data={"address": "rae@example.org"}).status_code == 403
        assert moderator.http.post("/admin/mail/unsuppress", data={
            "address": "rae@example.org", "csrf_token": moderator.csrf}).status_code == 403
        assert httpx.post(server.url + "/admin/mail/unsuppress",
                          data={"address": "rae@example.org"}).status_code in (303, 403)
        assert _subs(engine) == before
        done = admin.http.post("/admin/mail/unsuppress", data=fields)
        assert done.status_code == 200
        doc = lxml.html.fromstring(done.text)
        assert doc.xpath("string(//p[@role='status'])") == \
            "lifted the suppression of rae@example.org: confirmed again"
        assert [td.text_content() for td in doc.cssselect("td.address")] == ["sam@example.org"]
        missing = admin.http.post("/admin/mail/unsuppress",
                                  data={**fields, "address": "zed@example.org"})
        assert missing.status_code == 404 and "zed@example.org" in missing.text
    assert _subs(engine)["rae@example.org"] == ("confirmed", None)
    assert _subs(engine)["sam@example.org"] == ("suppressed", None)
    assert [e[1] for e in _events(engine)] == ["lifted"]
