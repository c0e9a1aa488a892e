"""Your own vote in Debian's chromium with JavaScript switched off: the card's button is a form
that presses (aria-pressed, a filled button) and un-presses, on the list, on the paper's page and
on search results, coming back to the card it was pressed on."""

from __future__ import annotations

import pytest

from tests.test_browser import demo_site  # noqa: F401  (a fixture shared with that module)

pytestmark = pytest.mark.browser


def test_the_vote_button_stays_pressed_for_your_vote(browser, demo_site):  # noqa: F811
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        page.goto(f"{demo_site.url}/signup")
        page.get_by_label("Username").fill("Pressed_Voter")
        page.get_by_label("Password", exact=True).fill("plain forms all the way")
        page.get_by_role("button", name="Sign up").click()
        page.wait_for_url("**/papers")

        card = page.locator("article.card").first
        paper_id = card.get_attribute("data-paper-id")
        card = page.locator(f'article.card[data-paper-id="{paper_id}"]')
        button = card.locator("button.vote-button")
        count = int(button.locator(".count").inner_text())
        assert button.get_attribute("aria-pressed") == "false"
        plain = button.evaluate("b => getComputedStyle(b).backgroundColor")

        button.click()
        page.wait_for_url(f"**/papers#paper-{paper_id}")  # back to the card pressed
        button = page.locator(f'article.card[data-paper-id="{paper_id}"] button.vote-button')
        assert button.get_attribute("aria-pressed") == "true"
        assert int(button.locator(".count").inner_text()) == count + 1
        assert button.evaluate("b => getComputedStyle(b).backgroundColor") != plain  # visible

        page.goto(f"{demo_site.url}/papers/{paper_id}")
        toggle = page.locator("form.vote-form button")
        assert toggle.get_attribute("aria-pressed") == "true"
        assert toggle.inner_text() == "Upvoted: take back"
        toggle.click()
        page.wait_for_url(f"**/papers/{paper_id}")
        toggle = page.locator("form.vote-form button")
        assert (toggle.get_attribute("aria-pressed"), toggle.inner_text()) == ("false", "Upvote")

        page.goto(f"{demo_site.url}/papers")
        button = page.locator(f'article.card[data-paper-id="{paper_id}"] button.vote-button')
        assert button.get_attribute("aria-pressed") == "false"
        assert int(button.locator(".count").inner_text()) == count

        # A search result votes too, and the page comes back scrolled to it, not to the top.
        page.goto(f"{demo_site.url}/search?q=agents")
        result = page.locator("article.search-result").nth(9)
        found = result.get_attribute("data-paper-id")
        result.locator("button.vote-button").click()
        page.wait_for_url(f"**/search?q=agents#paper-{found}")
        button = page.locator(f'article.search-result[data-paper-id="{found}"] button.vote-button')
        assert button.get_attribute("aria-pressed") == "true"
        assert 0 <= button.bounding_box()["y"] < 900
    finally:
        context.close()
