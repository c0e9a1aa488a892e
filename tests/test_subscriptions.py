"""Digest subscriptions on SQLite and PostgreSQL: the form, double opt-in through a real SMTP
server (aiosmtpd) and links followed against a live server, one-click unsubscribe without
cookies, the preferences page, signed links across a key rotation, forged and expired links,
the confirmation mail limit, and the one condition that decides who gets mail."""

from __future__ import annotations

import re
import time

import httpx
import lxml.html
import sqlalchemy as sa
from fastapi.testclient import TestClient
from pydantic import SecretStr

from dailypapers.db.engine import write_transaction
from dailypapers.db.schema import sent_mail, subscription_topics, subscriptions
from dailypapers.notify import subscriptions as subs
from dailypapers.notify import tokens
from dailypapers.web.app import create_app
from tests.account_helpers import Browser, count, csrf, serve
from tests.conftest import TEST_SECRET_KEY
from tests.mail_helpers import smtp  # noqa: F401  (the fixture)

OLD_KEY = "an-old-secret-key-0123456789abcdef0123456789ab"
FORM = {"email": "Reader.One@Example.ORG", "frequency": "weekly", "trending": "1",
        "max_items": "7", "categories": "cs.cl, COND-MAT.mes-hall",
        "searches": 'author:"Yann LeCun"\n  lora   merging '}


def rows(engine: sa.Engine) -> list[sa.Row]:
    with engine.connect() as conn:
        return conn.execute(sa.select(subscriptions).order_by(subscriptions.c.id)).all()


def topics(engine: sa.Engine, subscription_id: int) -> set[tuple[str, str]]:
    with engine.connect() as conn:
        return set(conn.execute(sa.select(subscription_topics.c.kind, subscription_topics.c.value)
                                .where(subscription_topics.c.subscription_id == subscription_id)))


def link_in(message) -> str:  # type: ignore[no-untyped-def]
    body = message.get_payload(decode=True).decode()
    (found,) = re.findall(r"http://\S+", body)
    return found


def sent(engine: sa.Engine, n: int) -> list[tuple[str, str]]:
    """sent_mail's (kind, status) rows once there are ``n``: a mail is recorded after the relay
    took it, so just after it arrived."""
    deadline = time.monotonic() + 20
    while count(engine, sent_mail) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(sent_mail.c.kind, sent_mail.c.status)
                                               .order_by(sent_mail.c.id))]


def mail_settings(controller) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {"mail_backend": "smtp", "mail_smtp_host": "127.0.0.1",
            "mail_smtp_port": controller.port, "mail_smtp_security": "none",
            "mail_from": "Papers <papers@example.org>"}


def test_subscribe_confirm_manage_unsubscribe_through_mail(settings, engine, smtp) -> None:
    controller, inbox = smtp
    with serve(settings, engine, **mail_settings(controller)) as server:
        visitor = Browser(server.url)
        footer = lxml.html.fromstring(visitor.get("/papers").text).xpath(
            "//footer//form[@action='/subscribe']")[0]
        assert footer.get("method") == "get" and footer.xpath(".//input[@name='email']")
        page = visitor.get("/subscribe", params={"email": FORM["email"], "frequency": "weekly"})
        assert page.status_code == 200 and rows(engine) == []  # the footer's GET writes nothing
        assert f'value="{FORM["email"]}"' in page.text

        answer = visitor.post("/subscribe", {"csrf_token": csrf(page.text, "/subscribe"), **FORM})
        assert answer.status_code == 200 and "on its way" in answer.text
        (mail,) = inbox.wait_for(1)
        assert mail["To"] == "Reader.One@example.org"  # the domain lowercased, the rest as typed
        (row,) = rows(engine)
        assert (row.email_key, row.state, row.frequency, row.trending, row.max_items) == (
            "reader.one@example.org", "unconfirmed", "weekly", True, 7)
        assert topics(engine, row.id) == {("category", "cs.CL"),
                                          ("category", "cond-mat.mes-hall"),
                                          ("search", 'author:"Yann LeCun"'),
                                          ("search", "lora merging")}
        link = link_in(mail)
        assert link.startswith(f"{server.url}/subscribe/confirm/")
        path = link.removeprefix(server.url)

        # Followed from the mail in another browser: GET (twice, as a scanner would) shows a
        # button and changes nothing; only the POST confirms.
        reader = Browser(server.url)
        shown = reader.get(path)
        assert shown.status_code == 200 and shown.headers["cache-control"] == "no-store"
        assert lxml.html.fromstring(shown.text).xpath("//main//form[@method='post']//button")
        assert reader.get(path).status_code == 200
        assert rows(engine)[0].state == "unconfirmed"
        done = reader.post(path, {"csrf_token": csrf(shown.text)})
        assert done.status_code == 200 and "Subscribed" in done.text
        (row,) = rows(engine)
        assert row.state == "confirmed" and row.confirmed_at is not None
        assert reader.post(path, {}).status_code == 403  # the confirm form needs its CSRF token

        # Subscribing again (another case, other choices) keeps the one row as it is and mails
        # its owner the preferences link instead.
        again = Browser(server.url)
        form = again.get("/subscribe").text
        assert again.post("/subscribe", {"csrf_token": csrf(form, "/subscribe"), **FORM,
                                         "email": "READER.ONE@example.org",
                                         "frequency": "daily"}).status_code == 200
        second = inbox.wait_for(2)[1]
        (row,) = rows(engine)
        assert (row.state, row.frequency) == ("confirmed", "weekly")
        manage = link_in(second).removeprefix(server.url)
        assert manage.startswith("/subscription/")
        assert sent(engine, 2) == [("subscription_confirm", "sent"), ("subscription_manage", "sent")]

        # The preferences page: its form's token belongs to this link in this browser.
        prefs = reader.get(manage)
        assert prefs.status_code == 200 and "cond-mat.mes-hall cs.CL" in prefs.text
        token_field = csrf(prefs.text, None)
        changed = {"frequency": "daily", "max_items": "3", "categories": "stat.ml",
                   "searches": ""}
        stranger = Browser(server.url)
        stranger.get(manage)  # its own CSRF cookie: the reader's token is not good for it
        assert stranger.post(manage, {"csrf_token": token_field, **changed}).status_code == 403
        assert reader.post(manage, {"csrf_token": "0" * 64, **changed}).status_code == 403
        assert rows(engine)[0].frequency == "weekly"
        bad = reader.post(manage, {"csrf_token": token_field, **changed, "max_items": "500"})
        assert bad.status_code == 400 and 'value="500"' in bad.text
        saved = reader.post(manage, {"csrf_token": token_field, **changed})
        assert saved.status_code == 303
        (row,) = rows(engine)
        assert (row.frequency, row.max_items, row.trending, row.state) == (
            "daily", 3, False, "confirmed")
        assert topics(engine, row.id) == {("category", "stat.ML")}

        # One-click unsubscribe: the link from the preferences page, POSTed the RFC 8058 way
        # by a client with no cookie at all.
        unsubscribe = lxml.html.fromstring(reader.get(manage).text).xpath(
            "//form[starts-with(@action, '/unsubscribe/')]/@action")[0]
        assert reader.get(unsubscribe).status_code == 200 and rows(engine)[0].state == "confirmed"
        one_click = httpx.post(server.url + unsubscribe, content=b"List-Unsubscribe=One-Click",
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert one_click.status_code == 200 and "set-cookie" not in one_click.headers
        assert rows(engine)[0].state == "unsubscribed"
        assert httpx.post(server.url + unsubscribe).status_code == 200  # twice: harmless

        # An old confirmation link does not undo the unsubscription …
        assert reader.post(path, {"csrf_token": csrf(shown.text)}).status_code == 409
        assert rows(engine)[0].state == "unsubscribed"
        # … and subscribing again is the same row, waiting for a new confirmation.
        form = again.get("/subscribe").text
        again.post("/subscribe", {"csrf_token": csrf(form, "/subscribe"), **FORM})
        third = inbox.wait_for(3)[2]
        assert link_in(third).removeprefix(server.url).startswith("/subscribe/confirm/")
        (row,) = rows(engine)
        assert (row.state, row.frequency) == ("unconfirmed", "weekly")
        assert count(engine, subscriptions) == 1


def test_a_refused_form_keeps_what_was_typed(client, engine) -> None:
    page = client.get("/subscribe").text
    token = csrf(page, "/subscribe")
    for field, value, error in [
        ("email", "someone@", "not a valid e-mail address"),
        ("email", "a@b.org\r\nBcc: x@y.org", "not a valid e-mail address"),
        ("searches", "foo:bar", "unknown filter"),
        ("categories", "cs.CL not/a/category", "not an arXiv category"),
        ("max_items", "0", "from 1 to"),
        ("frequency", "hourly", "daily or weekly"),
    ]:
        typed = {**FORM, field: value}
        answer = client.post("/subscribe", data={"csrf_token": token, **typed})
        assert answer.status_code == 400, field
        doc = lxml.html.fromstring(answer.text)
        assert error in doc.xpath("string(//p[@class='form-error'])"), field
        if field != "frequency":  # radio buttons show the choice, not the text
            shown = doc.xpath(f"string(//*[@name='{field}']/@value)") if field != "searches" \
                else doc.xpath("string(//textarea[@name='searches'])")
            assert shown == value.replace("\r\n", "\n"), field  # HTML parsing reads CR LF as LF
        assert doc.xpath("string(//input[@name='email']/@value)") == typed["email"].replace(
            "\r\n", "\n")
    nothing = client.post("/subscribe", data={"csrf_token": token, **FORM, "trending": "",
                                              "categories": "", "searches": ""})
    assert nothing.status_code == 400 and "choose trending papers" in nothing.text
    assert count(engine, subscriptions) == 0
    assert client.post("/subscribe", data=FORM).status_code == 403  # no CSRF token


def _subscribe(engine: sa.Engine, address: str, state: str = "unconfirmed",
               prefs: subs.Preferences | None = None) -> int:
    with write_transaction(engine) as conn:
        email, key = subs.normalise_address(address)
        requested = subs.request_subscription(conn, email, key, prefs or subs.Preferences(), None)
        if state in ("confirmed", "unsubscribed", "suppressed"):
            subs.confirm(conn, requested.subscription_id)
        if state == "unsubscribed":
            subs.unsubscribe(conn, requested.subscription_id)
        if state == "suppressed":  # the bounce handling's doing (later work)
            conn.execute(subscriptions.update().values(state="suppressed")
                         .where(subscriptions.c.id == requested.subscription_id))
    return requested.subscription_id


def test_links_verify_under_previous_keys_and_refuse_forgeries(settings, engine) -> None:
    sub = _subscribe(engine, "keys@example.org")
    old, new = OLD_KEY.encode(), TEST_SECRET_KEY.encode()
    rotated = settings.model_copy(update={  # model_copy does not validate: SecretStr by hand
        "secret_key": SecretStr(OLD_KEY.replace("old", "new")),
        "secret_key_previous": SecretStr(f" {TEST_SECRET_KEY} ,{OLD_KEY}")})
    unsubscribe = tokens.make_token(old, "unsubscribe", sub, now=time.time() - 5 * 365 * 86400)
    with TestClient(create_app(rotated, engine)) as after, \
            TestClient(create_app(settings, engine)) as before:
        assert after.get(f"/unsubscribe/{unsubscribe}").status_code == 200  # old key, old link
        assert before.get(f"/unsubscribe/{unsubscribe}").status_code == 410  # key not listed
        manage = tokens.make_token(new, "manage", sub)
        assert after.get(f"/subscription/{manage}").status_code == 200
        signature = unsubscribe.rsplit(".", 1)[1]
        forged = [
            unsubscribe[:-1] + ("A" if unsubscribe[-1] != "A" else "B"),  # signature changed
            unsubscribe.replace(unsubscribe.split(".")[0], "2", 1),  # another subscription
            tokens.make_token(b"x" * 40, "unsubscribe", sub),  # an unknown key's
            f"1.1.{signature}", "x", "1..", "a" * 81, "%00", "1.2.3.4",
        ]
        for token in forged:
            for path in (f"/unsubscribe/{token}", f"/subscription/{token}",
                         f"/subscribe/confirm/{token}"):
                shown = after.get(path)
                assert shown.status_code == 410 and "not valid" in shown.text, path
            assert after.post(f"/unsubscribe/{token}").status_code == 410
        confirm = tokens.make_token(new, "confirm", sub)  # each purpose's token opens its page only
        for path in (f"/unsubscribe/{confirm}", f"/subscription/{confirm}",
                     f"/subscribe/confirm/{unsubscribe}", f"/subscribe/confirm/{manage}",
                     f"/unsubscribe/{manage}", f"/subscription/{unsubscribe}"):
            assert after.get(path).status_code == 410, path
        assert after.post(f"/unsubscribe/{confirm}").status_code == 410
        # A confirmation link lasts subscribe_confirm_hours (72); unsubscribe links do not end.
        fresh = tokens.make_token(new, "confirm", sub, now=time.time() - 71 * 3600)
        stale = tokens.make_token(new, "confirm", sub, now=time.time() - 73 * 3600)
        assert after.get(f"/subscribe/confirm/{fresh}").status_code == 200
        assert after.get(f"/subscribe/confirm/{stale}").status_code == 410
        assert after.post(f"/subscribe/confirm/{stale}", data={}).status_code in (403, 410)
        assert rows(engine)[0].state == "unconfirmed"
        assert after.post(f"/unsubscribe/{unsubscribe}").status_code == 200
        assert rows(engine)[0].state == "unsubscribed"


def test_confirmation_mails_to_one_address_are_limited(settings, engine, smtp) -> None:
    controller, inbox = smtp
    with serve(settings, engine, **mail_settings(controller),
               ratelimit_subscribe_per_address="2/hour",
               ratelimit_subscribe_per_ip="6/hour") as server:
        browser = Browser(server.url)
        token = csrf(browser.get("/subscribe").text, "/subscribe")
        answers = [browser.post("/subscribe", {"csrf_token": token, **FORM, "email": address})
                   for address in ("flood@example.org", "FLOOD@example.org",
                                   "flood@EXAMPLE.org", "flood@example.org", "other@example.org")]
        assert [a.status_code for a in answers] == [200] * 5
        assert len({re.sub(r"to \S+ ", "", a.text) for a in answers}) == 1  # nothing told
        inbox.wait_for(3)
        time.sleep(0.3)
        assert sorted(m["To"].lower() for m in inbox.messages) == [
            "flood@example.org", "flood@example.org", "other@example.org"]
        assert count(engine, subscriptions) == 2
        limited = browser.post("/subscribe", {"csrf_token": token, **FORM})  # the 6th from here
        assert limited.status_code == 200
        over = browser.post("/subscribe", {"csrf_token": token, **FORM})
        assert over.status_code == 429 and int(over.headers["retry-after"]) > 0


def test_only_confirmed_subscriptions_are_deliverable(engine) -> None:
    daily = _subscribe(engine, "daily@example.org", "confirmed")
    weekly = _subscribe(engine, "weekly@example.org", "confirmed",
                        subs.Preferences(frequency="weekly", searches=("lora merging",)))
    _subscribe(engine, "pending@example.org", "unconfirmed")
    _subscribe(engine, "left@example.org", "unsubscribed")
    bounced = _subscribe(engine, "bounced@example.org", "suppressed",
                         subs.Preferences(searches=("diffusion",)))
    with write_transaction(engine) as conn:  # only the bounce handling lifts a suppression
        assert subs.unsubscribe(conn, bounced) == "suppressed"
        assert subs.confirm(conn, bounced) == "suppressed"
        again = subs.request_subscription(conn, "Bounced@example.org", "bounced@example.org",
                                          subs.Preferences(frequency="weekly"), None)
        assert (again.subscription_id, again.mail) == (bounced, "none")
        assert subs.get(conn, bounced).preferences.frequency == "daily"  # nothing changed
    _subscribe(engine, "again@example.org", "confirmed",
               subs.Preferences(searches=("lora merging",)))
    with engine.connect() as conn:
        states = dict(conn.execute(sa.select(subscriptions.c.email, subscriptions.c.state)).all())
        ids = conn.execute(sa.select(subscriptions.c.id).where(subs.deliverable())
                           .order_by(subscriptions.c.id)).scalars().all()
        # What the digest builder will evaluate: each distinct topic of deliverable rows once.
        distinct = conn.execute(
            sa.select(subscription_topics.c.kind, subscription_topics.c.value).distinct()
            .join(subscriptions, subscriptions.c.id == subscription_topics.c.subscription_id)
            .where(subs.deliverable())).all()
    assert states == {"daily@example.org": "confirmed", "weekly@example.org": "confirmed",
                      "pending@example.org": "unconfirmed", "left@example.org": "unsubscribed",
                      "bounced@example.org": "suppressed", "again@example.org": "confirmed"}
    assert ids[:2] == [daily, weekly] and len(ids) == 3
    assert distinct == [("search", "lora merging")]


def test_an_account_subscribes_from_its_page(settings, engine) -> None:
    with serve(settings, engine) as server:
        browser = Browser(server.url)
        assert browser.sign_up("Reader", email="reader@example.org").status_code == 303
        page = browser.get("/account").text
        doc = lxml.html.fromstring(page)
        assert doc.xpath("string(//form[@action='/subscribe']//input[@name='email']/@value)") \
            == "reader@example.org"
        answer = browser.post("/subscribe", {"csrf_token": csrf(page, "/subscribe"), **FORM,
                                             "email": "reader@example.org"})
        assert answer.status_code == 200
        (row,) = rows(engine)
        with engine.connect() as conn:
            user_id = conn.execute(sa.text("SELECT id FROM users")).scalar_one()
        assert row.user_id == user_id and row.state == "unconfirmed"  # the mail confirms
        listed = lxml.html.fromstring(browser.get("/account").text)
        manage = listed.xpath("//ul[@class='subscriptions']//a/@href")
        assert len(manage) == 1 and manage[0].startswith("/subscription/")
        assert "waiting for confirmation" in listed.xpath("string(//ul[@class='subscriptions'])")
        assert browser.get(manage[0]).status_code == 200
