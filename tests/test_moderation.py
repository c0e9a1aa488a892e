"""Moderation through a live server on SQLite and PostgreSQL: each action from the forms and the
API, logged with its reason; refused to non-moderators (403) and to anonymous visitors (login /
401); suspension ends sign-in, sessions and tokens; flags reach the queue, which resolves them;
the public log pages; the log is append-only; typed text comes back inert."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import lxml.html
import sqlalchemy as sa
from click.testing import CliRunner

from dailypapers.cli import main
from dailypapers.db.schema import papers, users
from tests.account_helpers import Browser, csrf
from tests.test_accounts_rules import cli_env  # noqa: F401  (the fixture)
from tests.moderation_helpers import HIDE, KEEP, add_person, flag_rows, log_rows, site
from tests.xss_vectors import XSS_VECTORS

REPO = Path(__file__).resolve().parents[1]


def _state(engine) -> tuple:
    with engine.connect() as conn:
        hidden = sorted(conn.execute(sa.select(papers.c.id).where(
            papers.c.hidden_at.is_not(None))).scalars())
        suspended = sorted(conn.execute(sa.select(users.c.username).where(
            users.c.suspended_at.is_not(None))).scalars())
    return hidden, suspended


# Every state-changing moderation request, as a form and as an API call.
def _form_actions(target: str) -> list[tuple[str, dict[str, str]]]:
    return [
        ("/moderation/papers", {"action": "hide", "paper_id": HIDE, "reason": "spam"}),
        ("/moderation/users", {"action": "suspend", "username": target, "reason": "spam"}),
        ("/moderation/queue/resolve", {"action": "hide", "target_type": "paper",
                                       "target_id": HIDE, "target_name": HIDE, "reason": "r"}),
    ]


def _api_actions(target: str) -> list[tuple[str, str, dict]]:
    return [
        ("POST", f"/api/v1/moderation/papers/{HIDE}/hide", {"reason": "spam"}),
        ("POST", f"/api/v1/moderation/papers/{HIDE}/unhide", {"reason": "spam"}),
        ("POST", f"/api/v1/moderation/users/{target}/suspend", {"reason": "spam"}),
        ("POST", f"/api/v1/moderation/users/{target}/unsuspend", {"reason": "spam"}),
        ("POST", "/api/v1/moderation/flags/dismiss",
         {"targetType": "paper", "targetId": HIDE, "reason": "spam"}),
        ("GET", "/api/v1/moderation/flags", {}),
    ]


def test_each_action_is_refused_to_non_moderators(settings, engine) -> None:
    with site(settings, engine) as server:
        reader = add_person(engine, server.url, "Rudi")
        target = add_person(engine, server.url, "Tess")
        reader.api("POST", "/api/v1/flags", json={"targetType": "paper", "targetId": HIDE,
                                                  "reason": "spam"})
        anonymous = httpx.Client(base_url=server.url, follow_redirects=False)
        token = csrf(anonymous.get("/login").text, "/login")  # a signed-out form's token
        for path, fields in _form_actions(target.name):
            assert reader.form(path, fields).status_code == 403, path
            answer = anonymous.post(path, data={"csrf_token": token, **fields})
            assert answer.status_code == 303 and answer.headers["location"] == "/login", path
            assert anonymous.post(path, data=fields).status_code == 403, path  # no token
        assert reader.http.get("/moderation/queue").status_code == 403
        answer = anonymous.get("/moderation/queue")
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
        for method, path, body in _api_actions(target.name):
            answer = reader.api(method, path, json=body if method == "POST" else None)
            assert answer.status_code == 403 and answer.json() == {"error": "moderators only"}
            answer = anonymous.request(method, path, json=body if method == "POST" else None)
            assert answer.status_code == 401 and "error" in answer.json(), path
        assert _state(engine) == ([], [])
        assert log_rows(engine) == []
        assert [r[4] for r in flag_rows(engine)] == [None]  # the flag is still open
        anonymous.close()


def test_each_action_works_and_is_logged_with_its_reason(settings, engine) -> None:
    statements: list[str] = []
    with site(settings, engine) as server:
        mod = add_person(engine, server.url, "Mira", is_moderator=True)
        target = add_person(engine, server.url, "Tess")
        flagger = add_person(engine, server.url, "Finn")
        sa.event.listen(engine, "before_cursor_execute",
                        lambda *args: statements.append(args[2]))
        # Forms.
        assert mod.form("/moderation/papers", {"action": "hide", "paper_id": HIDE,
                                               "reason": "spam paper"}).status_code == 303
        assert _state(engine) == ([HIDE], [])
        assert mod.form("/moderation/papers", {"action": "unhide", "paper_id": HIDE,
                                               "reason": "not spam"}).status_code == 303
        assert mod.form("/moderation/users", {"action": "suspend", "username": "tess",
                                              "reason": "abuse"}).status_code == 303
        assert _state(engine) == ([], ["Tess"])
        assert mod.form("/moderation/users", {"action": "unsuspend", "username": "Tess",
                                              "reason": "appeal"}).status_code == 303
        # The API.
        assert mod.api("POST", f"/api/v1/moderation/papers/{KEEP}/hide",
                       json={"reason": "api hide"}).json() == {"ok": True}
        assert mod.api("POST", f"/api/v1/moderation/papers/{KEEP}v2/unhide",
                       json={"reason": "api unhide"}).json() == {"ok": True}
        assert mod.api("POST", "/api/v1/moderation/users/Tess/suspend",
                       json={"reason": "api suspend"}).status_code == 200
        assert _state(engine) == ([], ["Tess"])
        assert mod.api("POST", "/api/v1/moderation/users/Tess/unsuspend",
                       json={"reason": "api unsuspend"}).status_code == 200
        assert flagger.api("POST", "/api/v1/flags", json={
            "targetType": "user", "targetId": "Tess", "reason": "spam"}).status_code == 200
        answer = mod.api("POST", "/api/v1/moderation/flags/dismiss",
                         json={"targetType": "user", "targetId": "Tess", "reason": "fine"})
        assert answer.json() == {"dismissed": 1}
        tid = str(target.id)
        assert log_rows(engine) == [
            (mod.id, "hide_paper", "paper", HIDE, "spam paper"),
            (mod.id, "unhide_paper", "paper", HIDE, "not spam"),
            (mod.id, "suspend_user", "user", tid, "abuse"),
            (mod.id, "unsuspend_user", "user", tid, "appeal"),
            (mod.id, "hide_paper", "paper", KEEP, "api hide"),
            (mod.id, "unhide_paper", "paper", KEEP, "api unhide"),
            (mod.id, "suspend_user", "user", tid, "api suspend"),
            (mod.id, "unsuspend_user", "user", tid, "api unsuspend"),
            (mod.id, "dismiss_flags", "user", tid, "fine")]
        assert flag_rows(engine) == [(flagger.id, "user", tid, "spam", "dismissed", mod.id)]

        # Refusals change nothing and log nothing: no reason, twice the same, unknown targets.
        before = log_rows(engine)
        for fields in ({"action": "hide", "paper_id": HIDE, "reason": "  "},
                       {"action": "hide", "paper_id": HIDE},
                       {"action": "unhide", "paper_id": HIDE, "reason": "not hidden"},
                       {"action": "hide", "paper_id": "2603.99999", "reason": "x"},
                       {"action": "hide", "paper_id": "not-an-id", "reason": "x"},
                       {"action": "explode", "paper_id": HIDE, "reason": "x"},
                       {"action": "hide", "paper_id": HIDE, "reason": "x" * 501}):
            assert mod.form("/moderation/papers", fields).status_code in (400, 404, 409), fields
        for body in ({}, {"reason": ""}, {"reason": 7}, [1], None):
            answer = mod.api("POST", "/api/v1/moderation/users/Tess/suspend", json=body)
            assert answer.status_code == 400 and "error" in answer.json(), body
        assert mod.api("POST", "/api/v1/moderation/users/Mira/suspend",
                       json={"reason": "me"}).status_code == 409
        assert mod.api("POST", "/api/v1/moderation/users/nobody/suspend",
                       json={"reason": "x"}).status_code == 404
        assert log_rows(engine) == before and _state(engine) == ([], [])

    # Append-only: nothing this test ran touched a log row but INSERTs.
    touching = [s for s in statements if re.search(r"moderation_log", s, re.I)]
    assert any(s.lstrip().upper().startswith("INSERT") for s in touching)
    assert not [s for s in touching if re.match(r"\s*(UPDATE|DELETE)", s, re.I)]


def test_no_code_updates_or_deletes_the_log() -> None:
    """The package has no statement that changes or removes a moderation_log row."""
    pattern = re.compile(r"moderation_log\s*\.\s*(update|delete)\s*\(|"
                         r"(update|delete)\s*\(\s*moderation_log|"
                         r"(UPDATE|DELETE\s+FROM)\s+\"?moderation_log", re.I)
    offenders = [str(path) for path in (REPO / "dailypapers").rglob("*.py")
                 if "migrations" not in path.parts and pattern.search(path.read_text())]
    assert offenders == []
    assert pattern.search("conn.execute(moderation_log.delete().where(x))")  # the check can fail


def test_a_moderator_cannot_suspend_another_moderator_unless_an_administrator(
        settings, engine) -> None:
    with site(settings, engine) as server:
        mod = add_person(engine, server.url, "Mira", is_moderator=True)
        other = add_person(engine, server.url, "Otto", is_moderator=True)
        admin = add_person(engine, server.url, "Ada", is_admin=True)
        answer = mod.api("POST", "/api/v1/moderation/users/Otto/suspend", json={"reason": "x"})
        assert answer.status_code == 403
        assert admin.api("POST", "/api/v1/moderation/users/Otto/suspend",
                         json={"reason": "rogue"}).status_code == 200
        assert other.api("GET", "/api/v1/me").status_code == 401  # their token is dead now
        assert _state(engine) == ([], ["Otto"])


def test_a_suspended_user_cannot_sign_in_and_their_session_and_token_are_refused(
        settings, engine) -> None:
    with site(settings, engine) as server:
        mod = add_person(engine, server.url, "Mira", is_moderator=True)
        tess = add_person(engine, server.url, "Tess")
        assert tess.http.get("/account").status_code == 200
        assert tess.api("GET", "/api/v1/me").json()["username"] == "Tess"
        assert mod.form("/moderation/users", {"action": "suspend", "username": "Tess",
                                              "reason": "spam"}).status_code == 303
        answer = tess.http.get("/account")
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
        assert tess.api("GET", "/api/v1/me").status_code == 401
        for method, path, body in [
                ("POST", f"/api/v1/papers/{KEEP}/vote", None),
                ("POST", "/api/v1/flags", {"targetType": "paper", "targetId": KEEP,
                                           "reason": "spam"})]:
            assert tess.api(method, path, json=body).status_code == 401, path
        assert tess.form(f"/papers/{KEEP}/vote", {}).status_code == 403  # the session is gone
        browser = Browser(server.url)
        assert browser.sign_in("Tess").status_code == 400
        assert browser.signed_in_as() is None

        assert mod.form("/moderation/users", {"action": "unsuspend", "username": "Tess",
                                              "reason": "appeal granted"}).status_code == 303
        assert tess.api("GET", "/api/v1/me").status_code == 200  # tokens work again
        assert browser.sign_in("Tess").status_code == 303
        assert browser.signed_in_as() == "Tess"
        browser.close()


def test_flags_reach_the_queue_which_resolves_them(settings, engine) -> None:
    with site(settings, engine) as server:
        mod = add_person(engine, server.url, "Mira", is_moderator=True)
        finn = add_person(engine, server.url, "Finn")
        gina = add_person(engine, server.url, "Gina")
        add_person(engine, server.url, "Tess")
        # The page's form: reached from the paper page's link.
        paper = finn.http.get(f"/papers/{HIDE}").text
        assert f"/flag?type=paper&id={HIDE}" in lxml.html.fromstring(paper).xpath(
            "//div[@class='moderation-links']/a/@href")
        page = finn.http.get(f"/flag?type=paper&id={HIDE}")
        assert page.status_code == 200 and "Quokka locomotion on sand dunes" in page.text
        done = finn.form("/flag", {"target_type": "paper", "target_id": HIDE,
                                   "reason": "off_topic", "detail": "about marsupials"})
        assert done.status_code == 200 and "Thank you" in done.text
        again = finn.form("/flag", {"target_type": "paper", "target_id": HIDE,
                                    "reason": "spam"})
        assert again.status_code == 409 and "flagged this already" in again.text
        assert gina.api("POST", "/api/v1/flags", json={
            "targetType": "paper", "targetId": HIDE, "reason": "spam"}).status_code == 200
        user_page = lxml.html.fromstring(gina.http.get("/users/Tess").text)
        assert user_page.xpath("//p[@class='moderation-links']/a/@href") == [
            "/flag?type=user&id=Tess"]
        assert "User: " in gina.http.get("/flag?type=user&id=Tess").text
        assert gina.api("POST", "/api/v1/flags", json={
            "targetType": "user", "targetId": "tess", "reason": "abuse",
            "detail": "rude"}).status_code == 200
        for body, status in [({"targetType": "paper", "targetId": HIDE, "reason": "meh"}, 400),
                             ({"targetType": "comet", "targetId": HIDE, "reason": "spam"}, 400),
                             ({"targetType": "paper", "targetId": "2603.99999",
                               "reason": "spam"}, 404),
                             ({"targetType": "user", "targetId": "Gina", "reason": "spam"}, 409)]:
            assert gina.api("POST", "/api/v1/flags", json=body).status_code == status, body
        assert finn.http.get("/flag?type=paper&id=2603.99999").status_code == 404
        assert anonymous_redirect(server.url, f"/flag?type=paper&id={HIDE}")

        queue = mod.api("GET", "/api/v1/moderation/flags").json()
        assert [(q["targetType"], q["name"], q["count"], q["reasons"]) for q in queue] == [
            ("paper", HIDE, 2, {"off_topic": 1, "spam": 1}), ("user", "Tess", 1, {"abuse": 1})]
        doc = lxml.html.fromstring(mod.http.get("/moderation/queue").text)
        items = doc.xpath("//article[@class='queue-item']")
        assert len(items) == 2 and "about marsupials" in items[0].text_content()
        assert items[1].xpath(".//input[@name='action']/@value") == ["dismiss", "suspend"]

        answer = mod.form("/moderation/queue/resolve", {
            "action": "hide", "target_type": "paper", "target_id": HIDE, "target_name": HIDE,
            "reason": "off-topic"})
        assert answer.status_code == 303 and answer.headers["location"] == "/moderation/queue?done=1"
        answer = mod.form("/moderation/queue/resolve", {
            "action": "suspend", "target_type": "user", "target_id": queue[1]["targetId"],
            "target_name": "Tess", "reason": "abusive"})
        assert answer.status_code == 303
        assert _state(engine) == ([HIDE], ["Tess"])
        assert [r[4:] for r in flag_rows(engine)] == [("hidden", mod.id), ("hidden", mod.id),
                                                      ("suspended", mod.id)]
        assert [r[1] for r in log_rows(engine)] == ["hide_paper", "suspend_user"]
        assert mod.api("GET", "/api/v1/moderation/flags").json() == []
        assert "No open flags." in mod.http.get("/moderation/queue").text
        # A hidden paper cannot be flagged (nobody but moderators can see it).
        assert finn.api("POST", "/api/v1/flags", json={
            "targetType": "paper", "targetId": HIDE, "reason": "spam"}).status_code == 404


def anonymous_redirect(url: str, path: str) -> bool:
    with httpx.Client(base_url=url) as http:
        answer = http.get(path, follow_redirects=False)
    return answer.status_code == 303 and answer.headers["location"].startswith("/login")


def test_flags_are_rate_limited_per_user(settings, engine) -> None:
    with site(settings, engine, ratelimit_flag_per_user="2/hour") as server:
        finn = add_person(engine, server.url, "Finn")
        for name in ("Ann", "Bob", "Cyd"):
            add_person(engine, server.url, name)
        codes = [finn.api("POST", "/api/v1/flags", json={
            "targetType": "user", "targetId": name, "reason": "spam"}).status_code
            for name in ("Ann", "Bob", "Cyd")]
        assert codes == [200, 200, 429]
        answer = finn.form("/flag", {"target_type": "user", "target_id": "Cyd",
                                     "reason": "spam"})
        assert answer.status_code == 429 and int(answer.headers["Retry-After"]) > 0
        assert len(flag_rows(engine)) == 2


def test_the_public_log_pages_newest_first(settings, engine) -> None:
    from dailypapers.community import moderation

    with site(settings, engine) as server:
        mod = add_person(engine, server.url, "Mira", is_moderator=True)
        anonymous = httpx.Client(base_url=server.url, follow_redirects=False)
        assert "No moderation actions yet." in anonymous.get("/moderation").text
        # The footer of every page links to it.
        for path in ("/papers", f"/papers/{KEEP}", "/search?q=x", "/moderation"):
            footer = lxml.html.fromstring(anonymous.get(path).text).xpath("//footer//a/@href")
            assert "/moderation" in footer, path
        size = moderation.LOG_PAGE_SIZE
        for n in range(size + 1):
            action = "hide" if n % 2 == 0 else "unhide"
            assert mod.api("POST", f"/api/v1/moderation/papers/{KEEP}/{action}",
                           json={"reason": f"reason number {n}"}).status_code == 200
        first = lxml.html.fromstring(anonymous.get("/moderation").text)
        reasons = first.xpath("//td[@class='reason']/text()")
        assert len(reasons) == size and reasons[0] == f"reason number {size}"
        assert first.xpath("//a[@rel='next']/@href") == ["/moderation?page=2"]
        second = lxml.html.fromstring(anonymous.get("/moderation?page=2").text)
        assert second.xpath("//td[@class='reason']/text()") == ["reason number 0"]
        assert "Mira" in second.xpath("string(//tbody/tr/td[2])")
        assert anonymous.get("/moderation?page=3").status_code == 404
        assert anonymous.get("/moderation?page=x").status_code == 400
        api = anonymous.get("/api/v1/moderation/log?page=2").json()
        assert api["total"] == size + 1
        assert [(e["action"], e["targetId"], e["reason"], e["moderator"]) for e in api["data"]] \
            == [("hide_paper", KEEP, "reason number 0", "Mira")]
        assert anonymous.get("/api/v1/moderation/log?page=0").status_code == 400
        anonymous.close()


def test_reasons_and_details_come_back_inert(settings, engine) -> None:
    from tests.test_accounts_reset_limits import _inert

    with site(settings, engine) as server:
        mod = add_person(engine, server.url, "Mira", is_moderator=True)
        people = [add_person(engine, server.url, f"flagger{n}") for n in range(len(XSS_VECTORS))]
        baseline = [s.get("src") for s in lxml.html.fromstring(
            mod.http.get("/moderation").text).iter("script")]
        for person, vector in zip(people, XSS_VECTORS):
            assert person.api("POST", "/api/v1/flags", json={
                "targetType": "paper", "targetId": KEEP, "reason": "other",
                "detail": vector}).status_code == 200
        queue = mod.http.get("/moderation/queue").text
        _inert(queue, baseline)
        shown = lxml.html.fromstring(queue).xpath("//ul[@class='flag-details']/li/text()")
        assert sorted(t.strip() for t in shown) == sorted(" ".join(v.split()) for v in XSS_VECTORS)
        for n, vector in enumerate(XSS_VECTORS):
            action = "hide" if n % 2 == 0 else "unhide"
            assert mod.api("POST", f"/api/v1/moderation/papers/{HIDE}/{action}",
                           json={"reason": vector}).status_code == 200, vector
        log = mod.http.get("/moderation").text
        _inert(log, baseline)
        reasons = lxml.html.fromstring(log).xpath("//td[@class='reason']/text()")
        assert sorted(reasons) == sorted(" ".join(v.split()) for v in XSS_VECTORS)


def test_the_cli_grants_and_revokes_the_moderator_role(engine, cli_env) -> None:
    from dailypapers.community.accounts import create_user
    from dailypapers.db.engine import write_transaction

    with write_transaction(engine) as conn:
        create_user(conn, "Mira", "x", hashed="!")

    def role() -> bool:
        with engine.connect() as conn:
            return conn.execute(sa.select(users.c.is_moderator)).scalar_one()

    runner = CliRunner()
    result = runner.invoke(main, ["user", "moderator", "mira"])
    assert result.exit_code == 0 and "is a moderator" in result.output and role() is True
    result = runner.invoke(main, ["user", "moderator", "Mira"])
    assert result.exit_code == 0 and "already" in result.output
    result = runner.invoke(main, ["user", "moderator", "Mira", "--revoke"])
    assert result.exit_code == 0 and "no longer" in result.output and role() is False
    result = runner.invoke(main, ["user", "moderator", "nobody"])
    assert result.exit_code == 1 and "no user 'nobody'" in result.output
