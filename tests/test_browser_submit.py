"""Submitting a paper in Debian's chromium with JavaScript switched off: sign up, the header's
"Submit", the form, the paper on that day's list with a "submitted by" that leads to the user's
page. arXiv is tests/fake_upstream.py; the app's clock is set near the recorded paper's date."""

from __future__ import annotations

import datetime as dt

import pytest

from dailypapers.web.app import create_app
from tests.conftest import SHARED_DATA, LiveServer, shared
from tests.fake_upstream import ATOM_PATH, FakeUpstream
from tests.helpers import demo_database

pytestmark = pytest.mark.browser

PAPER = "2502.06628"  # recorded in arxiv/api-atom; first version 2025-02-10
NOW = dt.datetime(2025, 2, 20, 9, 30, tzinfo=dt.timezone.utc)


@pytest.fixture
def submit_site(tmp_path):
    shared("arxiv", "api-atom")
    settings, engine = demo_database(tmp_path)
    with FakeUpstream(SHARED_DATA) as fake:
        settings = settings.model_copy(update={
            "arxiv_api_url": fake.url + ATOM_PATH, "sync_min_interval_seconds": 0.0})
        app = create_app(settings, engine)
        app.state.clock = lambda: NOW
        with LiveServer(app) as server:
            yield server
    engine.dispose()


def test_submit_a_paper_and_find_it_on_the_day_without_javascript(browser, submit_site):  # noqa: F811
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        page.goto(f"{submit_site.url}/submit")
        page.wait_for_url("**/login?next=%2Fsubmit")
        page.goto(f"{submit_site.url}/signup")
        page.get_by_label("Username").fill("Browser_Submitter")
        page.get_by_label("Password", exact=True).fill("plain forms all the way")
        page.get_by_role("button", name="Sign up").click()
        page.wait_for_url("**/papers")
        page.locator("header").get_by_role("link", name="Submit", exact=True).click()
        page.wait_for_url("**/submit")
        page.get_by_label("arXiv identifier or URL").fill(f"https://arxiv.org/abs/{PAPER}v1")
        page.get_by_label("Comment").fill("Read the appendix first.")
        page.get_by_role("button", name="Submit", exact=True).click()
        page.wait_for_url(f"**/papers/date/{NOW.date().isoformat()}")
        card = page.locator(f"article.card[data-paper-id='{PAPER}']")
        assert card.count() == 1
        card.get_by_role("link", name="Browser_Submitter").click()
        page.wait_for_url("**/users/Browser_Submitter")
        assert page.locator("li.submission").count() == 1
        assert page.locator("p.submission-note").inner_text() == "Read the appendix first."

        page.goto(f"{submit_site.url}/submit")  # again: a new account has one a day
        page.get_by_label("arXiv identifier or URL").fill(PAPER)
        page.get_by_role("button", name="Submit", exact=True).click()
        assert "submitted 1 paper today" in page.locator("#submit-error").inner_text()
        assert page.get_by_label("arXiv identifier or URL").input_value() == PAPER
    finally:
        context.close()
