"""The moderation pages in Debian's chromium, signed in as a moderator, at 1280 and 375 px: a
hidden paper's page (banner and unhide form), the queue with flags on a paper and a user, the
flag form, the log. Nothing asked of another origin, no console error, no sideways scroll, no
axe-core violation; and the queue's form works without JavaScript."""

from __future__ import annotations

import pytest

from tests.moderation_helpers import HIDE, KEEP, add_person, flag_rows, log_rows, site
from tests.test_browser_pages import Visitor, _check

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_moderation_pages_are_accessible_and_the_queue_works(browser, settings, engine):  # noqa: F811
    with site(settings, engine) as server:
        mod = add_person(engine, server.url, "Mira", is_moderator=True)
        finn = add_person(engine, server.url, "Finn")
        add_person(engine, server.url, "Tess")
        for target_type, target_id in (("paper", KEEP), ("user", "Tess")):
            assert finn.api("POST", "/api/v1/flags", json={
                "targetType": target_type, "targetId": target_id, "reason": "other",
                "detail": "please look"}).status_code == 200
        assert mod.api("POST", f"/api/v1/moderation/papers/{HIDE}/hide",
                       json={"reason": "a duplicate"}).status_code == 200
        for width, scheme in ((1280, "light"), (375, "dark")):
            visitor = Visitor(browser, server.url, width, scheme)
            visitor.context.add_cookies([{"name": "dp_session", "value": mod.cookie,
                                          "url": server.url}])
            for path in (f"/papers/{HIDE}", f"/papers/{KEEP}", "/moderation/queue",
                         f"/flag?type=paper&id={KEEP}", "/moderation"):
                visitor.visit(path)
                _check(visitor, path)
            visitor.context.close()

        visitor = Visitor(browser, server.url, 1280, "light")
        visitor.context.add_cookies([{"name": "dp_session", "value": mod.cookie,
                                      "url": server.url}])
        page = visitor.page
        visitor.visit("/moderation/queue")
        item = page.locator("article.queue-item").filter(has_text="Quokka locomotion on wet")
        item.get_by_label("Hide the paper").check()
        item.get_by_label("Reason (public)").fill("off-topic for this site")
        item.get_by_role("button", name="Resolve").click()
        page.wait_for_url("**/moderation/queue?done=1")
        assert page.locator("article.queue-item").count() == 1
        visitor.context.close()
        assert log_rows(engine)[-1][1:] == ("hide_paper", "paper", KEEP, "off-topic for this site")
        assert [r[4] for r in flag_rows(engine)] == ["hidden", None]
