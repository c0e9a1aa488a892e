"""Moderation of comments through a live server on SQLite and PostgreSQL: a hidden comment keeps
its place as "[removed by a moderator]" on the page and in the API, its text nowhere, its replies
kept, the paper's count down by one (and `db recount` agreeing); a locked thread takes no new
comment, reply or edit until unlocked; comments are flagged and hidden from the queue; each
action logged with its reason and refused to non-moderators."""

from __future__ import annotations

import lxml.html
import sqlalchemy as sa

from dailypapers.db.engine import write_transaction
from dailypapers.db.schema import comments
from dailypapers.rank.stored import recount
from dailypapers.rank.trending import TrendingParams
from tests.moderation_helpers import KEEP, add_person, flag_rows, log_rows, site

SECRET = "Buy cheap quokka plush at spam.example"


def _comment(person, body: str, parent: int | None = None) -> int:
    answer = person.api("POST", f"/api/v1/papers/{KEEP}/comments",
                        json={"body": body, "parentId": parent})
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def _thread(http) -> dict:
    return http.get(f"/api/v1/papers/{KEEP}/comments?sort=new").json()


def test_a_hidden_comment_keeps_its_place_and_comes_back(settings, engine) -> None:
    with site(settings, engine) as server:
        mod = add_person(engine, server.url, "Mira", is_moderator=True)
        ann = add_person(engine, server.url, "Ann")
        bob = add_person(engine, server.url, "Bob")
        spam = _comment(ann, SECRET)
        reply = _comment(bob, "A reply that stays", spam)
        before = _thread(bob.http)["numComments"]

        answer = mod.api("POST", f"/api/v1/moderation/comments/{spam}/hide",
                         json={"reason": "advertising"})
        assert answer.status_code == 200 and answer.json() == {"ok": True}
        thread = _thread(bob.http)
        assert thread["numComments"] == before - 1
        [top] = thread["comments"]
        assert (top["id"], top["hidden"], top["author"], top["body"], top["html"]) == \
            (spam, True, None, "", "")
        assert [r["id"] for r in top["replies"]] == [reply]
        for who in (bob.http, mod.http):
            page = who.get(f"/papers/{KEEP}").text
            assert SECRET not in page and "A reply that stays" in page
            item = lxml.html.fromstring(page).get_element_by_id(f"comment-{spam}")
            assert "[removed by a moderator]" in item.text_content()
        with write_transaction(engine) as conn:  # the cache moved exactly: nothing to fix
            assert recount(conn, TrendingParams()).comment_drift_total == 0
        # Nobody replies to it, votes on it, edits or deletes it.
        assert bob.api("POST", f"/api/v1/papers/{KEEP}/comments",
                       json={"body": "x", "parentId": spam}).status_code == 400
        assert bob.api("POST", f"/api/v1/comments/{spam}/vote").status_code == 404
        assert ann.api("PATCH", f"/api/v1/comments/{spam}", json={"body": "y"}).status_code == 404

        # Unhidden from the page's form.
        page = lxml.html.fromstring(mod.http.get(f"/papers/{KEEP}").text)
        form = page.xpath(f"//form[@action='/moderation/comments']"
                          f"[.//input[@name='comment_id'][@value='{spam}']]")[0]
        assert form.xpath(".//input[@name='action']/@value") == ["unhide"]
        answer = mod.form("/moderation/comments", {"action": "unhide", "comment_id": str(spam),
                                                   "reason": "it was a joke",
                                                   "next": f"/papers/{KEEP}#comment-{spam}"})
        assert answer.status_code == 303
        assert answer.headers["location"] == f"/papers/{KEEP}#comment-{spam}"
        assert _thread(bob.http)["numComments"] == before
        assert SECRET in bob.http.get(f"/papers/{KEEP}").text
        assert [r[1:] for r in log_rows(engine)] == [
            ("hide_comment", "comment", str(spam), "advertising"),
            ("unhide_comment", "comment", str(spam), "it was a joke")]
        # The public log links to the comment, and never shows its text.
        log = bob.http.get("/moderation").text
        assert f'href="/papers/{KEEP}#comment-{spam}"' in log and SECRET not in log


def test_a_locked_thread_takes_no_comment_reply_or_edit(settings, engine) -> None:
    with site(settings, engine) as server:
        mod = add_person(engine, server.url, "Mira", is_moderator=True)
        ann = add_person(engine, server.url, "Ann")
        first = _comment(ann, "Before the lock")
        assert mod.form("/moderation/threads", {"action": "lock", "paper_id": KEEP,
                                                "reason": "flame war"}).status_code == 303
        refused = [
            ann.api("POST", f"/api/v1/papers/{KEEP}/comments", json={"body": "new"}),
            ann.api("POST", f"/api/v1/papers/{KEEP}/comments",
                    json={"body": "reply", "parentId": first}),
            ann.api("PATCH", f"/api/v1/comments/{first}", json={"body": "edited"}),
            ann.form(f"/papers/{KEEP}/comments", {"body": "by form"}),
        ]
        assert [r.status_code for r in refused] == [400, 400, 400, 400]
        assert "locked by a moderator" in refused[0].json()["error"]
        doc = lxml.html.fromstring(ann.http.get(f"/papers/{KEEP}").text)
        assert "locked by a moderator" in doc.xpath("string(//p[@class='thread-locked'])")
        assert doc.xpath("//textarea") == []  # no comment, reply or edit form
        with engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(comments)).scalar() == 1
        # Deleting your own comment stays possible.
        assert ann.api("DELETE", f"/api/v1/comments/{first}").status_code == 200
        assert mod.api("POST", f"/api/v1/moderation/papers/{KEEP}/lock",
                       json={"reason": "again"}).status_code == 409
        assert mod.api("POST", f"/api/v1/moderation/papers/{KEEP}/unlock",
                       json={"reason": "calm again"}).status_code == 200
        _comment(ann, "After the lock")
        assert [r[1:] for r in log_rows(engine)] == [
            ("lock_thread", "paper", KEEP, "flame war"), ("unlock_thread", "paper", KEEP,
                                                          "calm again")]


def test_comment_moderation_needs_a_moderator(settings, engine) -> None:
    with site(settings, engine) as server:
        ann = add_person(engine, server.url, "Ann")
        cid = _comment(ann, "mine")
        for path, fields in [
                ("/moderation/comments", {"action": "hide", "comment_id": str(cid),
                                          "reason": "x"}),
                ("/moderation/threads", {"action": "lock", "paper_id": KEEP, "reason": "x"})]:
            assert ann.form(path, fields).status_code == 403
        for path in (f"/api/v1/moderation/comments/{cid}/hide",
                     f"/api/v1/moderation/comments/{cid}/unhide",
                     f"/api/v1/moderation/papers/{KEEP}/lock",
                     f"/api/v1/moderation/papers/{KEEP}/unlock"):
            assert ann.api("POST", path, json={"reason": "x"}).status_code == 403, path
            assert ann.http.post(path, json={"reason": "x"}).status_code == 401, path
        assert log_rows(engine) == []
        assert _thread(ann.http)["comments"][0]["hidden"] is False


def test_a_flagged_comment_is_hidden_from_the_queue(settings, engine) -> None:
    with site(settings, engine) as server:
        mod = add_person(engine, server.url, "Mira", is_moderator=True)
        ann = add_person(engine, server.url, "Ann")
        bob = add_person(engine, server.url, "Bob")
        cid = _comment(ann, SECRET)
        page = lxml.html.fromstring(bob.http.get(f"/papers/{KEEP}").text)
        assert f"/flag?type=comment&id={cid}" in page.xpath("//div[@class='moderation-links']/a/@href")
        assert SECRET in bob.http.get(f"/flag?type=comment&id={cid}").text
        done = bob.form("/flag", {"target_type": "comment", "target_id": str(cid),
                                  "reason": "spam"})
        assert done.status_code == 200  # and it leads back to the comment, not a dead end
        assert lxml.html.fromstring(done.text).xpath("//main//a[@class='back-link']/@href") == [
            f"/papers/{KEEP}#comment-{cid}"]
        assert bob.api("POST", "/api/v1/flags", json={
            "targetType": "comment", "targetId": str(cid), "reason": "spam"}).status_code == 409
        assert bob.api("POST", "/api/v1/flags", json={
            "targetType": "comment", "targetId": "999999", "reason": "spam"}).status_code == 404
        [item] = mod.api("GET", "/api/v1/moderation/flags").json()
        assert (item["targetType"], item["targetId"], item["count"]) == ("comment", str(cid), 1)
        # The queue is one click from a moderator's account page; the mail page from an admin's.
        admin = add_person(engine, server.url, "Ada", is_admin=True)
        links = {who.name: lxml.html.fromstring(who.http.get("/account").text).xpath(
            "//ul[@class='account-links']//a/@href") for who in (mod, bob, admin)}
        assert links == {"Mira": ["/users/Mira", "/collections", "/moderation/queue"],
                         "Bob": ["/users/Bob", "/collections"],
                         "Ada": ["/users/Ada", "/collections", "/moderation/queue", "/admin/mail"]}
        queue = lxml.html.fromstring(mod.http.get("/moderation/queue").text)
        assert queue.xpath("//article[@class='queue-item']//input[@name='action']/@value") == [
            "dismiss", "hide"]
        answer = mod.form("/moderation/queue/resolve", {
            "action": "hide", "target_type": "comment", "target_id": str(cid),
            "target_name": KEEP, "reason": "spam link"})
        assert answer.status_code == 303
        assert _thread(bob.http)["comments"][0]["hidden"] is True
        assert [r[4:] for r in flag_rows(engine)] == [("hidden", mod.id)]
        assert [r[1:] for r in log_rows(engine)] == [
            ("hide_comment", "comment", str(cid), "spam link")]


def test_flagged_comments_come_back_inert_in_the_queue(settings, engine) -> None:
    from tests.test_accounts_reset_limits import _inert
    from tests.xss_vectors import XSS_VECTORS

    with site(settings, engine, ratelimit_comment_per_user="1000/minute",
              ratelimit_comment_per_ip="1000/minute") as server:
        mod = add_person(engine, server.url, "Mira", is_moderator=True)
        ann = add_person(engine, server.url, "Ann")
        bob = add_person(engine, server.url, "Bob")
        baseline = [s.get("src") for s in lxml.html.fromstring(
            mod.http.get("/moderation").text).iter("script")]
        for vector in XSS_VECTORS:
            cid = _comment(ann, vector)
            assert bob.api("POST", "/api/v1/flags", json={
                "targetType": "comment", "targetId": str(cid), "reason": "spam"}
            ).status_code == 200
            _inert(bob.http.get(f"/flag?type=comment&id={cid}").text, baseline)
        queue = mod.http.get("/moderation/queue").text
        _inert(queue, baseline)
        titles = [h.text_content() for h in lxml.html.fromstring(queue).xpath(
            "//article[@class='queue-item']/h2")]
        assert len(titles) == len(XSS_VECTORS)
        for vector, title in zip(XSS_VECTORS, titles):
            assert " ".join(vector.split())[:120] in title
