"""Collections on SQLite and PostgreSQL: private ones are a 404 to everyone but their owner (pages
and API, signed in or not), adding and removing are idempotent, limits hold at their exact
bound, forms need the CSRF token and never redirect off-site, the API works with a token, and
`demo remove` counts the entries it takes with the demo papers."""

from __future__ import annotations

import re
from typing import Any

import lxml.html
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from dailypapers.community import collections as cs
from dailypapers.db.engine import write_transaction
from dailypapers.community.comments import CommentRules, add_comment, set_comment_vote
from dailypapers.community.votes import set_vote
from dailypapers.db.schema import (
    collection_items, collections, comment_votes, comments, feature_days, papers, votes,
)
from dailypapers.rank.trending import TrendingParams
from dailypapers.web.app import create_app
from tests.test_cli import cli, data_dir  # noqa: F401  (fixtures: `demo remove`)
from tests.test_votes import DAY, P1, P2, _load, _session, _users

GENEROUS = {"ratelimit_collections_per_user": "10000/minute"}


def _client(settings, engine, **overrides: Any) -> TestClient:
    return TestClient(create_app(settings.model_copy(update={**GENEROUS, **overrides}), engine))


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _rows(engine, table: sa.Table, *where: Any) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)) \
            .scalar_one()


def _item_ids(engine, collection_id: int) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(sa.select(collection_items.c.paper_id).where(
            collection_items.c.collection_id == collection_id)).scalars())


def _sign_in(client: TestClient, engine, user_id: int) -> str:
    """Sign ``client`` in as ``user_id`` (its session cookie); the session's CSRF token."""
    cookie, csrf = _session(engine, user_id)
    client.cookies.set("dp_session", cookie)
    return csrf


# --- visibility ------------------------------------------------------------------------------


def test_a_private_collection_is_a_404_to_everyone_but_its_owner(settings, engine) -> None:
    _load(engine, {P1: (3, "08:00")})
    (owner, owner_token), (other, other_token) = _users(engine, 2)
    with _client(settings, engine) as client:
        made = client.post("/api/v1/collections", headers=_auth(owner_token),
                           json={"name": "Quokka reading", "description": "Line one\nline two"})
        assert made.status_code == 201, made.text
        cid = made.json()["id"]
        assert made.json()["public"] is False
        client.put(f"/api/v1/collections/{cid}/papers/{P1}", headers=_auth(owner_token))
        missing = client.get("/collections/999999")

        # Anonymous, then another user (page and API): the same 404 as for no collection.
        for answer in (client.get(f"/collections/{cid}"), client.get(f"/api/v1/collections/{cid}"),
                       client.get(f"/api/v1/collections/{cid}", headers=_auth(other_token))):
            assert answer.status_code == 404, answer.text
            assert "Quokka" not in answer.text
        _sign_in(client, engine, other)
        as_other = client.get(f"/collections/{cid}")
        assert as_other.status_code == missing.status_code == 404
        assert "Quokka" not in as_other.text

        _sign_in(client, engine, owner)
        page = client.get(f"/collections/{cid}")
        assert page.status_code == 200
        doc = lxml.html.fromstring(page.text)
        assert doc.xpath("string(//h1)") == "Quokka reading"
        assert doc.xpath("//li[@class='collection-item']/@data-paper-id") == [P1]
        api = client.get(f"/api/v1/collections/{cid}", headers=_auth(owner_token)).json()
        assert (api["name"], api["paperCount"], [p["id"] for p in api["papers"]]) == \
            ("Quokka reading", 1, [P1])
        assert api["description"] == "Line one\nline two"

        # Made public: anyone sees it, signed out too.
        changed = client.patch(f"/api/v1/collections/{cid}", headers=_auth(owner_token),
                               json={"public": True})
        assert changed.status_code == 200 and changed.json()["public"] is True
        client.cookies.clear()
        assert client.get(f"/collections/{cid}").status_code == 200
        assert client.get(f"/api/v1/collections/{cid}").json()["papers"][0]["id"] == P1
        assert [c.id for c in _public_of(engine, owner)] == [cid]
        assert _public_of(engine, other) == []


def _public_of(engine, user_id: int) -> list[cs.Collection]:
    with engine.connect() as conn:
        return cs.public_collections_of(conn, user_id)


def test_public_collections_of_lists_only_public_ones_newest_change_first(engine) -> None:
    _load(engine, {P1: (3, "08:00")})
    (uid, _t), = _users(engine, 1)
    limits = cs.Limits(10, 10)
    with write_transaction(engine) as conn:
        first = cs.create(conn, uid, "First", public=True, limits=limits)
        cs.create(conn, uid, "Hidden", public=False, limits=limits)
        second = cs.create(conn, uid, "Second", public=True, limits=limits)
    with write_transaction(engine) as conn:
        cs.add_paper(conn, uid, first.id, P1, limits=limits)  # changed last: listed first
    assert [c.name for c in _public_of(engine, uid)] == ["First", "Second"]
    assert [c.paper_count for c in _public_of(engine, uid)] == [1, 0]
    assert second.id != first.id


# --- adding and removing ----------------------------------------------------------------------


def test_add_and_remove_are_idempotent_and_pages_list_newest_first(settings, engine) -> None:
    ids = [f"2603.{50001 + n}" for n in range(32)]
    _load(engine, {pid: (1, "08:00") for pid in ids})
    (uid, token), = _users(engine, 1)
    with _client(settings, engine) as client:
        cid = client.post("/api/v1/collections", headers=_auth(token),
                          json={"name": "Many", "public": True}).json()["id"]
        first = client.put(f"/api/v1/collections/{cid}/papers/{ids[0]}", headers=_auth(token))
        again = client.put(f"/api/v1/collections/{cid}/papers/{ids[0]}v2", headers=_auth(token))
        assert (first.json()["changed"], again.json()["changed"]) == (True, False)
        assert again.json()["paper"] == ids[0]  # the version is not part of the id
        assert _rows(engine, collection_items) == 1
        for pid in ids[1:]:
            assert client.put(f"/api/v1/collections/{cid}/papers/{pid}",
                              headers=_auth(token)).json()["changed"] is True
        newest_first = ids[::-1]
        one = client.get(f"/api/v1/collections/{cid}").json()
        two = client.get(f"/api/v1/collections/{cid}?page=2").json()
        assert [p["id"] for p in one["papers"]] == newest_first[:30]
        assert [p["id"] for p in two["papers"]] == newest_first[30:]
        assert (one["pages"], one["paperCount"]) == (2, 32)
        assert client.get(f"/api/v1/collections/{cid}?page=3").status_code == 404
        assert client.get(f"/api/v1/collections/{cid}?page=x").status_code == 400
        html = lxml.html.fromstring(client.get(f"/collections/{cid}?page=2").text)
        assert html.xpath("//li[@class='collection-item']/@data-paper-id") == newest_first[30:]
        assert client.get(f"/collections/{cid}?page=3").status_code == 404
        assert client.get(f"/collections/{cid}?page=abc").status_code == 400

        gone = client.delete(f"/api/v1/collections/{cid}/papers/{ids[5]}", headers=_auth(token))
        twice = client.delete(f"/api/v1/collections/{cid}/papers/{ids[5]}", headers=_auth(token))
        assert (gone.json()["changed"], twice.json()["changed"]) == (True, False)
        assert twice.json()["inCollection"] is False
        assert _item_ids(engine, cid) == set(ids) - {ids[5]}
        assert client.put(f"/api/v1/collections/{cid}/papers/2603.99999",
                          headers=_auth(token)).status_code == 404
        assert client.put(f"/api/v1/collections/{cid}/papers/not-an-id",
                          headers=_auth(token)).status_code == 404


# --- limits ----------------------------------------------------------------------------------


def test_limits_hold_at_their_exact_bound(settings, engine) -> None:
    """Fails if a bound moves by one either way (``>`` for ``>=``, a limit read off by one)."""
    _load(engine, {P1: (1, "08:00"), P2: (1, "09:00"), "2603.50003": (1, "10:00")})
    (uid, token), = _users(engine, 1)
    with _client(settings, engine, collections_max_per_user=3,
                 collection_max_papers=2) as client:
        made = [client.post("/api/v1/collections", headers=_auth(token), json={"name": f"c{n}"})
                for n in range(4)]
        assert [m.status_code for m in made] == [201, 201, 201, 409]
        assert "3" in made[3].json()["error"]
        assert _rows(engine, collections) == 3
        cid = made[0].json()["id"]
        adds = [client.put(f"/api/v1/collections/{cid}/papers/{pid}", headers=_auth(token))
                for pid in (P1, P2, "2603.50003")]
        assert [a.status_code for a in adds] == [200, 200, 409]
        # A paper already there is still fine at the bound (nothing to add).
        assert client.put(f"/api/v1/collections/{cid}/papers/{P1}",
                          headers=_auth(token)).json()["changed"] is False
        assert _item_ids(engine, cid) == {P1, P2}
        # The page form says so too, and makes nothing.
        csrf = _sign_in(client, engine, uid)
        refused = client.post("/collections", data={"csrf_token": csrf, "name": "c9"},
                              follow_redirects=False)
        assert refused.status_code == 409 and _rows(engine, collections) == 3
        # Name length: NAME_MAX characters are a name, one more is not.
        cid2 = made[1].json()["id"]
        longest = "n" * cs.NAME_MAX
        ok = client.patch(f"/api/v1/collections/{cid2}", headers=_auth(token),
                          json={"name": longest})
        assert ok.status_code == 200 and ok.json()["name"] == longest
        too_long = client.patch(f"/api/v1/collections/{cid2}", headers=_auth(token),
                                json={"name": longest + "n"})
        assert too_long.status_code == 400 and "name" in too_long.json()["error"]
        with pytest.raises(cs.CollectionError):
            cs.clean_name(longest + "n")
        assert cs.clean_description("d" * cs.DESCRIPTION_MAX) == "d" * cs.DESCRIPTION_MAX
        with pytest.raises(cs.CollectionError):
            cs.clean_description("d" * (cs.DESCRIPTION_MAX + 1))
        # Deleting one makes room again.
        assert client.delete(f"/api/v1/collections/{cid}", headers=_auth(token)).status_code == 200
        assert _rows(engine, collection_items) == 0
        assert client.post("/api/v1/collections", headers=_auth(token),
                           json={"name": "again"}).status_code == 201


def test_writes_are_rate_limited_per_user(settings, engine) -> None:
    (_a, token_a), (_b, token_b) = _users(engine, 2)
    with _client(settings, engine, ratelimit_collections_per_user="3/minute") as client:
        codes = [client.post("/api/v1/collections", headers=_auth(token_a),
                             json={"name": f"c{n}"}) for n in range(4)]
        assert [c.status_code for c in codes] == [201, 201, 201, 429]
        assert int(codes[3].headers["Retry-After"]) >= 1 and "error" in codes[3].json()
        assert client.post("/api/v1/collections", headers=_auth(token_b),
                           json={"name": "b"}).status_code == 201
        assert _rows(engine, collections) == 4
        assert client.get("/api/v1/collections", headers=_auth(token_a)).status_code == 200


# --- the forms -------------------------------------------------------------------------------


def test_the_card_form_needs_sign_in_and_csrf_and_never_redirects_off_site(
        settings, engine) -> None:
    _load(engine, {P1: (3, "08:00"), P2: (4, "09:00")})
    (uid, _t), (other, other_token) = _users(engine, 2)
    with _client(settings, engine) as client:
        anonymous = client.post(f"/papers/{P1}/collect", data={"csrf_token": "x"},
                                follow_redirects=False)
        assert anonymous.status_code in (303, 403)
        csrf = _sign_in(client, engine, uid)
        listing = lxml.html.fromstring(client.get(f"/papers/date/{DAY}").text)
        forms = listing.xpath("//form[@class='collect-form']")
        assert sorted(f.get("action") for f in forms) == [f"/papers/{P1}/collect",
                                                         f"/papers/{P2}/collect"]
        assert forms[0].xpath(".//input[@name='csrf_token']/@value") == [csrf]
        forged = client.post(f"/papers/{P1}/collect",
                             data={"csrf_token": "0" * 64, "new_name": "Forged"},
                             follow_redirects=False)
        assert forged.status_code == 403 and _rows(engine, collections) == 0

        made = client.post(f"/papers/{P1}/collect", follow_redirects=False, data={
            "csrf_token": csrf, "action": "add", "new_name": " Reading ",
            "next": f"/papers/date/{DAY}?sort=upvotes"})
        assert (made.status_code, made.headers["location"]) == \
            (303, f"/papers/date/{DAY}?sort=upvotes")
        with engine.connect() as conn:
            (cid, name, public), = conn.execute(
                sa.select(collections.c.id, collections.c.name, collections.c.is_public))
        assert (name, public) == ("Reading", False)  # trimmed; private unless made public
        assert _item_ids(engine, cid) == {P1}
        # The inline name again: the same collection, not a second one.
        client.post(f"/papers/{P2}/collect", data={"csrf_token": csrf, "new_name": "Reading"})
        assert _rows(engine, collections) == 1 and _item_ids(engine, cid) == {P1, P2}

        for evil in ("//evil.example/", "https://evil.example/", "/\\evil.example",
                     "javascript:alert(1)"):
            answer = client.post(f"/papers/{P2}/collect", follow_redirects=False, data={
                "csrf_token": csrf, "action": "remove", "collection_id": str(cid), "next": evil})
            assert answer.headers["location"] == f"/papers/{P2}", evil
        assert _item_ids(engine, cid) == {P1}  # removed once; again changed nothing

        # The paper page shows where the paper is and offers the form.
        page = lxml.html.fromstring(client.get(f"/papers/{P1}").text)
        assert page.xpath("string(//details[@class='collect']/summary)") == "In 1 collection"
        assert page.xpath("//select[@name='collection_id']/option/@value") == [str(cid)]

        # An unknown paper named with a new collection: refused, and no collection is left.
        unknown = client.post("/papers/2603.99999/collect",
                              data={"csrf_token": csrf, "new_name": "Ghost"})
        assert unknown.status_code == 404 and _rows(engine, collections) == 1
        # Someone else's collection: a 404, unchanged.
        theirs = client.post("/api/v1/collections", headers=_auth(other_token),
                             json={"name": "Theirs"}).json()["id"]
        for action in ("add", "remove"):
            answer = client.post(f"/papers/{P1}/collect", data={
                "csrf_token": csrf, "action": action, "collection_id": str(theirs)})
            assert answer.status_code == 404
        assert _item_ids(engine, theirs) == set()
        for bad in ({"collection_id": ""}, {"collection_id": "x"}, {"action": "drop"}):
            answer = client.post(f"/papers/{P1}/collect", data={"csrf_token": csrf, **bad})
            assert answer.status_code in (400, 404), bad


def test_the_owner_list_creates_renames_toggles_and_deletes(settings, engine) -> None:
    _load(engine, {P1: (3, "08:00")})
    (uid, _t), (other, _t2) = _users(engine, 2)
    with _client(settings, engine) as client:
        signed_out = client.get("/collections", follow_redirects=False)
        assert signed_out.status_code == 303 and signed_out.headers["location"].startswith("/login")
        csrf = _sign_in(client, engine, uid)
        assert client.get("/collections").status_code == 200
        for path in ("/collections", "/collections/1/edit", "/collections/1/delete"):
            forged = client.post(path, data={"csrf_token": "f" * 64, "name": "Forged"})
            assert forged.status_code == 403, path
        assert _rows(engine, collections) == 0
        made = client.post("/collections", follow_redirects=False, data={
            "csrf_token": csrf, "name": "Mine", "description": "about\r\nthings"})
        assert made.status_code == 303
        cid = int(re.fullmatch(r"/collections/(\d+)", made.headers["location"]).group(1))
        page = lxml.html.fromstring(client.get("/collections").text)
        assert page.xpath("//form[@action='/collections/%d/edit']//input[@name='name']/@value"
                          % cid) == ["Mine"]
        assert page.xpath("string(//form[@action='/collections/%d/edit']//textarea)" % cid) == \
            "about\nthings"

        client.post(f"/collections/{cid}/edit", data={
            "csrf_token": csrf, "name": "Renamed", "description": "", "public": "on"})
        with engine.connect() as conn:
            row = conn.execute(sa.select(collections).where(collections.c.id == cid)).one()
        assert (row.name, row.description, row.is_public) == ("Renamed", "", True)
        client.post(f"/collections/{cid}/edit", data={"csrf_token": csrf, "name": "Renamed"})
        with engine.connect() as conn:
            assert conn.execute(sa.select(collections.c.is_public)).scalar_one() is False
        empty = client.post(f"/collections/{cid}/edit", data={"csrf_token": csrf, "name": "  "})
        assert empty.status_code == 400

        # Another user can neither change nor delete it (404: it does not exist for them).
        other_csrf = _sign_in(client, engine, other)
        for action in ("edit", "delete"):
            answer = client.post(f"/collections/{cid}/{action}",
                                 data={"csrf_token": other_csrf, "name": "Stolen"})
            assert answer.status_code == 404
        assert _rows(engine, collections, collections.c.name == "Renamed") == 1

        csrf = _sign_in(client, engine, uid)
        client.post(f"/papers/{P1}/collect", data={"csrf_token": csrf, "collection_id": str(cid)})
        assert client.post(f"/collections/{cid}/delete", data={"csrf_token": "bad"}) \
            .status_code == 403
        gone = client.post(f"/collections/{cid}/delete", data={"csrf_token": csrf},
                           follow_redirects=False)
        assert (gone.status_code, gone.headers["location"]) == (303, "/collections")
        assert _rows(engine, collections) == 0 and _rows(engine, collection_items) == 0
        assert client.get(f"/collections/{cid}").status_code == 404


# --- the API ---------------------------------------------------------------------------------


def test_the_api_needs_a_token_and_answers_json_errors(settings, engine) -> None:
    (uid, token), (_o, other_token) = _users(engine, 2)
    with _client(settings, engine) as client:
        for method, path, body in (("GET", "/api/v1/collections", None),
                                   ("POST", "/api/v1/collections", {"name": "x"}),
                                   ("DELETE", "/api/v1/collections/1", None),
                                   ("PUT", f"/api/v1/collections/1/papers/{P1}", None)):
            for headers in ({}, {"Authorization": "Bearer dp_nope"}):
                answer = client.request(method, path, json=body, headers=headers)
                assert answer.status_code == 401, (method, path)
                assert "error" in answer.json()
        assert _rows(engine, collections) == 0
        for body in ({}, {"name": ""}, {"name": 5}, {"name": "x", "public": "yes"},
                     {"name": "x", "extra": 1}, {"name": "a\x00b"},
                     {"name": "x", "description": "d" * (cs.DESCRIPTION_MAX + 1)}):
            answer = client.post("/api/v1/collections", headers=_auth(token), json=body)
            assert answer.status_code == 400, body
            assert set(answer.json()) == {"error"}
        assert _rows(engine, collections) == 0
        mine = client.post("/api/v1/collections", headers=_auth(token),
                           json={"name": "Mine", "public": True}).json()
        client.post("/api/v1/collections", headers=_auth(other_token), json={"name": "Theirs"})
        listed = client.get("/api/v1/collections", headers=_auth(token)).json()["data"]
        assert [c["name"] for c in listed] == ["Mine"]
        assert client.delete(f"/api/v1/collections/{mine['id']}",
                             headers=_auth(other_token)).status_code == 404
        assert client.delete(f"/api/v1/collections/{mine['id']}",
                             headers=_auth(token)).json() == {"deleted": mine["id"]}
        assert client.get(f"/api/v1/collections/{mine['id']}").status_code == 404
        assert client.delete(f"/api/v1/collections/{mine['id']}",
                             headers=_auth(token)).status_code == 404
        assert client.get("/api/v1/collections/0").status_code == 400
        assert client.get("/api/v1/collections/abc").status_code == 400
        assert client.get(f"/api/v1/collections/{2**31}").status_code == 400
        spec = client.get("/api/openapi.json").json()["paths"]
        assert {"get", "post"} <= set(spec["/api/v1/collections"])
        assert {"get", "patch", "delete"} <= set(spec["/api/v1/collections/{collection_id}"])
        assert {"put", "delete"} <= set(
            spec["/api/v1/collections/{collection_id}/papers/{paper_id}"])


# --- demo remove -----------------------------------------------------------------------------


def test_demo_remove_takes_the_collection_entries_on_demo_papers_and_says_how_many(
        cli, engine) -> None:  # noqa: F811
    _load(engine, {P1: (1, "08:00"), P2: (1, "09:00")})
    (uid, _t), = _users(engine, 1)
    limits = cs.Limits(10, 10)
    with write_transaction(engine) as conn:
        for pid in (P1,):  # P1 is a demo paper, P2 a real one
            conn.execute(papers.update().where(papers.c.id == pid).values(is_demo=True))
            conn.execute(feature_days.update().where(feature_days.c.paper_id == pid)
                         .values(is_demo=True))
        a = cs.create(conn, uid, "A", limits=limits)
        b = cs.create(conn, uid, "B", limits=limits)
        for c in (a, b):
            cs.add_paper(conn, uid, c.id, P1, limits=limits)
        cs.add_paper(conn, uid, a.id, P2, limits=limits)
    # Votes and a thread on both papers: only the demo paper's go, and are counted.
    voters = _users(engine, 3, prefix="fan")
    with write_transaction(engine) as conn:
        for voter, _token in voters:
            set_vote(conn, voter, P1, True, TrendingParams())
        set_vote(conn, voters[0][0], P2, True, TrendingParams())
        top = add_comment(conn, uid, P1, "on the demo", None, CommentRules(), TrendingParams())
        add_comment(conn, voters[1][0], P1, "a reply", top, CommentRules(), TrendingParams())
        set_comment_vote(conn, voters[2][0], top, True)
        add_comment(conn, uid, P2, "on the real one", None, CommentRules(), TrendingParams())
    removed = cli("demo", "remove")
    assert removed.exit_code == 0, removed.output
    assert removed.stdout.splitlines() == [
        "Removed 1 demo papers and 1 demo feature days.",
        "Removed 3 votes, 2 comments and 2 collection entries on demo papers."]
    assert _item_ids(engine, a.id) == {P2} and _item_ids(engine, b.id) == set()
    assert _rows(engine, collections) == 2
    assert _rows(engine, votes) == 1 and _rows(engine, comment_votes) == 0
    assert _rows(engine, comments) == 1


# --- limits under concurrency, through a live server -------------------------------------------


def test_racing_adds_and_creates_stop_exactly_at_the_limits(settings, engine) -> None:
    """Fails if two requests can both count below the bound and both write (no lock)."""
    import asyncio

    from tests.conftest import LiveServer
    from tests.test_votes import _all_at_once

    ids = [f"2603.{50001 + n}" for n in range(20)]
    _load(engine, {pid: (1, "08:00") for pid in ids})
    (uid, token), = _users(engine, 1)
    app = create_app(settings.model_copy(update={
        **GENEROUS, "collections_max_per_user": 4, "collection_max_papers": 5}), engine)
    with LiveServer(app) as server:
        creates = [("POST", "/api/v1/collections", {"headers": _auth(token),
                                                     "json": {"name": f"c{n}"}})
                   for n in range(12)]
        statuses = asyncio.run(_all_at_once(server.url, creates))
        assert sorted(statuses) == [201] * 4 + [409] * 8
        assert _rows(engine, collections) == 4
        with engine.connect() as conn:
            cid, other = conn.execute(sa.select(collections.c.id).order_by(collections.c.id)
                                      .limit(2)).scalars()
        adds = [("PUT", f"/api/v1/collections/{cid}/papers/{pid}", {"headers": _auth(token)})
                for pid in ids]
        statuses = asyncio.run(_all_at_once(server.url, adds))
        assert sorted(statuses) == [200] * 5 + [409] * 15
        assert len(_item_ids(engine, cid)) == 5
        same = [("PUT", f"/api/v1/collections/{other}/papers/{ids[0]}",
                 {"headers": _auth(token)})] * 10
        assert asyncio.run(_all_at_once(server.url, same)) == [200] * 10
        assert _item_ids(engine, other) == {ids[0]}


def test_search_cards_carry_the_form_and_lists_read_membership_once(settings, engine) -> None:
    from tests.helpers import search_service

    _load(engine, {P1: (3, "08:00"), P2: (4, "09:00")})
    (uid, token), = _users(engine, 1)
    app = create_app(settings.model_copy(update=GENEROUS), engine,
                     search=search_service(engine, settings))
    from dailypapers.index.worker import IndexWorker

    IndexWorker(app.state.search).run_once()
    with TestClient(app) as client:
        cid = client.post("/api/v1/collections", headers=_auth(token),
                          json={"name": "Q"}).json()["id"]
        client.put(f"/api/v1/collections/{cid}/papers/{P2}", headers=_auth(token))
        _sign_in(client, engine, uid)
        executed: list[tuple[sa.Connection, str]] = []

        def seen(conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
            executed.append((conn, statement))

        sa.event.listen(engine, "before_cursor_execute", seen)
        for path in ("/search?q=quokka", f"/papers/date/{DAY}"):
            executed.clear()
            doc = lxml.html.fromstring(client.get(path).text)
            statements = [s for _c, s in executed]
            # One query for the form's choices, one for which cards are in them: not one a card.
            assert sum("collection_items.paper_id IN" in s for s in statements) == 1, statements
            # Both, the signed-in user and the list's pressed vote buttons are read in the page's
            # own read transaction (the one that read its papers), not in a second pooled
            # connection held meanwhile.
            page = [c for c, s in executed if "FROM papers" in s and "collection" not in s]
            helpers = [c for c, s in executed
                       if "collection" in s or "FROM votes" in s or "user_sessions" in s]
            # Search results carry the vote button too: the same four on both pages.
            assert len(helpers) == 4, (path, executed)
            assert all(c is page[0] for c in helpers), (path, executed)
            summaries = {card.get("data-paper-id"): card.xpath(
                "string(.//details[@class='collect']/summary)") for card in
                doc.xpath("//article[contains(@class, 'card')]")}
            assert summaries == {P1: "Save to collection", P2: "In 1 collection"}, path
        sa.event.remove(engine, "before_cursor_execute", seen)


def test_the_user_page_lists_public_collections_and_never_private_ones(settings, engine) -> None:
    _load(engine, {P1: (3, "08:00")})
    (uid, _t), (other, _o) = _users(engine, 2)
    limits = cs.Limits(10, 10)
    with write_transaction(engine) as conn:
        shown = cs.create(conn, uid, "Wombat picks", public=True, limits=limits)
        cs.create(conn, uid, "Secret numbat notes", public=False, limits=limits)
        cs.add_paper(conn, uid, shown.id, P1, limits=limits)
        cs.create(conn, other, "Someone else's", public=True, limits=limits)
    with _client(settings, engine) as client:
        page = client.get("/users/voter0")
        assert page.status_code == 200, page.text
        doc = lxml.html.fromstring(page.text)
        links = doc.xpath("//ul[@class='user-collections']//a")
        assert [(a.text_content(), a.get("href")) for a in links] == \
            [("Wombat picks", f"/collections/{shown.id}")]
        assert "Secret numbat" not in page.text and "Someone else" not in page.text
        assert "Public collections (1)" in page.text
