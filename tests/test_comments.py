"""Comments: threads, own-only edit and delete (a deleted one keeps its place), votes ordering by
the Wilson lower bound or by time, limits, counts shown everywhere as Hugging Face's + ours, the
cache that `db recount` checks, trending following comments, CSRF, rate limits, and XSS vectors
coming out inert. Each test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import math

import lxml.html
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from dailypapers.cli import main
from dailypapers.community.comments import (
    CommentRefused, CommentRules, add_comment, set_comment_vote, thread,
)
from dailypapers.db.engine import db_now, write_transaction
from dailypapers.db.schema import comments, feature_days, papers
from dailypapers.rank.stored import recount
from dailypapers.rank.trending import TrendingParams
from dailypapers.rank.wilson import wilson_lower_bound
from dailypapers.web.app import create_app
from tests.test_votes import DAY, P1, P2, _load, _session, _users
from tests.xss_vectors import XSS_VECTORS

RULES = CommentRules()
PARAMS = TrendingParams()


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _post(client, token: str, body: str, parent: int | None = None, paper: str = P1):  # type: ignore[no-untyped-def]
    return client.post(f"/api/v1/papers/{paper}/comments", json={"body": body, "parentId": parent},
                       headers=_auth(token))


def _local(engine, pid: str = P1) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(papers.c.local_comments).where(papers.c.id == pid)).scalar_one()


def _comment_client(settings, engine, **overrides):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    generous = {"ratelimit_comment_per_user": "1000/minute", "ratelimit_comment_per_ip": "1000/minute"}
    return TestClient(create_app(settings.model_copy(update={**generous, **overrides}), engine))


@pytest.fixture
def api(settings, engine):  # type: ignore[no-untyped-def]
    with _comment_client(settings, engine) as client:
        yield client


# --- threads, edit and delete ------------------------------------------------------------------


def test_replies_nest_under_their_parent_through_the_api(api, engine) -> None:
    _load(engine, {P1: (1, "08:00")})
    (_a, alice), (_b, bob) = _users(engine, 2)
    top = _post(api, alice, "First *thoughts*").json()
    assert (top["parentId"], top["author"], top["html"]) == \
        (None, "voter0", "<p>First <em>thoughts</em></p>\n")
    reply = _post(api, bob, "A reply", top["id"]).json()
    deeper = _post(api, alice, "A reply to the reply", reply["id"]).json()
    other = _post(api, bob, "Second top-level").json()
    listed = api.get(f"/api/v1/papers/{P1}/comments", params={"sort": "new"}).json()
    assert [c["id"] for c in listed["comments"]] == [other["id"], top["id"]]
    first = listed["comments"][1]
    assert [r["id"] for r in first["replies"]] == [reply["id"]]
    assert [r["id"] for r in first["replies"][0]["replies"]] == [deeper["id"]]
    assert listed["numComments"] == 4
    # A reply names a comment of the same paper.
    _load(engine, {P2: (1, "09:00")})
    wrong = _post(api, bob, "x", top["id"], paper=P2)
    assert wrong.status_code == 400 and "another paper" in wrong.json()["error"]
    assert _post(api, bob, "x", 999999).status_code == 400
    # Ids past the 32-bit columns are no comment: 4xx, never a database error.
    assert _post(api, bob, "x", 2**31).status_code == 400
    assert _post(api, bob, "x", True).status_code == 400
    assert api.patch(f"/api/v1/comments/{2**40}", json={"body": "x"},
                     headers=_auth(bob)).status_code == 404
    assert api.post(f"/api/v1/comments/{2**31}/vote", headers=_auth(bob)).status_code == 404


def test_depth_cap_refuses_a_reply_below_the_last_level(settings, engine) -> None:
    _load(engine, {P1: (1, "08:00")})
    (_a, alice), = _users(engine, 1)
    with _comment_client(settings, engine, comment_max_depth=2) as client:
        top = _post(client, alice, "level 0").json()
        second = _post(client, alice, "level 1", top["id"])
        assert second.status_code == 201
        third = _post(client, alice, "level 2", second.json()["id"])
        assert third.status_code == 400 and "2 levels" in third.json()["error"]
    assert _local(engine) == 2


def test_edit_and_delete_own_but_403_for_another_users(api, engine) -> None:
    _load(engine, {P1: (1, "08:00")})
    (_a, alice), (_b, bob) = _users(engine, 2)
    cid = _post(api, alice, "original").json()["id"]
    assert api.patch(f"/api/v1/comments/{cid}", json={"body": "hijacked"},
                     headers=_auth(bob)).status_code == 403
    assert api.delete(f"/api/v1/comments/{cid}", headers=_auth(bob)).status_code == 403
    assert api.patch(f"/api/v1/comments/{cid}", json={"body": "x"}).status_code == 401
    edited = api.patch(f"/api/v1/comments/{cid}", json={"body": "**better**"}, headers=_auth(alice))
    assert edited.status_code == 200
    assert (edited.json()["body"], edited.json()["html"]) == ("**better**", "<p><strong>better</strong></p>\n")
    assert edited.json()["editedAt"] is not None
    assert api.patch("/api/v1/comments/424242", json={"body": "x"}, headers=_auth(alice)).status_code == 404
    assert api.patch("/api/v1/comments/abc", json={"body": "x"}, headers=_auth(alice)).status_code == 404
    assert _local(engine) == 1
    gone = api.delete(f"/api/v1/comments/{cid}", headers=_auth(alice))
    assert gone.status_code == 200 and gone.json()["deleted"] is True
    assert _local(engine) == 0
    assert api.delete(f"/api/v1/comments/{cid}", headers=_auth(alice)).status_code == 200
    assert _local(engine) == 0  # deleting twice counts once
    again = api.patch(f"/api/v1/comments/{cid}", json={"body": "back"}, headers=_auth(alice))
    assert again.status_code == 400


def test_a_deleted_comment_keeps_its_place_and_its_replies(api, engine, client) -> None:
    _load(engine, {P1: (1, "08:00")})
    (uid_a, alice), (_b, bob) = _users(engine, 2)
    top = _post(api, alice, "secret words").json()
    reply = _post(api, bob, "a reply that stays", top["id"]).json()
    api.delete(f"/api/v1/comments/{top['id']}", headers=_auth(alice))
    listed = api.get(f"/api/v1/papers/{P1}/comments").json()
    (only,) = listed["comments"]
    assert (only["id"], only["deleted"], only["body"], only["author"]) == (top["id"], True, "", None)
    assert [r["id"] for r in only["replies"]] == [reply["id"]]
    assert listed["numComments"] == 1  # deleted ones do not count
    page = lxml.html.fromstring(client.get(f"/papers/{P1}").text)
    deleted = page.cssselect(f"li#comment-{top['id']}")[0]
    assert "deleted" in deleted.get("class")
    assert "secret words" not in lxml.html.tostring(page, encoding="unicode")
    assert deleted.cssselect(f"li#comment-{reply['id']} .comment-body")[0].text_content().strip() \
        == "a reply that stays"
    with engine.connect() as conn:  # the row stays, emptied
        row = conn.execute(sa.select(comments).where(comments.c.id == top["id"])).one()
    assert row.body == "" and row.deleted_at is not None and row.user_id == uid_a
    # Nobody replies to or votes on a deleted comment.
    assert _post(api, bob, "late", top["id"]).status_code == 400
    assert api.post(f"/api/v1/comments/{top['id']}/vote", headers=_auth(bob)).status_code == 400


def test_length_limit_and_empty_bodies_are_400(settings, engine) -> None:
    _load(engine, {P1: (1, "08:00")})
    (_a, alice), = _users(engine, 1)
    with _comment_client(settings, engine, comment_max_chars=50) as client:
        assert _post(client, alice, "x" * 50).status_code == 201
        long = _post(client, alice, "x" * 51)
        assert long.status_code == 400 and "50" in long.json()["error"]
        assert _post(client, alice, "   \n ").status_code == 400
        assert client.post(f"/api/v1/papers/{P1}/comments", json={"body": 5},
                           headers=_auth(alice)).status_code == 400
        assert client.post(f"/api/v1/papers/{P1}/comments", content=b"not json",
                           headers=_auth(alice)).status_code == 400
        assert _post(client, alice, "hello", paper="2603.99999").status_code == 404
    assert _local(engine) == 1


# --- votes and order ---------------------------------------------------------------------------


def test_wilson_order_differs_from_time_order(api, engine, client) -> None:
    """Three comments, oldest first: A (1 vote), B (3 votes), C (0 votes). Wilson: B, A, C;
    newest first: C, B, A. A vote toggled twice leaves the order as it was."""
    _load(engine, {P1: (1, "08:00")})
    voters = _users(engine, 4)
    (_u0, t0) = voters[0]
    a, b, c = (_post(api, t0, name).json()["id"] for name in ("A", "B", "C"))
    for _uid, token in voters[1:]:
        assert api.post(f"/api/v1/comments/{b}/vote", headers=_auth(token)).json()["changed"]
    first = api.post(f"/api/v1/comments/{a}/vote", headers=_auth(voters[1][1])).json()
    assert (first["voted"], first["upvotes"]) == (True, 1)
    again = api.post(f"/api/v1/comments/{a}/vote", headers=_auth(voters[1][1])).json()
    assert (again["changed"], again["upvotes"]) == (False, 1)  # UNIQUE (user, comment)
    top = api.get(f"/api/v1/papers/{P1}/comments").json()["comments"]
    assert [x["id"] for x in top] == [b, a, c]
    assert top[0]["score"] == pytest.approx(wilson_lower_bound(3, 3))
    new = api.get(f"/api/v1/papers/{P1}/comments", params={"sort": "new"}).json()["comments"]
    assert [x["id"] for x in new] == [c, b, a]
    bad = api.get(f"/api/v1/papers/{P1}/comments", params={"sort": "loud"})
    assert bad.status_code == 400 and "sort" in bad.json()["error"]
    # The page orders the same way, and the switch lives in the URL.
    ids = lambda html: [int(li.get("data-comment-id")) for li in  # noqa: E731
                        lxml.html.fromstring(html).cssselect("ol.comment-list > li.comment")]
    assert ids(client.get(f"/papers/{P1}").text) == [b, a, c]
    assert ids(client.get(f"/papers/{P1}?sort=new").text) == [c, b, a]
    assert client.get(f"/papers/{P1}?sort=loud").status_code == 400
    # Taking a vote back (DELETE) and the page's toggle.
    down = api.delete(f"/api/v1/comments/{a}/vote", headers=_auth(voters[1][1])).json()
    assert (down["voted"], down["changed"], down["upvotes"]) == (False, True, 0)


def test_page_forms_comment_reply_vote_edit_delete_without_javascript(client, engine) -> None:
    _load(engine, {P1: (1, "08:00")})
    (uid, _t), (other_uid, _o) = _users(engine, 2)
    cookie, csrf = _session(engine, uid)
    client.cookies.set("dp_session", cookie)
    page = client.get(f"/papers/{P1}").text
    form = lxml.html.fromstring(page).cssselect(f"form[action='/papers/{P1}/comments']")[0]
    assert form.cssselect("input[name=csrf_token]")[0].get("value") == csrf
    made = client.post(f"/papers/{P1}/comments", data={"csrf_token": csrf, "body": "From the page"},
                       follow_redirects=False)
    assert made.status_code == 303
    cid = int(made.headers["location"].rsplit("#comment-", 1)[1])
    reply = client.post(f"/papers/{P1}/comments",
                        data={"csrf_token": csrf, "body": "reply", "parent": str(cid)},
                        follow_redirects=False)
    assert reply.status_code == 303
    for bad in ("99999999999", "2147483648", "-1", "x"):
        assert client.post(f"/papers/{P1}/comments",
                           data={"csrf_token": csrf, "body": "r", "parent": bad},
                           follow_redirects=False).status_code == 400, bad
    voted = client.post(f"/comments/{cid}/vote", data={"csrf_token": csrf, "sort": "new"},
                        follow_redirects=False)
    assert voted.headers["location"] == f"/papers/{P1}?sort=new#comment-{cid}"  # order kept
    assert 'name="sort" value="new"' in client.get(f"/papers/{P1}?sort=new").text
    edited = client.post(f"/comments/{cid}/edit",
                         data={"csrf_token": csrf, "body": "Edited", "sort": "//evil"},
                         follow_redirects=False)
    assert edited.headers["location"] == f"/papers/{P1}#comment-{cid}"  # only known orders
    doc = lxml.html.fromstring(client.get(f"/papers/{P1}").text)
    li = doc.cssselect(f"li#comment-{cid}")[0]
    assert li.cssselect(".comment-body")[0].text_content().strip() == "Edited"
    assert li.cssselect(".comment-votes .count")[0].text_content() == "1"
    assert li.cssselect("details.reply form input[name=parent]")[0].get("value") == str(cid)
    assert doc.cssselect("#comments h2 .count")[0].text_content() == "2"
    # Another user's comment: no edit form, and a forged POST is a 403.
    with write_transaction(engine) as conn:
        theirs = add_comment(conn, other_uid, P1, "not yours", None, RULES, PARAMS)
    doc = lxml.html.fromstring(client.get(f"/papers/{P1}").text)
    assert not doc.cssselect(f"li#comment-{theirs} details.edit")
    assert client.post(f"/comments/{theirs}/edit", data={"csrf_token": csrf, "body": "x"},
                       follow_redirects=False).status_code == 403
    assert client.post(f"/comments/{theirs}/delete", data={"csrf_token": csrf},
                       follow_redirects=False).status_code == 403
    assert client.post(f"/comments/{cid}/delete", data={"csrf_token": csrf},
                       follow_redirects=False).status_code == 303
    assert _local(engine) == 2  # reply + theirs


def test_csrf_is_required_on_every_comment_form(client, engine) -> None:
    _load(engine, {P1: (1, "08:00")})
    (uid, _t), = _users(engine, 1)
    with write_transaction(engine) as conn:
        cid = add_comment(conn, uid, P1, "mine", None, RULES, PARAMS)
    cookie, _csrf = _session(engine, uid)
    client.cookies.set("dp_session", cookie)
    for path, data in [(f"/papers/{P1}/comments", {"body": "forged"}),
                       (f"/comments/{cid}/edit", {"body": "forged"}),
                       (f"/comments/{cid}/delete", {}), (f"/comments/{cid}/vote", {})]:
        for token in (None, "0" * 64):
            sent = dict(data, **({"csrf_token": token} if token else {}))
            assert client.post(path, data=sent, follow_redirects=False).status_code == 403, path
    with engine.connect() as conn:
        row = conn.execute(sa.select(comments.c.body, comments.c.upvotes, comments.c.deleted_at)).one()
    assert tuple(row) == ("mine", 0, None)
    assert _local(engine) == 1


def test_rate_limit_per_user_gives_429_with_retry_after(settings, engine) -> None:
    _load(engine, {P1: (1, "08:00")})
    (_a, alice), (_b, bob) = _users(engine, 2)
    with _comment_client(settings, engine, ratelimit_comment_per_user="2/minute",
                         ratelimit_comment_per_ip="3/minute") as client:
        assert [_post(client, alice, f"c{n}").status_code for n in range(3)] == [201, 201, 429]
        limited = _post(client, alice, "again")
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
        assert "error" in limited.json()
        # Bob is a new account, but the same address: its limit (3) is reached at his second.
        assert [_post(client, bob, f"b{n}").status_code for n in range(2)] == [201, 429]
    assert _local(engine) == 3


# --- counts ------------------------------------------------------------------------------------


def test_num_comments_is_imported_plus_local_everywhere(api, engine, client) -> None:
    """P1 has 4 comments on Hugging Face; two here make 6 on every surface."""
    from dailypapers.ingest import hf_daily
    from tests.helpers import hf_item, store

    item = hf_item(P1, title="Quokka study", upvotes=3, day=DAY,
                   submittedOnDailyAt=f"{DAY}T08:00:00.000Z")
    item["numComments"] = 4
    store(engine, list(hf_daily.parse_items([item], day=dt.date.fromisoformat(DAY))))
    (_a, alice), = _users(engine, 1)
    for n in range(2):
        _post(api, alice, f"comment {n}")
    daily = client.get("/api/daily_papers", params={"date": DAY}).json()
    assert daily[0]["numComments"] == 6
    assert client.get(f"/api/papers/{P1}").json()["numComments"] == 6
    assert client.get(f"/api/v1/papers/{P1}").json()["numComments"] == 6
    assert api.get(f"/api/v1/papers/{P1}/comments").json()["numComments"] == 6
    card = lxml.html.fromstring(client.get(f"/papers/date/{DAY}").text).cssselect("article.card")[0]
    assert card.cssselect(".comments")[0].text_content().split()[0] == "6"
    heading = lxml.html.fromstring(client.get(f"/papers/{P1}").text).cssselect("#comments h2")[0]
    assert "4 on Hugging Face + 2 here" in heading.text_content()
    # A re-import overwrites Hugging Face's count and keeps ours.
    item["numComments"] = 5
    store(engine, list(hf_daily.parse_items([item], day=dt.date.fromisoformat(DAY))))
    assert client.get(f"/api/papers/{P1}").json()["numComments"] == 7


def test_search_api_counts_local_comments(api, engine, client) -> None:
    _load(engine, {P1: (1, "08:00")})
    (_a, alice), = _users(engine, 1)
    _post(api, alice, "one")
    found = client.get("/api/papers/search", params={"q": "quokka"}).json()
    assert [(r["paper"]["id"], r["numComments"]) for r in found] == [(P1, 1)]


def test_recount_finds_comment_drift_after_a_manual_update(engine, db_url, tmp_path,
                                                           monkeypatch) -> None:
    _load(engine, {P1: (1, "08:00")})
    (uid, _t), (other, _o) = _users(engine, 2)
    with write_transaction(engine) as conn:
        first = add_comment(conn, uid, P1, "a", None, RULES, PARAMS)
        add_comment(conn, uid, P1, "b", None, RULES, PARAMS)
        set_comment_vote(conn, other, first, True)
    with write_transaction(engine) as conn:
        assert not recount(conn, PARAMS).drift
        conn.execute(papers.update().where(papers.c.id == P1).values(local_comments=9))
        conn.execute(comments.update().where(comments.c.id == first).values(upvotes=5))
    monkeypatch.setenv("DAILYPAPERS_DATABASE_URL", db_url)
    monkeypatch.setenv("DAILYPAPERS_DATA_DIR", str(tmp_path))
    from dailypapers.settings import get_settings
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        fixed = runner.invoke(main, ["db", "recount"])
        assert fixed.exit_code == 0, fixed.output
        assert f"{P1}: local comments 9 -> 2" in fixed.output
        assert "Fixed 1 local comment counts and 1 comment upvote counts." in fixed.output
        assert "No drift." in runner.invoke(main, ["db", "recount"]).output
    finally:
        get_settings.cache_clear()
    assert _local(engine) == 2
    with engine.connect() as conn:
        assert conn.execute(sa.select(comments.c.upvotes).where(comments.c.id == first)).scalar_one() == 1


def test_a_comment_moves_the_stored_trending_score_and_the_counts_stamp(api, engine) -> None:
    """P1 (08:00, 10 votes) leads P2 (14:00, 5 votes): log10(10)+8/48 = 1.1667 > log10(5)+14/48
    = 0.9907. Four comments on P2 make 9 points: log10(9)+14/48 = 1.2459, P2 first. The cap
    (10) holds: 20 comments count as 10."""
    _load(engine, {P1: (10, "08:00"), P2: (5, "14:00")})
    (_a, alice), = _users(engine, 1)
    trending = {"date": DAY, "sort": "trending"}
    order = lambda: [i["paper"]["id"] for i in api.get("/api/daily_papers", params=trending).json()]  # noqa: E731
    assert order() == [P1, P2]
    with engine.connect() as conn:
        stamp = conn.execute(sa.select(papers.c.counts_updated_at, papers.c.row_updated_at)
                             .where(papers.c.id == P2)).one()
    for n in range(4):
        assert _post(api, alice, f"c{n}", paper=P2).status_code == 201
    assert order() == [P2, P1]
    base = (dt.datetime(2026, 3, 2) - dt.datetime(1970, 1, 1)).total_seconds() / 3600
    score = api.get(f"/api/v1/papers/{P2}").json()["featured"][0]["trendingScore"]
    assert score == pytest.approx(math.log10(9) + (base + 14) / 48, abs=1e-9)
    with engine.connect() as conn:
        after = conn.execute(sa.select(papers.c.counts_updated_at, papers.c.row_updated_at)
                             .where(papers.c.id == P2)).one()
    assert after.counts_updated_at is not None and after.counts_updated_at != stamp.counts_updated_at
    assert after.row_updated_at == stamp.row_updated_at  # not a text change for the embedder
    for n in range(16):
        _post(api, alice, f"more{n}", paper=P2)
    score = api.get(f"/api/v1/papers/{P2}").json()["featured"][0]["trendingScore"]
    assert score == pytest.approx(math.log10(15) + (base + 14) / 48, abs=1e-9)


# --- the one query, and hidden comments ---------------------------------------------------------


def test_a_hidden_comment_keeps_its_place_without_its_text(engine) -> None:
    """Moderation (issue 11 item 8): a hidden comment stays in the tree, emptied and without its
    author, with its replies under it; nobody replies to it."""
    _load(engine, {P1: (1, "08:00")})
    (uid, _t), = _users(engine, 1)
    with write_transaction(engine) as conn:
        a = add_comment(conn, uid, P1, "a secret", None, RULES, PARAMS)
        b = add_comment(conn, uid, P1, "b", a, RULES, PARAMS)
        c = add_comment(conn, uid, P1, "c", None, RULES, PARAMS)
        conn.execute(comments.update().where(comments.c.id == a).values(hidden_at=db_now(conn)))
    with engine.connect() as conn:
        roots = thread(conn, P1, sort="new")
    assert [n.id for n in roots] == [c, a]
    hidden = roots[1]
    assert (hidden.hidden, hidden.body, hidden.author) == (True, "", None)
    assert [r.id for r in hidden.replies] == [b] and not hidden.replies[0].hidden
    with write_transaction(engine) as conn, pytest.raises(CommentRefused):
        add_comment(conn, uid, P1, "reply to hidden", a, RULES, PARAMS)


# --- XSS ---------------------------------------------------------------------------------------


_ALLOWED = {"section", "h2", "span", "nav", "strong", "a", "form", "input", "label", "textarea",
            "button", "ol", "li", "p", "time", "div", "details", "summary", "em", "code", "pre",
            "blockquote", "br", "hr", "del", "ul", "h3", "h4", "h5", "h6"}


def _assert_inert(root) -> None:  # type: ignore[no-untyped-def]
    """No tag outside the allow list, no event handler or style, links only to us or http(s)."""
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        assert element.tag in _ALLOWED, element.tag
        for name, value in element.attrib.items():
            assert not name.startswith("on"), (element.tag, name)
            assert name not in ("style", "src", "srcdoc", "formaction"), (element.tag, name)
            if name in ("href", "action"):
                assert value.startswith(("/", "#", "http://", "https://")), value


def test_every_xss_vector_comes_out_inert(api, engine, client) -> None:
    """Posted as comments (also inside Markdown links, math, quotes and code), every vector
    renders with no script, no event handler, no javascript: URL and no tag outside the allow
    list: on the page (signed in, so the edit forms echo each body too) and in the API's html."""
    _load(engine, {P1: (1, "08:00")})
    (uid, token), = _users(engine, 1)
    bodies = []
    for vector in XSS_VECTORS:
        bodies += [vector, f"[click]({vector})", f"$x{vector}$", f"> {vector}\n\n`{vector}`"]
    bodies += ["[x](javascript:alert(1))", "[x](JaVaScRiPt:alert(1))", "<javascript:alert(1)>",
               "[x](data:text/html,<script>alert(1)</script>)", "![x](javascript:alert(1))",
               "[x](vbscript:msgbox(1))", "$\\href{javascript:alert(1)}{x}$"]
    for body in bodies:
        assert _post(api, token, body).status_code == 201, body
    cookie, _csrf = _session(engine, uid)
    client.cookies.set("dp_session", cookie)
    doc = lxml.html.fromstring(client.get(f"/papers/{P1}").text)
    section = doc.cssselect("#comments")[0]
    _assert_inert(section)
    assert len(section.cssselect("li.comment")) == len(bodies)
    links = section.cssselect(".comment-body a")
    assert links and all(a.get("rel") == "nofollow ugc noopener" for a in links)
    assert not doc.cssselect("script:not([src])")
    assert all(s.get("src", "").startswith("/static/") for s in doc.cssselect("script"))
    listed = api.get(f"/api/v1/papers/{P1}/comments").json()["comments"]
    fragment = lxml.html.fragment_fromstring("".join(c["html"] for c in listed),
                                             create_parent="section")
    _assert_inert(fragment)


# --- concurrency, through a live server --------------------------------------------------------


def test_racing_comments_and_deletes_keep_the_count_exact(settings, engine) -> None:
    """30 users comment at once, then one author deletes the same comment 20 times at once:
    fails if racing writers lose an increment or a repeated delete counts twice."""
    import asyncio

    from tests.account_helpers import serve
    from tests.test_votes import _all_at_once

    _load(engine, {P1: (1, "08:00")})
    people = _users(engine, 30)
    with serve(settings, engine, ratelimit_comment_per_user="1000/minute",
               ratelimit_comment_per_ip="1000/minute") as server:
        calls = [("POST", f"/api/v1/papers/{P1}/comments",
                  {"json": {"body": f"comment {n}"}, "headers": _auth(token)})
                 for n, (_uid, token) in enumerate(people)]
        assert asyncio.run(_all_at_once(server.url, calls)) == [201] * 30
        assert _local(engine) == 30
        with engine.connect() as conn:
            first = conn.execute(sa.select(comments.c.id, comments.c.user_id)
                                 .order_by(comments.c.id).limit(1)).one()
        token = dict(people)[first.user_id]
        deletes = [("DELETE", f"/api/v1/comments/{first.id}", {"headers": _auth(token)})] * 20
        assert asyncio.run(_all_at_once(server.url, deletes)) == [200] * 20
    assert _local(engine) == 29
    with write_transaction(engine) as conn:
        assert not recount(conn, PARAMS).drift


def test_a_thread_is_one_query_however_many_comments(engine) -> None:
    """Fails if building the tree asks the database per comment (authors, votes, replies)."""
    _load(engine, {P1: (1, "08:00")})
    people = _users(engine, 3)
    with write_transaction(engine) as conn:
        parent = None
        for n in range(60):
            uid = people[n % 3][0]
            parent = add_comment(conn, uid, P1, f"c{n}", parent if n % 4 else None, RULES, PARAMS)
            set_comment_vote(conn, people[(n + 1) % 3][0], parent, True)
    statements: list[str] = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    sa.event.listen(engine, "before_cursor_execute", listener)
    try:
        with engine.connect() as conn:
            roots = thread(conn, P1, people[1][0])
    finally:
        sa.event.remove(engine, "before_cursor_execute", listener)
    assert [s.split()[0] for s in statements if s != "BEGIN"] == ["SELECT"]
    assert len(roots) == 15  # every fourth comment starts a thread, three replies chained under it
    assert [len(r.replies) for r in roots] == [1] * 15
    # people[1] upvoted the comments n = 0, 3, 6, ...: of the roots (n = 0, 4, 8, ...) five.
    assert [r.voted for r in roots].count(True) == 5


def test_a_vote_keeps_counting_the_papers_local_comments_in_its_score(engine) -> None:
    """Votes score a day in statements of their own (community/votes_pg.py, votes_sqlite.py):
    the score they write must be the one recount writes, local comments included."""
    from dailypapers.community.votes import set_vote

    _load(engine, {P1: (1, "08:00")})
    (uid, _t), (other, _o) = _users(engine, 2)
    with write_transaction(engine) as conn:
        for body in ("a", "b", "c"):
            add_comment(conn, uid, P1, body, None, RULES, PARAMS)
    with write_transaction(engine) as conn:
        assert set_vote(conn, other, P1, True, PARAMS) is not None
    hours = (dt.datetime.fromisoformat(f"{DAY}T08:00:00+00:00")
             - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)).total_seconds() / 3600
    expected = math.log10(1 + 1 + min(3, PARAMS.comment_cap)) + hours / PARAMS.tau_hours
    with engine.connect() as conn:
        stored = conn.execute(sa.select(feature_days.c.trending_score)).scalar_one()
    assert stored == pytest.approx(expected, abs=1e-9)  # 1 imported + 1 local vote, 3 comments
    with write_transaction(engine) as conn:
        report = recount(conn, PARAMS)
        assert not report.drift, report
