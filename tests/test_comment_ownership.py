"""Another user's comment cannot be edited or deleted, over real HTTP on a live server (SQLite and
PostgreSQL): signed in with their own valid CSRF token, from the page forms, and with their own
API token, every attempt is a 403 that changes no comment row; the author's own edit and delete
then work, so the 403s came from ownership and nothing else."""

from __future__ import annotations

import lxml.html
import sqlalchemy as sa

from dailypapers.db.schema import comments
from dailypapers.ingest.files import import_paths
from tests.account_helpers import Browser, csrf, serve
from tests.helpers import hf_item, write_json

PAPER = "2603.00001"


def _comment_rows(engine: sa.Engine) -> list[tuple]:  # type: ignore[type-arg]
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(comments).order_by(comments.c.id))]


def _api_token(browser: Browser) -> str:
    created = browser.submit("/account", "/account/tokens", {"token_name": "mine"})
    return lxml.html.fromstring(created.text).xpath("string(//code[@class='new-token'])")


def _shown(browser: Browser, cid: int) -> str:
    doc = lxml.html.fromstring(browser.get(f"/papers/{PAPER}").text)
    return doc.cssselect(f"li#comment-{cid} .comment-body")[0].text_content().strip()


def test_another_users_comment_cannot_be_edited_or_deleted(settings, engine, tmp_path) -> None:
    import_paths(engine, [write_json(tmp_path / "day.json", [hf_item(PAPER, day="2026-03-02")])])
    with serve(settings, engine, ratelimit_comment_per_user="1000/minute",
               ratelimit_comment_per_ip="1000/minute") as server:
        alice, bob = Browser(server.url), Browser(server.url)
        assert alice.sign_up("Alice").status_code == 303
        assert bob.sign_up("Bob").status_code == 303
        made = alice.submit(f"/papers/{PAPER}", f"/papers/{PAPER}/comments",
                            {"body": "Alice's *own* words"})
        assert made.status_code == 303
        cid = int(made.headers["location"].rsplit("#comment-", 1)[1])
        bob_token = _api_token(bob)
        before = _comment_rows(engine)
        assert len(before) == 1

        # Bob, signed in, with his own session's right CSRF token: the page forms.
        bobs_csrf = csrf(bob.get(f"/papers/{PAPER}").text, f"/papers/{PAPER}/comments")
        page = lxml.html.fromstring(bob.get(f"/papers/{PAPER}").text)
        assert not page.cssselect(f"li#comment-{cid} form[action='/comments/{cid}/edit']")
        assert not page.cssselect(f"li#comment-{cid} form[action='/comments/{cid}/delete']")
        edit = bob.post(f"/comments/{cid}/edit", {"csrf_token": bobs_csrf, "body": "Bob's now"})
        assert edit.status_code == 403
        delete = bob.post(f"/comments/{cid}/delete", {"csrf_token": bobs_csrf})
        assert delete.status_code == 403
        # ...and the API with his own token.
        auth = {"Authorization": f"Bearer {bob_token}"}
        patched = bob.http.patch(f"/api/v1/comments/{cid}", json={"body": "Bob's now"},
                                 headers=auth)
        assert patched.status_code == 403 and "error" in patched.json()
        deleted = bob.http.delete(f"/api/v1/comments/{cid}", headers=auth)
        assert deleted.status_code == 403 and "error" in deleted.json()
        assert _comment_rows(engine) == before
        assert _shown(bob, cid) == "Alice's own words"

        # Alice can: the same forms, her own token.
        alices_csrf = csrf(alice.get(f"/papers/{PAPER}").text, f"/papers/{PAPER}/comments")
        assert alice.post(f"/comments/{cid}/edit",
                          {"csrf_token": alices_csrf, "body": "Alice, edited"}).status_code == 303
        assert _shown(bob, cid) == "Alice, edited"
        assert alice.post(f"/comments/{cid}/delete",
                          {"csrf_token": alices_csrf}).status_code == 303
        (row,) = _comment_rows(engine)
        assert row != before[0]
        assert "Alice, edited" not in bob.get(f"/papers/{PAPER}").text
