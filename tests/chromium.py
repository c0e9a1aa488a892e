"""One Debian chromium (through Playwright) for the browser tests that run one after another.

Starting Playwright's driver and chromium costs ~1-1.5 s (more on a busy machine); each browser
module used to pay it. The ``browser`` fixture now hands out one chromium, started when a test
first asks for it and stopped after the last test of a run of modules that use it (the next
test's module does not), so the ~10 consecutive tests/test_browser*.py modules share one.
Isolation is unchanged: every test makes its own context (cookies, storage, cache), as before.

It is not kept for the whole session: between sync calls Playwright marks its event loop as
running in the main thread, and a later test's ``asyncio.run`` would refuse to start.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


class _Shared:
    manager: Any = None  # the sync_playwright() context manager, entered
    browser: Any = None

    def get(self) -> Any:
        if self.browser is None or not self.browser.is_connected():
            self.stop()
            from playwright.sync_api import sync_playwright

            self.manager = sync_playwright()
            playwright = self.manager.__enter__()
            self.browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                                      args=CHROMIUM_ARGS)
        return self.browser

    def stop(self) -> None:
        browser, manager = self.browser, self.manager
        self.browser = self.manager = None
        try:
            if browser is not None and browser.is_connected():
                browser.close()
        finally:
            if manager is not None:
                manager.__exit__(None, None, None)


_shared = _Shared()


@pytest.fixture(scope="module")
def browser() -> Any:
    from tests.conftest import IN_CI  # not at the top: conftest imports this module

    if CHROMIUM is None:
        if IN_CI:
            pytest.fail("chromium is not installed (CI=true: .ci/run installs it)")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    return _shared.get()


def _uses_shared_browser(item: pytest.Item) -> bool:
    """Whether ``item`` asks for this module's ``browser`` (tests/test_accounts.py has a
    ``browser`` of its own, an HTTP client)."""
    info = getattr(item, "_fixtureinfo", None)
    definitions = info.name2fixturedefs.get("browser", ()) if info is not None else ()
    return bool(definitions) and definitions[-1].func is browser.__wrapped__  # type: ignore[attr-defined]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    yield  # the item's fixtures (and, at a module's end, the module's) are torn down by now
    if _shared.manager is None:
        return
    # The fixture is module-scoped: a module that used it keeps it to its end.
    same_module = nextitem is not None and nextitem.module is item.module  # type: ignore[attr-defined]
    wanted = nextitem is not None and _uses_shared_browser(nextitem)
    if not same_module and not wanted:
        _shared.stop()
