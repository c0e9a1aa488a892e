"""Comments in Debian's chromium: every known XSS vector posted as a comment stays text (no
dialog, no hooked alert, even after clicking every link and opening every reply/edit form), and a
comment and a reply go in through the page's plain forms."""

from __future__ import annotations

from typing import Any

import pytest

from dailypapers.community.comments import CommentRules, add_comment
from dailypapers.db.engine import write_transaction
from dailypapers.rank.trending import TrendingParams
from tests.conftest import sqlite_only
from tests.test_hostile import HOOK_DIALOGS, SETTLE
from tests.test_votes import P1, _load, _session, _users
from tests.xss_vectors import XSS_VECTORS

pytestmark = pytest.mark.browser


@sqlite_only  # PostgreSQL: tests/test_comments.py (every vector inert, the page forms) on both
def test_xss_vectors_in_comments_fire_nothing_and_forms_work(
    engine, live_server, browser  # noqa: F811
) -> None:
    _load(engine, {P1: (1, "08:00")})
    (uid, _token), = _users(engine, 1)
    with write_transaction(engine) as conn:
        for vector in XSS_VECTORS:
            for body in (vector, f"[click]({vector})", f"$x{vector}$"):
                add_comment(conn, uid, P1, body, None, CommentRules(), TrendingParams())
    cookie, _csrf = _session(engine, uid)
    site = live_server.url
    dialogs: list[str] = []
    calls: list[str] = []
    outside: list[str] = []

    def route(route: Any, request: Any) -> None:
        if request.url.startswith(site + "/"):
            route.continue_()
        else:
            outside.append(request.url)
            route.abort("aborted")  # no network beyond loopback

    def on_dialog(dialog: Any) -> None:
        dialogs.append(f"{dialog.type}({dialog.message!r})")
        dialog.dismiss()

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_cookies([{"name": "dp_session", "value": cookie, "url": site}])
    context.expose_binding("__hostileCalled", lambda _source, what, href: calls.append(what))
    context.add_init_script(HOOK_DIALOGS)
    context.route("**/*", route)
    context.on("dialog", on_dialog)
    page = context.new_page()
    page.on("popup", lambda popup: popup.close())
    page.goto(f"{site}/papers/{P1}", wait_until="load")
    # math.js fetches KaTeX once a formula is near the viewport, then typesets every one.
    page.locator("#comments span.math").first.scroll_into_view_if_needed()
    page.locator("html[data-math=ready]").wait_for(state="attached")
    assert page.locator("li.comment").count() == 3 * len(XSS_VECTORS)
    for details in page.locator("#comments details").all()[:40]:
        details.locator("summary").click()  # opens the edit form holding the raw text
    links = page.locator("#comments .comment-body a")
    for n in range(links.count()):
        links.nth(n).click(modifiers=["Control"])  # a new tab (closed): the page stays
        page.evaluate(SETTLE)
    page.evaluate(SETTLE)
    handlers = page.evaluate("""() => [...document.querySelectorAll('#comments *')]
        .flatMap(el => [...el.attributes].filter(a => a.name.startsWith('on'))
        .map(a => el.tagName + ' ' + a.name))""")
    assert handlers == []

    # The forms, without any script of ours: a comment, then a reply under it.
    page.goto(f"{site}/papers/{P1}?sort=new", wait_until="load")
    page.fill("#comment-new", "Typed in the **browser**")
    page.click("form.comment-form >> button[type=submit]")
    page.wait_for_load_state("load")
    assert f"/papers/{P1}?sort=new#comment-" in page.url  # back at it, in the same order
    newest = page.locator("ol.comment-list > li.comment").first
    assert newest.locator(".comment-body strong").inner_text() == "browser"
    newest.locator("details.reply > summary").click()
    newest.locator("details.reply textarea").fill("And a reply")
    newest.locator("details.reply button[type=submit]").click()
    page.wait_for_load_state("load")
    page.goto(f"{site}/papers/{P1}?sort=new", wait_until="load")
    reply = page.locator("ol.comment-list > li.comment").first.locator(
        "ol.comment-list > li.comment .comment-body")
    assert reply.inner_text().strip() == "And a reply"
    context.close()
    assert dialogs == [] and calls == []
    assert outside == [], outside


@sqlite_only  # PostgreSQL: tests/test_comments.py stores and shows threads on both
@pytest.mark.parametrize("width, scheme", [(1280, "light"), (375, "dark")])
def test_a_thread_is_accessible_and_fits_a_phone(
    engine, live_server, browser, width, scheme  # noqa: F811
) -> None:
    """Signed in (every form shown), a thread four levels deep with math, code, a quote and a
    long link, every reply and edit form open: axe-core finds nothing, nothing scrolls sideways,
    KaTeX typesets the comment's formula."""
    from tests.test_browser_pages import Visitor, _check

    _load(engine, {P1: (1, "08:00")})
    (uid, _token), (other, _t) = _users(engine, 2)
    with write_transaction(engine) as conn:
        parent = None
        for depth, body in enumerate([
                "A bound: $R_T = O(\\sqrt{T})$ and **bold**, `code`, and a link "
                "https://example.org/" + "a" * 120,
                "> quoted\n\nreply\n\n```\nfenced code block with a long line " + "x" * 150 + "\n```",
                "# A heading\n\n- one\n- two", "deepest"]):
            parent = add_comment(conn, other if depth % 2 else uid, P1, body, parent,
                                 CommentRules(), TrendingParams())
    cookie, _csrf = _session(engine, uid)
    visitor = Visitor(browser, live_server.url, width, scheme)
    visitor.context.add_cookies([{"name": "dp_session", "value": cookie,
                                  "url": live_server.url}])
    visitor.visit(f"/papers/{P1}")
    page = visitor.page
    page.locator("#comments span.math").first.scroll_into_view_if_needed()  # see above
    page.locator("html[data-math=ready]").wait_for(state="attached")
    assert page.locator("#comments .comment-body .katex").count() == 1
    for summary in page.locator("#comments details > summary").all():
        summary.click()
    assert page.locator("#comments details[open]").count() == 4 + 2  # replies + own edits
    _check(visitor, f"/papers/{P1}")
    visitor.context.close()
