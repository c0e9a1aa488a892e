"""What a reader sees, in Debian's chromium driven by Playwright: titles, rendered LaTeX, working
links, previous/next day, and no horizontal scrolling on a 375 px phone."""

from __future__ import annotations

import pytest

from dailypapers.web.app import create_app
from tests.conftest import LiveServer
from tests.helpers import demo_database

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def demo_site(tmp_path_factory):
    settings, engine = demo_database(tmp_path_factory.mktemp("browser"))
    with LiveServer(create_app(settings, engine)) as server:
        yield server
    engine.dispose()


@pytest.fixture
def page(browser, demo_site):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    outside: list[str] = []
    page.on("request", lambda req: outside.append(req.url)
            if not req.url.startswith((demo_site.url, "data:", "about:")) else None)
    yield page
    context.close()
    assert outside == [], f"the page asked for third-party resources: {outside}"


def _no_horizontal_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_daily_page_then_paper_page(page, demo_site):
    page.goto(f"{demo_site.url}/papers")
    heading = page.locator("h1")
    assert "Daily Papers" in heading.inner_text() and "March 31, 2026" in heading.inner_text()
    cards = page.locator("article.card")
    assert cards.count() > 5
    first_title = cards.first.locator("h3 a").inner_text()
    assert first_title.strip()

    # Previous day skips nothing it should not, and Next brings us back.
    page.locator("a.prev").first.click()
    page.wait_for_url("**/papers/date/2026-03-30")
    assert "March 30, 2026" in page.locator("h1").inner_text()
    page.locator("a.next").first.click()
    page.wait_for_url("**/papers/date/2026-03-31")

    # Open a paper: the card's link leads to its page with the same title and real links.
    cards.first.locator("h3 a").click()
    page.wait_for_selector("h1.paper-title")
    assert page.locator("h1.paper-title").inner_text().strip() == first_title.strip()
    assert page.locator("section.abstract p").inner_text().strip()
    arxiv = page.locator("a.btn", has_text="arXiv page").get_attribute("href")
    assert arxiv.startswith("https://arxiv.org/abs/")
    day_link = page.locator("p.featured a").first
    day_link.click()
    page.wait_for_url("**/papers/date/2026-03-31")


def test_latex_is_rendered_by_bundled_katex(page, demo_site):
    page.goto(f"{demo_site.url}/papers/2412.12023")
    page.locator("html[data-math=ready]").wait_for(state="attached")
    assert page.locator("h1.paper-title .katex").count() >= 1
    assert page.locator("section.abstract .katex").count() >= 2
    # The raw TeX is no longer shown as text.
    assert "$M_1$" not in page.locator("h1.paper-title").inner_text()


@pytest.mark.parametrize("path", ["/papers", "/papers/week/2026-W14", "/papers/2412.12023"])
def test_no_horizontal_scroll_on_a_phone(browser, demo_site, path):
    context = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True)
    page = context.new_page()
    page.goto(f"{demo_site.url}{path}")
    page.wait_for_load_state("networkidle")
    assert _no_horizontal_scroll(page), page.evaluate("document.documentElement.scrollWidth")
    context.close()


def test_search_from_the_header_box(page, demo_site):
    page.goto(f"{demo_site.url}/papers")
    title = page.locator("article.card h3 a").first.inner_text().strip()
    box = page.locator("form.header-search input[name=q]")
    box.fill(title)
    box.press("Enter")
    page.wait_for_url("**/search?q=*")
    first = page.locator("article.search-result").first
    assert first.locator("h3").inner_text().strip() == title
    assert first.locator("h3 mark").count() >= 1
    # A query that matches nothing explains what to try.
    page.goto(f"{demo_site.url}/search?q=zzqxv+qqwpz")
    assert page.locator(".no-results").is_visible()


def test_a_page_of_many_formulas_is_typeset_to_the_last(browser, tmp_path):
    """math.js typesets a few formulas a task and yields (no long task on a listing full of
    math): every one of them is typeset in the end, in order."""
    from dailypapers.db.engine import make_engine
    from dailypapers.db.migrate import upgrade
    from dailypapers.ingest.files import import_paths
    from dailypapers.settings import Settings
    from tests.helpers import hf_item, write_json

    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path}/many.sqlite3")
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    item = hf_item("2603.00001", title="Many formulas", day="2026-03-02")
    item["paper"]["summary"] = " ".join(f"$x_{{{i}}}$" for i in range(1500))
    import_paths(engine, [write_json(tmp_path / "day.json", [item])])
    context = browser.new_context()
    page = context.new_page()
    with LiveServer(create_app(settings, engine)) as server:
        page.goto(f"{server.url}/papers/2603.00001")
        page.locator("html[data-math=ready]").wait_for(state="attached")
        assert page.locator("section.abstract .katex").count() == 1500
        assert page.locator("section.abstract span.math:not(:has(.katex))").count() == 0
        assert page.locator("section.abstract annotation").last.text_content() == "x_{1499}"
        # KaTeX's stylesheet (linked media="print" so it does not hold up the first paint)
        # applies to the screen: the MathML copy is clipped away, not shown beside the HTML.
        mathml = page.locator("section.abstract .katex-mathml").first
        assert mathml.evaluate("e => getComputedStyle(e).position") == "absolute"
    context.close()
    engine.dispose()


def test_katex_waits_until_a_formula_is_near(browser, tmp_path):
    """A listing whose only formula is in its last card fetches no KaTeX on load (math.js waits
    for the formula to come within a screen of the viewport); scrolled to, it is typeset. The
    formula in the first card of another day is typeset at once."""
    from dailypapers.db.engine import make_engine
    from dailypapers.db.migrate import upgrade
    from dailypapers.ingest.files import import_paths
    from dailypapers.settings import Settings
    from tests.helpers import hf_item, write_json

    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path}/lazy.sqlite3")
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    # 12 cards on 03-02, most upvoted first: the formula is in the 12th, ~2000 px down.
    late = [hf_item(f"2603.000{n:02}", title=f"Plain paper {n}", upvotes=100 - n)
            for n in range(1, 12)]
    late.append(hf_item("2603.00099", title="Bounds on $\\ell_2$ regret", upvotes=1))
    early = [hf_item("2603.00201", title="Rates of $\\sqrt{T}$", upvotes=9, day="2026-03-03"),
             hf_item("2603.00202", title="Plain again", upvotes=1, day="2026-03-03")]
    import_paths(engine, [write_json(tmp_path / "2026-03-02.json", late),
                          write_json(tmp_path / "2026-03-03.json", early)])
    context = browser.new_context(viewport={"width": 375, "height": 640}, is_mobile=True)
    page = context.new_page()
    fetched: list[str] = []
    page.on("request", lambda req: fetched.append(req.url))
    with LiveServer(create_app(settings, engine)) as server:
        page.goto(f"{server.url}/papers/date/2026-03-02", wait_until="load")
        page.wait_for_load_state("networkidle")
        assert page.evaluate("document.documentElement.dataset.math") == "deferred"
        assert not [url for url in fetched if "katex.min.js" in url]
        title = page.locator("#paper-2603\\.00099 h3")
        assert title.locator(".katex").count() == 0
        title.scroll_into_view_if_needed()
        page.locator("html[data-math=ready]").wait_for(state="attached")
        assert title.locator(".katex annotation").text_content() == "\\ell_2"
        assert [url for url in fetched if "katex.min.js" in url]

        fetched.clear()
        page.goto(f"{server.url}/papers/date/2026-03-03")
        page.locator("html[data-math=ready]").wait_for(state="attached")
        assert page.locator("#paper-2603\\.00201 h3 .katex").count() == 1
    context.close()
    engine.dispose()
