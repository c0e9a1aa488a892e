"""The digest's pages in Debian's chromium, by keyboard only, at 1280 and 375 px: subscribe on
the form, follow the confirmation link from the mail a real SMTP server (aiosmtpd) received,
confirm, change the preferences, unsubscribe. Every page on the way (subscribe, confirm,
preferences, unsubscribe, and what each answers) has no axe-core violation, asks nothing of
another origin and does not scroll sideways; each step leaves the row it should.

One live server, one SMTP server and one browser for the module (SQLite: the pages, not the
storage, are under test here; tests/test_subscriptions.py covers both databases)."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from dailypapers.db.engine import make_engine, read_transaction
from dailypapers.db.migrate import upgrade
from dailypapers.db.schema import subscription_topics, subscriptions
from dailypapers.settings import Settings
from dailypapers.web.app import create_app
from tests.conftest import TEST_SECRET_KEY, LiveServer
from tests.mail_helpers import Inbox, smtp_server
from tests.test_browser_pages import AXE

pytestmark = pytest.mark.browser

MAX_TABS = 60  # more than any of these pages has focusable elements


@pytest.fixture(scope="module")
def mailing_site(tmp_path_factory):  # type: ignore[no-untyped-def]
    inbox = Inbox()
    with smtp_server(inbox) as controller:
        yield from _mailing_site(tmp_path_factory, inbox, controller.port)


def _mailing_site(tmp_path_factory, inbox, smtp_port):  # type: ignore[no-untyped-def]
    data_dir = tmp_path_factory.mktemp("browser-subscribe")
    settings = Settings(
        data_dir=data_dir, database_url=f"sqlite:///{data_dir}/site.sqlite3",
        secret_key=TEST_SECRET_KEY, mail_backend="smtp", mail_smtp_host="127.0.0.1",
        mail_smtp_port=smtp_port, mail_smtp_security="none",
        mail_from="Daily Papers <digest@papers.example.org>")
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    try:
        with LiveServer(create_app(settings, engine)) as server:
            yield server, engine, inbox
    finally:
        engine.dispose()


def _row(engine, address: str):  # type: ignore[no-untyped-def]
    with read_transaction(engine) as conn:
        row = conn.execute(sa.select(subscriptions).where(
            subscriptions.c.email == address)).mappings().first()
        topics = sorted(conn.execute(sa.select(subscription_topics.c.kind,
                                               subscription_topics.c.value).where(
            subscription_topics.c.subscription_id == row["id"])).all()) if row else []
    return row, [tuple(t) for t in topics]


class Walk:
    """One context at one width: visit, check, and move by keyboard only."""

    def __init__(self, browser, origin: str, width: int) -> None:  # noqa: F811
        self.origin = origin
        self.context = browser.new_context(
            viewport={"width": width, "height": 900 if width > 600 else 740},
            is_mobile=width < 600)
        self.page = self.context.new_page()
        self.outside: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", lambda r: self.outside.append(r.url) if not r.url.startswith(
            (origin + "/", "data:", "about:")) else None)
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def check(self, heading: str) -> None:
        """The page shown has this heading, and nothing wrong with it."""
        page = self.page
        page.wait_for_load_state("networkidle")
        assert page.locator("main h1").inner_text() == heading
        assert self.outside == [] and self.errors == [], (self.outside, self.errors)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        results = AXE.run(page, options={"resultTypes": ["violations"]})
        violations = [f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:4]}"
                      for v in results.response["violations"]]
        assert violations == [], f"{page.url}\n" + "\n".join(violations)

    def tab_to(self, selector: str) -> None:
        """Press Tab from the top of the page until ``selector`` has the focus: it is reachable
        by keyboard, in the page's own order."""
        page = self.page
        page.evaluate("document.activeElement && document.activeElement.blur()")
        for _ in range(MAX_TABS):
            page.keyboard.press("Tab")
            if page.evaluate("s => document.activeElement.matches(s)", selector):
                return
        raise AssertionError(f"{selector} not reached by {MAX_TABS} Tabs on {page.url}")

    def type_into(self, selector: str, text: str) -> None:
        self.tab_to(selector)
        self.page.keyboard.press("ControlOrMeta+A")
        self.page.keyboard.type(text)

    def submit_with(self, selector: str) -> None:
        self.tab_to(selector)
        with self.page.expect_navigation():
            self.page.keyboard.press("Enter")


@pytest.mark.parametrize("width", [1280, 375])
def test_subscribe_confirm_manage_and_unsubscribe_by_keyboard(browser, mailing_site, width):  # type: ignore[no-untyped-def]  # noqa: F811
    server, engine, inbox = mailing_site
    address = f"reader{width}@example.org"
    walk = Walk(browser, server.url, width)
    page = walk.page
    try:
        # Subscribe: an address, weekly (arrow keys move within the radio group), a category
        # and a saved search, at most 4 papers.
        page.goto(server.url + "/subscribe")
        walk.check("Papers by e-mail")
        form = "form.subscribe-form"
        walk.type_into(f"{form} #sub-email", address)
        walk.tab_to(f"{form} input[name=frequency][value=daily]")
        page.keyboard.press("ArrowDown")
        assert page.locator(f"{form} input[value=weekly]").is_checked()
        walk.type_into(f"{form} #sub-categories", "cs.CL")
        walk.type_into(f"{form} #sub-searches", "lora merging")
        walk.type_into(f"{form} #sub-max-items", "4")
        before = len(inbox.messages)
        walk.submit_with(f"{form} button[type=submit]")
        walk.check("Papers by e-mail")
        assert address in page.locator("p.notice").inner_text()
        row, topics = _row(engine, address)
        assert (row["state"], row["frequency"], row["max_items"], row["trending"]) == (
            "unconfirmed", "weekly", 4, True)
        assert topics == [("category", "cs.CL"), ("search", "lora merging")]

        # The confirmation mail: its link shows a page and changes nothing; the button confirms.
        mails = [m for m in inbox.wait_for(before + 1) if m["To"] == address]
        assert len(mails) == 1
        (link,) = re.findall(r"http://\S+/subscribe/confirm/\S+", mails[0].get_payload(decode=True)
                             .decode())
        assert link.startswith(server.url + "/")
        page.goto(link)
        walk.check("Confirm your digest")
        assert _row(engine, address)[0]["state"] == "unconfirmed"
        walk.submit_with("main form button[type=submit]")
        walk.check("Subscribed")
        assert _row(engine, address)[0]["state"] == "confirmed"

        # The preferences: daily again, trending off, 9 papers; saved, and shown as saved.
        walk.tab_to("main a[href^='/subscription/']")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        walk.check(f"Your digest for {address}")
        walk.tab_to("main input[name=frequency][value=weekly]")
        page.keyboard.press("ArrowUp")
        walk.tab_to("main input[name=trending]")
        page.keyboard.press("Space")
        walk.type_into("main #sub-categories", "cs.LG")
        walk.type_into("main #sub-max-items", "9")
        walk.submit_with("main form:not([action]) button[type=submit]")
        walk.check(f"Your digest for {address}")
        assert page.locator("p.notice").inner_text() == "Saved."
        row, topics = _row(engine, address)
        assert (row["state"], row["frequency"], row["max_items"], row["trending"]) == (
            "confirmed", "daily", 9, False)
        assert topics == [("category", "cs.LG"), ("search", "lora merging")]

        # Unsubscribe: the link every digest carries shows a button; pressing it stops the mail.
        unsubscribe = page.locator("main form[action^='/unsubscribe/']").get_attribute("action")
        page.goto(server.url + unsubscribe)
        walk.check("Unsubscribe")
        assert _row(engine, address)[0]["state"] == "confirmed"
        walk.submit_with("main form button[type=submit]")
        walk.check("Unsubscribed")
        assert _row(engine, address)[0]["state"] == "unsubscribed"
    finally:
        walk.context.close()
