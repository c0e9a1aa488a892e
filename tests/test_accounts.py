"""Accounts through real HTTP on a live server, on SQLite and PostgreSQL: sign up, in and out,
sessions, CSRF, password changes, API tokens, cookies, redirects."""

from __future__ import annotations

import lxml.html
import pytest
import sqlalchemy as sa

from dailypapers.db.schema import api_tokens, user_sessions, users
from dailypapers.web.deps import safe_next
from tests.account_helpers import NEW_PASSWORD, PASSWORD, Browser, count, csrf, serve, sha256


@pytest.fixture
def server(settings, engine):
    with serve(settings, engine) as live:
        yield live


@pytest.fixture
def browser(server):
    browser = Browser(server.url)
    yield browser
    browser.close()


def another(server) -> Browser:
    return Browser(server.url)


def test_sign_up_sign_out_and_sign_in_again(server, browser, engine) -> None:
    answer = browser.sign_up("Ada_Lovelace", email="ada@example.org")
    assert answer.status_code == 303 and answer.headers["location"] == "/papers"
    set_cookie = answer.headers["set-cookie"]
    assert set_cookie.startswith("dp_session=") and "HttpOnly" in set_cookie
    assert "samesite=lax" in set_cookie.lower() and "Path=/" in set_cookie
    assert "Secure" not in set_cookie  # plain http base URL
    first = browser.cookie("dp_session")
    assert first and len(first) >= 32  # ≥ 128 bits, URL-safe base64

    # The header names the user and signs out with a POST form; no shared cache keeps it.
    signed_in_page = browser.get("/papers")
    assert signed_in_page.headers["cache-control"] == "private, no-store"
    assert signed_in_page.headers["vary"] == "Cookie"
    page = lxml.html.fromstring(signed_in_page.text)
    assert page.xpath("string(//header//a[@href='/account'])") == "Ada_Lovelace"
    (form,) = page.xpath("//header//form[@action='/logout']")
    assert form.get("method") == "post" and form.xpath(".//input[@name='csrf_token']/@value")
    assert not page.xpath("//header//a[@href='/login']")
    assert browser.signed_in_as() == "Ada_Lovelace"

    # The table holds the token's digest only.
    with engine.connect() as conn:
        stored = conn.execute(sa.select(user_sessions.c.token_hash)).scalars().all()
    assert stored == [sha256(first)]

    assert browser.sign_out().status_code == 303
    assert browser.signed_in_as() is None
    assert count(engine, user_sessions) == 0
    stolen = another(server)
    stolen.http.cookies.set("dp_session", first)
    assert stolen.signed_in_as() is None  # the old cookie opens nothing after sign-out
    anonymous = lxml.html.fromstring(browser.get("/papers").text)
    assert anonymous.xpath("//header//a[@href='/login']") and anonymous.xpath(
        "//header//a[@href='/signup']")

    # Names ignore case at sign-in; so do e-mail addresses. Each sign-in is a new token.
    assert browser.sign_in("ada_lovelace").status_code == 303
    second = browser.cookie("dp_session")
    assert second != first and browser.signed_in_as() == "Ada_Lovelace"
    # Signing in again while signed in (the login page redirects, so post its form directly).
    session_token = csrf(browser.get("/account").text, "/logout")
    assert browser.post("/login", {"csrf_token": session_token, "username": "ADA@example.org",
                                   "password": PASSWORD}).status_code == 303
    third = browser.cookie("dp_session")
    assert third not in (first, second)
    with engine.connect() as conn:  # the session the browser came with was ended, not kept
        stored = conn.execute(sa.select(user_sessions.c.token_hash)).scalars().all()
    assert stored == [sha256(third)]


def test_a_wrong_password_or_unknown_name_signs_nobody_in(browser) -> None:
    browser.sign_up("grace")
    browser.sign_out()
    for name, password in (("grace", PASSWORD + "x"), ("nobody", PASSWORD), ("grace", "")):
        answer = browser.sign_in(name, password)
        assert answer.status_code == 400 and "Wrong username or password" in answer.text
        assert "dp_session" not in answer.headers.get("set-cookie", "")
        assert PASSWORD not in answer.text
    assert browser.signed_in_as() is None


def test_forms_without_the_right_csrf_token_are_refused(server, browser, engine) -> None:
    fields = {"username": "mallory", "password": PASSWORD}
    browser.get("/signup")  # has its csrf cookie now
    other = another(server)
    foreign = csrf(other.get("/signup").text)  # valid, but for another browser's cookie
    for token in (None, "", "0" * 64, foreign):
        data = dict(fields) if token is None else {**fields, "csrf_token": token}
        answer = browser.post("/signup", data)
        assert answer.status_code == 403, token
        assert "security token" in answer.text
        answer = browser.post("/login", data)
        assert answer.status_code == 403
    assert count(engine, users) == 0
    assert browser.sign_up("mallory").status_code == 303  # the page's own token works

    # Signed in, the token is the session's: the signed-out one no longer counts.
    page = browser.get("/account").text
    other.sign_up("trent")
    for token in (None, foreign, csrf(other.get("/account").text)):
        data = {"token_name": "x"} if token is None else {"token_name": "x", "csrf_token": token}
        assert browser.post("/account/tokens", data).status_code == 403
        assert browser.post("/logout", {} if token is None else {"csrf_token": token}
                            ).status_code == 403
        assert browser.post("/account/password", {"current_password": PASSWORD,
                                                  "new_password": NEW_PASSWORD,
                                                  "csrf_token": token or ""}).status_code == 403
    assert count(engine, api_tokens) == 0
    assert browser.signed_in_as() == "mallory"
    # The header's token also works (same session secret on every page).
    assert browser.post("/account/tokens", {"token_name": "x", "csrf_token": csrf(
        page, "/account/tokens")}).status_code == 200
    assert count(engine, api_tokens) == 1


def test_no_get_changes_anything(browser, engine) -> None:
    browser.sign_up("quiet")
    for path in ("/logout", "/account/tokens", "/account/password", "/account/email",
                 "/account/tokens/1/revoke"):
        assert browser.get(path).status_code == 405, path
    assert browser.signed_in_as() == "quiet"
    assert count(engine, user_sessions) == 1 and count(engine, api_tokens) == 0


def test_a_password_change_ends_every_other_session(server, browser, engine) -> None:
    browser.sign_up("linus")
    own_cookie = browser.cookie("dp_session")
    laptop = another(server)
    assert laptop.sign_in("linus").status_code == 303
    laptop_cookie = laptop.cookie("dp_session")

    wrong = browser.submit("/account", "/account/password",
                           {"current_password": "not it at all", "new_password": NEW_PASSWORD})
    assert wrong.status_code == 400 and "current password is wrong" in wrong.text
    common = browser.submit("/account", "/account/password",
                            {"current_password": PASSWORD, "new_password": "iloveyou1"})
    assert common.status_code == 400 and "commonly used" in common.text
    assert laptop.signed_in_as() == "linus"  # nothing changed yet

    changed = browser.submit("/account", "/account/password",
                             {"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert changed.status_code == 303 and changed.headers["location"] == "/account?changed=password"
    assert browser.signed_in_as() == "linus"  # this browser got a new session
    assert laptop.signed_in_as() is None
    for old in (laptop_cookie, own_cookie):  # the changing browser's old cookie dies too
        replay = another(server)
        replay.http.cookies.set("dp_session", old)
        assert replay.signed_in_as() is None
    assert browser.cookie("dp_session") != own_cookie
    assert count(engine, user_sessions) == 1

    assert laptop.sign_in("linus", PASSWORD).status_code == 400
    assert laptop.sign_in("linus", NEW_PASSWORD).status_code == 303


def test_usernames_are_checked_on_the_form(browser, engine) -> None:
    assert browser.sign_up("Turing").status_code == 303
    browser.sign_out()
    for name, reason in (("turing", "taken"), ("TURING", "taken"), ("tu", "3 to 32"),
                         ("x" * 33, "3 to 32"), ("tur ing", "only have letters"),
                         ("admin", "reserved")):
        answer = browser.sign_up(name)
        assert answer.status_code == 400, name
        page = lxml.html.fromstring(answer.text)
        assert reason in page.xpath("string(//p[@class='form-error'])")
        assert page.xpath("//input[@name='username']/@value") == [name]  # the input is kept
        assert page.xpath("//input[@name='password']/@value") == []  # the password is not
    assert count(engine, users) == 1


def test_common_short_and_long_passwords(browser, engine) -> None:
    for password, reason in (("Qwertyuiop", "commonly used"), ("iloveyou1", "commonly used"),
                             ("sh0rt!x", "at least 8"), ("Hopper_8", "must not be the username"),
                             ("y" * 1025, "at most 1024")):
        answer = browser.sign_up("Hopper_8", password)
        assert answer.status_code == 400 and reason in answer.text, password
    assert count(engine, users) == 0
    long_password = "correct horse battery staple " * 4  # 120 characters: bcrypt would cut at 72
    assert browser.sign_up("Hopper_8", long_password).status_code == 303
    browser.sign_out()
    assert browser.sign_in("hopper_8", long_password[:72]).status_code == 400
    assert browser.sign_in("hopper_8", long_password).status_code == 303
    with engine.connect() as conn:
        stored = conn.execute(sa.select(users.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$") and long_password not in stored


def test_api_tokens_are_shown_once_work_and_can_be_revoked(server, browser, engine) -> None:
    browser.sign_up("Katherine")
    created = browser.submit("/account", "/account/tokens", {"token_name": "my laptop"})
    assert created.status_code == 200 and created.headers["cache-control"] == "no-store"
    token = lxml.html.fromstring(created.text).xpath("string(//code[@class='new-token'])")
    assert token.startswith("dp_") and len(token) > 40
    assert token not in browser.get("/account").text  # shown once
    with engine.connect() as conn:
        row = conn.execute(sa.select(api_tokens)).one()
    assert row.token_hash == sha256(token) and row.name == "my laptop"

    api = another(server)
    me = api.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json() == {"id": row.user_id, "username": "Katherine", "isAdmin": False,
                         "isModerator": False}
    # The API ignores cookies: a browser's session is no credential there.
    by_cookie = browser.get("/api/v1/me")
    assert by_cookie.status_code == 401 and "error" in by_cookie.json()
    assert by_cookie.headers["www-authenticate"] == "Bearer"
    for bad in (token + "x", token[:-1], "dp_", "Basic " + token):
        assert api.get("/api/v1/me", headers={"Authorization": f"Bearer {bad}"}).status_code == 401

    # Someone else cannot revoke it.
    thief = another(server)
    thief.sign_up("Eve_1")
    thief_token = csrf(thief.get("/account").text, "/logout")  # their own session's token
    stolen = thief.post(f"/account/tokens/{row.id}/revoke", {"csrf_token": thief_token})
    assert stolen.status_code == 404
    assert api.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200

    revoked = browser.submit("/account", f"/account/tokens/{row.id}/revoke", {})
    assert revoked.status_code == 303
    assert api.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert count(engine, api_tokens) == 0


def test_a_suspended_user_is_signed_out_everywhere(server, browser, engine) -> None:
    browser.sign_up("Mel")
    created = browser.submit("/account", "/account/tokens", {"token_name": "t"})
    token = lxml.html.fromstring(created.text).xpath("string(//code[@class='new-token'])")
    with engine.begin() as conn:
        conn.execute(users.update().values(suspended_at=sa.func.now()))
    assert browser.signed_in_as() is None
    api = another(server)
    assert api.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert another(server).sign_in("Mel").status_code == 400


def test_https_sites_use_secure_host_prefixed_cookies(settings, engine) -> None:
    from fastapi.testclient import TestClient

    from dailypapers.web.app import create_app
    from tests.account_helpers import GENEROUS

    app = create_app(settings.model_copy(update={"base_url": "https://papers.example.org",
                                                 **GENEROUS}), engine)
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        form = client.get("/signup")
        assert form.headers["set-cookie"].startswith("__Host-dp_csrf=")
        assert "Secure" in form.headers["set-cookie"]
        answer = client.post("/signup", data={"csrf_token": csrf(form.text), "username": "tls_1",
                                              "password": PASSWORD})
        assert answer.status_code == 303
        cookie = answer.headers["set-cookie"]
        assert cookie.startswith("__Host-dp_session=")
        for attribute in ("Secure", "HttpOnly", "Path=/"):
            assert attribute in cookie
        assert "domain" not in cookie.lower()
        assert client.get("/account").status_code == 200
        assert "dp_session" not in {c.split("=")[0] for c in answer.headers.get_list("set-cookie")}


@pytest.mark.parametrize(("target", "expected"), [
    ("/papers/2603.00001", "/papers/2603.00001"),
    ("/account?changed=email", "/account?changed=email"),
    ("//evil.example/x", "/papers"), ("/\\evil.example", "/papers"),
    ("https://evil.example", "/papers"),
    ("javascript:alert(1)", "/papers"), ("/ok\r\nSet-Cookie: x=1", "/papers"), ("", "/papers"),
])
def test_after_sign_in_only_local_paths(target: str, expected: str) -> None:
    assert safe_next(target) == expected


def test_sign_in_goes_back_where_it_was_asked_for(browser) -> None:
    browser.sign_up("Barbara")
    browser.sign_out()
    asked = browser.get("/account")
    assert asked.headers["location"] == "/login?next=%2Faccount"
    page = browser.get(asked.headers["location"]).text
    answer = browser.post("/login", {"csrf_token": csrf(page, "/login"), "username": "barbara",
                                     "password": PASSWORD, "next": "/account"})
    assert answer.headers["location"] == "/account"
    browser.sign_out()
    answer = browser.post("/login", {"csrf_token": csrf(browser.get("/login").text, "/login"),
                                     "username": "barbara", "password": PASSWORD,
                                     "next": "//evil.example/"})
    assert answer.headers["location"] == "/papers"


def test_checking_a_password_holds_no_write_lock(browser, engine, monkeypatch) -> None:
    """argon2 runs outside the write transaction: on SQLite (one writer) other writes go on
    while a sign-in is still checking its password."""
    import threading

    from dailypapers.community import accounts
    from dailypapers.db.engine import write_transaction
    from dailypapers.db.schema import sync_checkpoints

    browser.sign_up("Patient")
    browser.sign_out()
    page = browser.get("/login").text
    entered, release = threading.Event(), threading.Event()
    real = accounts.verify_password

    def slow_verify(stored, password):
        entered.set()
        release.wait(20)
        return real(stored, password)

    monkeypatch.setattr(accounts, "verify_password", slow_verify)
    answers: list[int] = []
    signing_in = threading.Thread(target=lambda: answers.append(browser.post(
        "/login", {"csrf_token": csrf(page, "/login"), "username": "patient",
                   "password": PASSWORD}).status_code))
    signing_in.start()
    try:
        assert entered.wait(20)
        with write_transaction(engine) as conn:  # would wait for the lock if the login held it
            conn.execute(sync_checkpoints.insert().values(
                key="probe", value="x", updated_at=sa.func.now()))
        assert signing_in.is_alive() and not answers  # the sign-in is still checking
    finally:
        release.set()
        signing_in.join(30)
    assert answers == [303]
