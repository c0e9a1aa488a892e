"""The Content-Security-Policy in Debian's chromium: /api/docs (Swagger UI) and the pages with
rendered math work under it, every request stays on our origin, and nothing is blocked."""

from __future__ import annotations

import pytest

from tests.api_paths import API_OPERATION_PATHS
from tests.test_browser import demo_site  # noqa: F401  (a fixture shared with that module)

pytestmark = pytest.mark.browser

# Recorded by a listener installed before any page script runs.
WATCH_CSP = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


@pytest.fixture
def watched(browser, demo_site):  # noqa: F811
    """A page that records every request leaving the origin, every CSP violation and every
    console message that mentions the policy."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.add_init_script(WATCH_CSP)
    seen: dict[str, list[str]] = {"outside": [], "console": []}
    page.on("request", lambda req: seen["outside"].append(req.url)
            if not req.url.startswith((demo_site.url + "/", "data:")) else None)
    page.on("console", lambda msg: seen["console"].append(msg.text)
            if "Content Security Policy" in msg.text else None)
    yield page, seen
    context.close()


def _violations(page) -> list[str]:
    return page.evaluate("window.__violations")


def test_api_docs_renders_and_runs_requests_from_our_origin_only(watched, demo_site):
    page, seen = watched
    response = page.goto(f"{demo_site.url}/api/docs")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.locator("#open-explorer").click()  # Swagger UI loads on demand (web/static/js/api-docs.js)
    page.wait_for_selector(".opblock-summary-path", timeout=15_000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert sorted(p.replace("\u200b", "") for p in paths) == API_OPERATION_PATHS

    # Try an operation: Swagger UI fetches it from the page (connect-src 'self').
    page.locator(".opblock-summary", has_text="/api/daily_papers").click()
    page.get_by_role("button", name="Try it out").click()
    page.get_by_role("button", name="Execute").click()
    status = page.locator(".live-responses-table tbody .response-col_status").first
    status.wait_for(timeout=15_000)
    assert status.inner_text().strip() == "200", page.locator(".request-url").first.inner_text()
    page.wait_for_load_state("networkidle")

    assert seen["outside"] == [], f"requests left the origin: {seen['outside']}"
    assert _violations(page) == [] and seen["console"] == []


@pytest.mark.parametrize("path", ["/papers/2412.12023", "/papers", "/search?q=language+model"])
def test_pages_with_math_render_without_a_csp_violation(watched, demo_site, path):
    page, seen = watched
    page.goto(f"{demo_site.url}{path}")
    page.locator("html[data-math=ready]").wait_for(state="attached")
    page.wait_for_load_state("networkidle")
    if path == "/papers/2412.12023":  # KaTeX styled its nodes (through the CSSOM)
        assert page.locator("h1.paper-title .katex [style]").count() >= 1
    assert seen["outside"] == []
    assert _violations(page) == [] and seen["console"] == []


def test_an_inline_script_is_blocked(watched, demo_site):
    """The listener does see violations: a script injected into the page is refused."""
    page, _seen = watched
    page.goto(f"{demo_site.url}/papers")
    page.evaluate("""() => { const s = document.createElement('script');
        s.textContent = 'window.__ran = true'; document.body.appendChild(s); }""")
    page.wait_for_function("window.__violations.length > 0")
    assert page.evaluate("window.__ran") is None
    assert any(v.startswith("script-src") for v in _violations(page))
