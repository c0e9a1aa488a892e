"""The whole community flow in Debian's chromium with JavaScript switched off, on SQLite and
PostgreSQL: sign up, sign out, sign in, upvote a card, comment on it (Markdown and a link), submit a paper (arXiv is
tests/fake_upstream.py), find it on today's list (the header's "Latest"), sign out.

The app's clock is set the day after the stored papers' day and near the recorded paper's first
version, so "today" is a real day of its own: before the submission the latest list is
yesterday's, after it today's."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from dailypapers.db.schema import comments, user_sessions, votes
from dailypapers.ingest.files import import_paths
from tests.account_helpers import GENEROUS
from tests.conftest import SHARED_DATA, LiveServer, shared, sqlite_only
from tests.fake_upstream import ATOM_PATH, FakeUpstream
from tests.helpers import hf_item, write_json

pytestmark = pytest.mark.browser

SUBMITTED = "2502.06628"  # recorded in arxiv/api-atom; first version 2025-02-10
NOW = dt.datetime(2025, 2, 20, 9, 30, tzinfo=dt.timezone.utc)
YESTERDAY = "2025-02-19"
VOTED, OTHER = "2502.11111", "2502.22222"
PASSWORD = "plain forms all the way"


def _rows(engine: sa.Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


@pytest.fixture
def flow_site(settings, engine, tmp_path):
    shared("arxiv", "api-atom")
    day = [hf_item(VOTED, title="Quiet kites", upvotes=5, day=YESTERDAY),
           hf_item(OTHER, title="Loud lanterns", upvotes=9, day=YESTERDAY)]
    import_paths(engine, [write_json(tmp_path / "day.json", day)])
    from dailypapers.web.app import create_app

    with FakeUpstream(SHARED_DATA) as fake:
        app = create_app(settings.model_copy(update={
            **GENEROUS, "arxiv_api_url": fake.url + ATOM_PATH,
            "sync_min_interval_seconds": 0.0}), engine)
        app.state.clock = lambda: NOW
        with LiveServer(app) as server:
            yield server


# PostgreSQL: the same steps over HTTP in tests/test_accounts.py, test_votes.py, test_comments.py
# and test_submissions.py (sign up, submit, see it today) run on both.
@sqlite_only
def test_sign_up_in_upvote_submit_see_it_today_and_sign_out(browser, flow_site, engine):  # noqa: F811
    url = flow_site.url
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    outside: list[str] = []
    page.on("request", lambda req: outside.append(req.url)
            if not req.url.startswith((url, "data:", "about:")) else None)
    header = page.locator("header")
    try:
        # Sign up (from the header), then out, then in again with the name in another case.
        page.goto(f"{url}/papers")
        header.get_by_role("link", name="Sign up").click()
        page.wait_for_url("**/signup")
        page.get_by_label("Username").fill("Flow_Reader")
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Sign up").click()
        page.wait_for_url("**/papers")
        assert header.get_by_role("link", name="Flow_Reader").is_visible()
        header.get_by_role("button", name="Sign out").click()
        page.wait_for_url("**/papers")
        assert header.get_by_role("link", name="Sign in").is_visible()
        header.get_by_role("link", name="Sign in").click()
        page.wait_for_url("**/login**")
        page.get_by_label("Username or e-mail address").fill("flow_reader")
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/papers")
        assert header.get_by_role("link", name="Flow_Reader").is_visible()
        assert _rows(engine, user_sessions) == 1  # the first session ended at sign-out

        # Upvote a card on the latest list (yesterday's): back on the same list, one more.
        card = page.locator(f"article.card[data-paper-id='{VOTED}']")
        assert card.locator(".vote-box .count").inner_text() == "5"
        card.get_by_role("button").filter(has_text="upvote").click()
        page.wait_for_url(f"**/papers#paper-{VOTED}")
        card = page.locator(f"article.card[data-paper-id='{VOTED}']")
        assert card.locator(".vote-box .count").inner_text() == "6"
        assert card.locator(".vote-origin").inner_text() == "5 on Hugging Face + 1 here"
        other = page.locator(f"article.card[data-paper-id='{OTHER}']")
        assert other.locator(".vote-box .count").inner_text() == "9"  # only the one pressed
        assert _rows(engine, votes) == 1

        # Comment on that paper in Markdown with a link: rendered, the link nofollow ugc.
        card.locator("h3.card-title a").click()
        page.wait_for_url(f"**/papers/{VOTED}")
        imported_comments = int(page.locator("#comments h2 .count").inner_text())
        page.get_by_label("Add a comment").fill(
            "A **bold** claim, see [the code](https://example.org/kites) and `x = 1`.")
        page.get_by_role("button", name="Comment", exact=True).click()
        page.wait_for_url(f"**/papers/{VOTED}#comment-*")
        body = page.locator("li.comment .comment-body")
        assert body.count() == 1
        assert body.inner_text().strip() == "A bold claim, see the code and x = 1."
        assert body.locator("strong").inner_text() == "bold"
        assert body.locator("code").inner_text() == "x = 1"
        link = body.get_by_role("link", name="the code")
        assert link.get_attribute("href") == "https://example.org/kites"
        assert set((link.get_attribute("rel") or "").split()) >= {"nofollow", "ugc"}
        assert page.locator("li.comment .comment-author").inner_text() == "Flow_Reader"
        assert page.locator("#comments h2 .count").inner_text() == str(imported_comments + 1)
        assert _rows(engine, comments) == 1

        # Submit a paper through the header's "Submit": it joins today's list.
        header.get_by_role("link", name="Submit", exact=True).click()
        page.wait_for_url("**/submit")
        page.get_by_label("arXiv identifier or URL").fill(f"arXiv:{SUBMITTED}")
        page.get_by_role("button", name="Submit", exact=True).click()
        page.wait_for_url(f"**/papers/date/{NOW.date().isoformat()}")

        # Today's list is now the latest one: the header's first link leads to it.
        page.goto(f"{url}/papers/{VOTED}")
        header.get_by_role("link", name="Latest").click()
        page.wait_for_url("**/papers")
        cards = page.locator("article.card")
        assert cards.count() == 1  # today's, not yesterday's two
        today = page.locator(f"article.card[data-paper-id='{SUBMITTED}']")
        assert today.count() == 1
        assert today.locator("a.submitter-link").inner_text() == "Flow_Reader"
        assert today.locator(".vote-box .count").inner_text() == "0"

        # Sign out: the header offers sign-in, cards no button, the session row is gone.
        header.get_by_role("button", name="Sign out").click()
        page.wait_for_url("**/papers")
        assert header.get_by_role("link", name="Sign in").is_visible()
        assert page.locator("article.card form.vote-box").count() == 0
        assert page.locator(f"article.card[data-paper-id='{SUBMITTED}']").count() == 1
        assert _rows(engine, user_sessions) == 0
        page.goto(f"{url}/papers/{VOTED}")
        assert page.locator("form.comment-form").count() == 0  # signed out: no comment form
        assert page.locator("li.comment .comment-body strong").inner_text() == "bold"
        page.goto(f"{url}/submit")
        page.wait_for_url("**/login?next=%2Fsubmit")
    finally:
        context.close()
    assert outside == [], outside
