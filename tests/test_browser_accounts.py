"""Accounts in Debian's chromium with JavaScript switched off: every account action is a plain
form (sign up, sign out, sign in, make an API token), and the header follows who is signed in."""

from __future__ import annotations

import pytest

from tests.test_browser import demo_site  # noqa: F401  (a fixture shared with that module)

pytestmark = pytest.mark.browser


def test_sign_up_out_and_in_without_javascript(browser, demo_site):  # noqa: F811
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        page.goto(f"{demo_site.url}/papers")
        page.locator("header").get_by_role("link", name="Sign up").click()
        page.wait_for_url("**/signup")
        page.get_by_label("Username").fill("Browser_Reader")
        page.get_by_label("Password", exact=True).fill("plain forms all the way")
        page.get_by_role("button", name="Sign up").click()
        page.wait_for_url("**/papers")
        header = page.locator("header")
        assert header.get_by_role("link", name="Browser_Reader").is_visible()
        assert header.get_by_role("link", name="Sign in").count() == 0

        header.get_by_role("button", name="Sign out").click()
        page.wait_for_url("**/papers")
        assert page.locator("header").get_by_role("link", name="Sign in").is_visible()
        page.goto(f"{demo_site.url}/account")
        page.wait_for_url("**/login?next=%2Faccount")

        page.get_by_label("Username or e-mail address").fill("browser_reader")
        page.get_by_label("Password", exact=True).fill("plain forms all the way")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/account")
        page.get_by_label("New token's name").fill("scripts")
        page.get_by_role("button", name="Create token").click()
        token = page.locator("code.new-token").inner_text()
        assert token.startswith("dp_")
        assert page.get_by_role("cell", name="scripts").is_visible()
    finally:
        context.close()
