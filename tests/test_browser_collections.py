"""Collections in Debian's chromium: the card's form works with JavaScript off (open it, name a
new collection, Add: back on the same page, the paper saved), and the signed-in pages with the
form open pass axe-core without sideways scrolling at 1280 and 375 px, light and dark."""

from __future__ import annotations

import pytest

from dailypapers.web.app import create_app
from tests.conftest import LiveServer, sqlite_only
from tests.test_browser_pages import VIEWS, Visitor, _check
from tests.test_collections import GENEROUS, _item_ids, _session
from tests.test_votes import DAY, P1, P2, _load, _users

pytestmark = pytest.mark.browser


@pytest.fixture
def site(settings, engine):
    _load(engine, {P1: (3, "08:00"), P2: (5, "09:00")})
    (uid, _token), = _users(engine, 1)
    with LiveServer(create_app(settings.model_copy(update=GENEROUS), engine)) as server:
        yield server, uid


def _signed_in(browser, server, engine, uid, **options):  # noqa: F811
    cookie, _csrf = _session(engine, uid)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, **options)
    context.add_cookies([{"name": "dp_session", "value": cookie, "url": server.url}])
    return context


@sqlite_only  # PostgreSQL: tests/test_collections.py posts the same form on both
def test_the_card_form_works_without_javascript(browser, site, engine) -> None:  # noqa: F811
    server, uid = site
    context = _signed_in(browser, server, engine, uid, java_script_enabled=False)
    page = context.new_page()
    listing = f"/papers/date/{DAY}"
    page.goto(server.url + listing)
    card = page.locator(f"article.card[data-paper-id='{P2}']")
    card.locator("details.collect > summary").click()
    card.get_by_label("New collection").fill("Weekend reading")
    card.get_by_role("button", name="Add").click()
    page.wait_for_load_state("load")
    assert page.url == server.url + listing
    card = page.locator(f"article.card[data-paper-id='{P2}']")
    assert card.locator("details.collect > summary").inner_text() == "In 1 collection"
    from sqlalchemy import select

    from dailypapers.db.schema import collections

    with engine.connect() as conn:
        cid = conn.execute(select(collections.c.id)).scalar_one()
    assert _item_ids(engine, cid) == {P2}

    # The other card: choose the existing collection this time; then take P2 out again.
    other = page.locator(f"article.card[data-paper-id='{P1}']")
    other.locator("details.collect > summary").click()
    other.get_by_role("button", name="Add").click()
    page.wait_for_load_state("load")
    assert _item_ids(engine, cid) == {P1, P2}
    card = page.locator(f"article.card[data-paper-id='{P2}']")
    card.locator("details.collect > summary").click()
    card.get_by_role("button", name="Remove").click()
    page.wait_for_load_state("load")
    assert _item_ids(engine, cid) == {P1}
    page.goto(f"{server.url}/collections/{cid}")
    assert page.locator("h1").inner_text() == "Weekend reading"
    assert page.locator("li.collection-item").count() == 1
    context.close()


@sqlite_only  # PostgreSQL: tests/test_collections.py renders these pages on both
@pytest.mark.parametrize("width, scheme", VIEWS, ids=[f"{w}px-{s}" for w, s in VIEWS])
def test_collection_pages_are_accessible(browser, site, engine, width, scheme) -> None:  # noqa: F811
    from dailypapers.community import collections as cs
    from dailypapers.db.engine import write_transaction

    server, uid = site
    with write_transaction(engine) as conn:
        limits = cs.Limits(10, 10)
        made = cs.create(conn, uid, "A rather long collection name about diffusion models",
                         "What I read this week,\nand why.", True, limits=limits)
        cs.add_paper(conn, uid, made.id, P1, limits=limits)
    visitor = Visitor(browser, server.url, width, scheme)
    cookie, _csrf = _session(engine, uid)
    visitor.context.add_cookies([{"name": "dp_session", "value": cookie, "url": server.url}])
    try:
        for path in ("/collections", f"/collections/{made.id}", f"/papers/{P1}",
                     f"/papers/date/{DAY}"):
            visitor.visit(path)
            for summary in visitor.page.locator("details.collect > summary").all():
                summary.click()
            _check(visitor, path)
    finally:
        visitor.context.close()
