"""Password reset by mail through a real SMTP server on loopback (aiosmtpd), rate limits on both
storages, and XSS vectors as usernames; on SQLite and PostgreSQL through a live server."""

from __future__ import annotations

import os
import re
import time
import uuid

import lxml.html
import pytest
import redis
import sqlalchemy as sa

from dailypapers.community.accounts import create_user
from dailypapers.community.ratelimit import RateLimiter
from dailypapers.db.engine import write_transaction
from dailypapers.db.schema import password_resets, sent_mail, users
from tests.account_helpers import NEW_PASSWORD, PASSWORD, Browser, count, csrf, serve
from tests.conftest import IN_CI, free_port
from tests.mail_helpers import smtp  # noqa: F401  (the fixture)
from tests.xss_vectors import XSS_VECTORS

REDIS_URL = os.environ.get("DAILYPAPERS_TEST_REDIS_URL", "redis://127.0.0.1:6379")


def add_user(engine: sa.Engine, name: str, mail: str = "") -> None:
    with write_transaction(engine) as conn:
        create_user(conn, name, PASSWORD, email=mail)


def test_a_reset_mail_arrives_and_its_link_works_once(settings, engine, smtp) -> None:
    controller, inbox = smtp
    add_user(engine, "Margaret", "margaret@example.org")
    add_user(engine, "NoMail")
    with serve(settings, engine, mail_backend="smtp", mail_smtp_host="127.0.0.1",
               mail_smtp_port=controller.port, mail_smtp_security="none",
               mail_from="Papers <papers@example.org>") as server:
        elsewhere = Browser(server.url)  # a device signed in before the reset
        assert elsewhere.sign_in("margaret").status_code == 303

        asker = Browser(server.url)
        for who in ("nobody-here", "NoMail", "MARGARET@example.org"):
            answer = asker.submit("/reset", "/reset", {"name_or_email": who})
            assert answer.status_code == 200 and "on its way" in answer.text  # the same for all
        (mail,) = inbox.wait_for(1)
        time.sleep(0.3)
        assert len(inbox.messages) == 1  # no mail for unknown names or accounts without address
        assert mail["To"] == "margaret@example.org"
        assert mail["From"] == "Papers <papers@example.org>"
        body = mail.get_payload(decode=True).decode()
        (link,) = re.findall(r"http://\S+", body)
        assert link.startswith(f"{server.url}/reset/")
        token = link.rsplit("/", 1)[1]
        assert token not in mail["Subject"]
        with engine.connect() as conn:
            logged = conn.execute(sa.select(sent_mail)).one()
            stored = conn.execute(sa.select(password_resets.c.token_hash)).scalars().all()
        assert (logged.kind, logged.recipient, logged.status, logged.backend) == (
            "password_reset", "margaret@example.org", "sent", "smtp")
        assert token not in str(tuple(logged)) and token not in stored  # only its digest

        opener = Browser(server.url)
        page = opener.get(link.removeprefix(server.url))
        assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
        assert "Margaret" in page.text
        assert opener.get(link.removeprefix(server.url)).status_code == 200  # a GET spends nothing
        weak = opener.post(f"/reset/{token}", {"csrf_token": csrf(page.text),
                                               "new_password": "password1"})
        assert weak.status_code == 400 and "commonly used" in weak.text
        done = opener.post(f"/reset/{token}", {"csrf_token": csrf(page.text),
                                               "new_password": NEW_PASSWORD})
        assert done.status_code == 303 and done.headers["location"] == "/login?done=reset"

        assert opener.get(f"/reset/{token}").status_code == 410
        again = opener.post(f"/reset/{token}", {"csrf_token": csrf(page.text),
                                                "new_password": "another fine secret"})
        assert again.status_code == 410
        assert elsewhere.signed_in_as() is None  # the reset ended every session
        assert opener.sign_in("Margaret", PASSWORD).status_code == 400
        assert opener.sign_in("Margaret", NEW_PASSWORD).status_code == 303


def test_a_relay_that_does_not_answer_is_a_failed_row_not_an_error(settings, engine) -> None:
    add_user(engine, "Hedy", "hedy@example.org")
    with serve(settings, engine, mail_backend="smtp", mail_smtp_host="127.0.0.1",
               mail_smtp_port=free_port(), mail_smtp_security="none",
               mail_smtp_timeout_seconds=5) as server:
        asker = Browser(server.url)
        assert asker.submit("/reset", "/reset", {"name_or_email": "hedy"}).status_code == 200
        deadline = time.monotonic() + 20
        while count(engine, sent_mail) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
    with engine.connect() as conn:
        row = conn.execute(sa.select(sent_mail)).one()
    assert row.status == "failed" and "Connection" in row.error


# --- rate limits ----------------------------------------------------------------------------


@pytest.fixture(params=["memory://", REDIS_URL])
def limiter_storage(request: pytest.FixtureRequest) -> str:
    if request.param.startswith("redis"):
        try:
            redis.Redis.from_url(request.param, socket_timeout=2).ping()
        except redis.RedisError as exc:
            if IN_CI:
                pytest.fail(f"Redis not reachable at {request.param}: {exc}")
            pytest.skip(f"Redis not reachable at {request.param}: {exc}")
    return request.param


def test_sign_in_and_sign_up_limits_answer_429_with_retry_after(
    settings, engine, limiter_storage: str
) -> None:
    add_user(engine, "Target")
    prefix = f"dptest-{uuid.uuid4().hex[:8]}"  # Redis is shared: this test's keys only
    with serve(settings, engine, ratelimit_storage=limiter_storage,
               ratelimit_signin_per_account="3/minute", ratelimit_signin_per_ip="6/minute",
               ratelimit_signup_per_ip="2/minute") as server:
        server.app.state.rate_limiter = RateLimiter(limiter_storage, key_prefix=prefix)
        browser = Browser(server.url)
        for _ in range(3):
            assert browser.sign_in("target", "not the password").status_code == 400
        limited = browser.sign_in("TARGET", PASSWORD)  # even the right password waits now
        assert limited.status_code == 429
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert "Too many attempts" in limited.text
        # Another name from the same address still gets through, up to the address's limit.
        assert browser.sign_in("someone", "not the password").status_code == 400
        assert browser.sign_in("someone", "not the password").status_code == 400
        assert browser.sign_in("someone", "not the password").status_code == 429  # 7th attempt

        if limiter_storage.startswith("redis"):  # counts every process sees
            other_process = RateLimiter(limiter_storage, key_prefix=prefix)
            assert other_process.check("3/minute", "signin-account", "target") is not None
            assert other_process.check("3/minute", "signin-account", "fresh") is None

        fresh = Browser(server.url)
        assert fresh.sign_up("First_1").status_code == 303
        fresh.http.cookies.clear()
        assert fresh.sign_up("Second_2").status_code == 303
        fresh.http.cookies.clear()
        refused = fresh.sign_up("Third_3")
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert count(engine, users) == 3


def test_reset_requests_are_limited_per_address_and_quietly_per_account(settings, engine) -> None:
    add_user(engine, "Frances", "frances@example.org")
    with serve(settings, engine, ratelimit_reset_per_ip="4/minute",
               ratelimit_reset_per_account="2/minute") as server:
        asker = Browser(server.url)
        answers = [asker.submit("/reset", "/reset", {"name_or_email": "frances"})
                   for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 200]  # no tell past 2
        assert count(engine, password_resets) == 2
        limited = asker.submit("/reset", "/reset", {"name_or_email": "frances"})
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1


# --- XSS vectors ----------------------------------------------------------------------------


def _inert(html: str, baseline_scripts: list[str]) -> None:
    doc = lxml.html.fromstring(html)
    assert [s.get("src") for s in doc.iter("script")] == baseline_scripts
    for element in doc.iter():
        if not isinstance(element.tag, str):
            continue
        assert not [a for a in element.attrib if a.lower().startswith("on")], element.tag
        assert element.tag not in ("iframe", "object", "embed", "svg", "base", "meta") \
            or element.tag == "meta" and element.getparent().tag == "head"
        for attribute in ("href", "src", "action", "formaction", "data"):
            value = (element.get(attribute) or "").strip().lower()
            assert not value.startswith(("javascript:", "data:", "vbscript:")), value


def test_xss_vectors_as_usernames_are_refused_and_come_back_inert(settings, engine) -> None:
    assert len(XSS_VECTORS) >= 30
    with serve(settings, engine) as server:
        browser = Browser(server.url)
        baseline = [s.get("src") for s in lxml.html.fromstring(browser.get("/signup").text)
                    .iter("script")]
        for vector in XSS_VECTORS:
            answer = browser.sign_up(vector)
            assert answer.status_code == 400, vector
            _inert(answer.text, baseline)
            echoed = lxml.html.fromstring(answer.text).xpath("//input[@name='username']/@value")
            assert echoed == [vector]  # shown back as text in the field, exactly
            answer = browser.sign_in(vector)
            assert answer.status_code == 400
            _inert(answer.text, baseline)
        assert count(engine, users) == 0
