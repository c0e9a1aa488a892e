"""Collection names and descriptions are user input: every vector of tests/xss_vectors.py, as a
name and as a description, comes back as the exact text typed and nothing more (no element,
attribute or script of its own) on the collection page, the owner's list, the paper page and a
listing; and in Debian's chromium no dialog fires on those pages (SQLite and PostgreSQL)."""

from __future__ import annotations

import lxml.html
import pytest

from dailypapers.web.app import create_app
from tests.conftest import LiveServer, sqlite_only
from tests.helpers import watch_page
from tests.test_collections import GENEROUS, _auth, _session
from tests.test_votes import DAY, P1, _load, _users
from tests.xss_vectors import XSS_VECTORS

URL_ATTRIBUTES = ("href", "src", "action", "formaction", "data", "poster", "background")


def _inert(html: str, baseline_scripts: list[str | None]) -> lxml.html.HtmlElement:
    """The page has only our scripts, no event handler, no active element a vector could bring,
    and no script URL; returns the parsed page."""
    doc = lxml.html.fromstring(html)
    assert [s.get("src") for s in doc.iter("script")] == baseline_scripts
    for element in doc.iter():
        if not isinstance(element.tag, str):
            continue
        assert not [a for a in element.attrib if a.lower().startswith("on")], element.tag
        ours = (element.tag == "link" and element.getparent().tag == "head"
                or element.tag == "svg" and element.get("class") == "icon")  # the cards' icons
        assert ours or element.tag not in ("iframe", "object", "embed", "svg", "math", "base",
                                           "img", "video", "marquee", "style", "link"), \
            element.tag
        assert element.tag != "meta" or element.getparent().tag == "head"
        for attribute in URL_ATTRIBUTES:
            value = (element.get(attribute) or "").strip().lower()
            assert not value.startswith(("javascript:", "data:", "vbscript:")), value
    return doc


def _hostile_collections(client, token: str) -> list[int]:
    """One public collection per vector: the vector as its name and its description."""
    ids = []
    for vector in XSS_VECTORS:
        made = client.post("/api/v1/collections", headers=_auth(token),
                           json={"name": vector, "description": vector, "public": True})
        assert made.status_code == 201, (vector, made.text)
        assert made.json()["name"] == vector.strip()
        ids.append(made.json()["id"])
        assert client.put(f"/api/v1/collections/{ids[-1]}/papers/{P1}",
                          headers=_auth(token)).status_code == 200
    return ids


def test_xss_vectors_as_collection_names_come_back_inert(settings, engine) -> None:
    from fastapi.testclient import TestClient

    assert len(XSS_VECTORS) >= 30
    _load(engine, {P1: (3, "08:00")})
    (uid, token), = _users(engine, 1)
    app = create_app(settings.model_copy(update=GENEROUS), engine)
    with TestClient(app) as client:
        baseline = [s.get("src") for s in lxml.html.fromstring(client.get("/papers").text)
                    .iter("script")]
        ids = _hostile_collections(client, token)
        # Signed out: each public collection's page.
        for cid, vector in zip(ids, XSS_VECTORS):
            doc = _inert(client.get(f"/collections/{cid}").text, baseline)
            assert doc.xpath("string(//h1)") == vector.strip()
            assert doc.xpath("string(//p[@class='collection-description'])") == vector.strip()
            assert doc.xpath("string(//title)").startswith(vector.strip())
        # Signed in as the owner: their list, the paper page and a listing carry every name.
        cookie, _csrf = _session(engine, uid)
        client.cookies.set("dp_session", cookie)
        listed = _inert(client.get("/collections").text, baseline)
        names = listed.xpath("//a[@class='collection-link']/text()")
        assert sorted(names) == sorted(v.strip() for v in XSS_VECTORS)
        assert sorted(listed.xpath("//form[@class='collection-edit']//input[@name='name']/@value")
                      ) == sorted(v.strip() for v in XSS_VECTORS)
        assert sorted(t.text or "" for t in listed.xpath("//textarea[@name='description']")
                      if t.getparent().getparent().get("class") == "collection-edit") == \
            sorted(v.strip() for v in XSS_VECTORS)
        for path in (f"/papers/{P1}", f"/papers/date/{DAY}"):
            doc = _inert(client.get(path).text, baseline)
            options = doc.xpath("//select[@name='collection_id']/option")
            shown = sorted(o.text_content().removesuffix(" ✓") for o in options)
            assert shown == sorted(v.strip() for v in XSS_VECTORS), path


@pytest.mark.browser
@sqlite_only  # PostgreSQL: the names read back inert in the test above
def test_no_dialog_fires_on_hostile_collection_pages(settings, engine, browser) -> None:  # noqa: F811
    _load(engine, {P1: (3, "08:00")})
    (uid, token), = _users(engine, 1)
    app = create_app(settings.model_copy(update=GENEROUS), engine)
    with LiveServer(app) as server:
        import httpx

        with httpx.Client(base_url=server.url) as client:
            ids = _hostile_collections(client, token)
        cookie, _csrf = _session(engine, uid)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.add_cookies([{"name": "dp_session", "value": cookie, "url": server.url}])
        page = context.new_page()
        dialogs, outside = watch_page(page, server.url)
        paths = ["/collections", f"/papers/{P1}", f"/papers/date/{DAY}",
                 *(f"/collections/{cid}" for cid in ids)]
        for path in paths:
            page.goto(server.url + path)
            page.wait_for_load_state("load")
            # Open every collection form, so a vector hidden in one would render too.
            for summary in page.locator("details.collect > summary").all():
                summary.click()
            assert page.locator("h1").count() >= 1, path
        assert page.evaluate("document.title") != ""
        context.close()
        assert dialogs == [], dialogs
        assert outside == [], outside
