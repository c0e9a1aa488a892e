"""Every page type in Debian's chromium, at 1280 and 375 px, in light and dark: nothing is asked
of another origin, nothing is logged as an error, nothing scrolls sideways, and axe-core finds no
accessibility violation of any impact.

axe-core 4.12.1 comes inside the pinned axe-playwright-python wheel (nothing is fetched at run
time). One browser, one context per width and scheme, one page reused: ~40 visits."""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe

from dailypapers.ingest.files import import_paths
from dailypapers.web.app import create_app
from tests.api_paths import API_OPERATION_PATHS
from tests.conftest import LiveServer
from dailypapers.ingest.media import fetch_urls
from tests.fake_upstream import FakeUpstream
from tests.helpers import demo_database, hf_item, png, write_json

pytestmark = pytest.mark.browser

CODE_AND_MATH = "2604.00001"  # added below: the demo has no paper with both
PAGES = {
    "latest day": "/papers",
    "busy day": "/papers/date/2026-03-13",  # 36 papers, the demo's busiest
    "week": "/papers/week/2026-W11?sort=upvotes",
    "month": "/papers/month/2026-03",
    "paper with code and math": f"/papers/{CODE_AND_MATH}",
    "search with results": "/search?q=agents",
    "search with none": "/search?q=zzqxjvv",
    "404": "/papers/2401.99999",
    "trending": "/papers/trending",
    "api docs": "/api/docs",
    "moderation log": "/moderation",
    "user page": "/users/Reader",
    "feeds": "/feeds",
    "subscribe": "/subscribe?email=reader%40example.org",
    "how trending works": "/about/trending",  # a formula and a settings table on a phone
    "sign up": "/signup",  # the account forms' fields, buttons and links among text
}
VIEWS = [(1280, "light"), (1280, "dark"), (375, "light"), (375, "dark")]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("browser-pages")
    settings, engine = demo_database(data_dir)
    item = hf_item(CODE_AND_MATH, title="Bounds on $\\ell_2$ regret for agents",
                   githubRepo="https://github.com/acme/regret", githubStars=42,
                   ai_keywords=["regret bounds", "agents"], day="2026-03-31",
                   organization={"name": "acme", "fullname": "Acme Research"})
    item["paper"]["summary"] = ("We prove $R_T = O(\\sqrt{T \\log K})$ for agents; code and data at "
                                "https://github.com/acme/regret. The bound $$\\sum_t r_t$$ is tight.")
    with FakeUpstream(data_dir, atom_files=[], oai_pages=0) as fake:  # images from our origin
        fake.images["/thumb.png"] = ("image/png", png(320, 180))
        fake.images["/acme.png"] = ("image/png", png(32, 32, (20, 90, 20)))
        item["thumbnail"] = fake.url + "/thumb.png"
        item["paper"]["organization"]["avatar"] = fake.url + "/acme.png"
        import_paths(engine, [write_json(data_dir / "2026-03-31.json", [item])])
        _submitted_by_a_local_user(engine)
        loopback = settings.model_copy(update={"media_allow_private_hosts": True})
        fetched = fetch_urls(loopback, engine, [fake.url + "/thumb.png", fake.url + "/acme.png"],
                             log=lambda _line: None)
        assert fetched.fetched == 2
    with LiveServer(create_app(settings, engine)) as server:
        yield server
    engine.dispose()


def _submitted_by_a_local_user(engine) -> None:
    """A user page with one submission, which also puts a local "submitted by" on the latest day."""
    import datetime as dt

    from dailypapers.community.submissions import SubmitRules, add_to_today
    from dailypapers.community.users import User
    from dailypapers.db.engine import write_transaction
    from dailypapers.db.schema import users
    from dailypapers.rank.trending import TrendingParams

    now = dt.datetime(2026, 3, 31, 12, 0, tzinfo=dt.timezone.utc)
    with write_transaction(engine) as conn:
        uid = conn.execute(users.insert().values(
            username="Reader", username_key="reader", password_hash="!", created_at=now,
            password_changed_at=now)).inserted_primary_key[0]
        add_to_today(conn, User(uid, "Reader"), "2412.12023", "Rotations, <i>at random</i>.",
                     now, SubmitRules(dt.timedelta(days=14), 5, 1), TrendingParams())


AXE = Axe()  # reads the bundled axe.min.js once


class Visitor:
    """One context (width and colour scheme) and one page, with what it saw going wrong."""

    def __init__(self, browser, origin: str, width: int, scheme: str) -> None:  # noqa: F811
        self.origin = origin
        self.context = browser.new_context(
            viewport={"width": width, "height": 900 if width > 600 else 740},
            is_mobile=width < 600, color_scheme=scheme)
        self.page = self.context.new_page()
        self.outside: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", self._request)
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _request(self, request) -> None:  # type: ignore[no-untyped-def]
        if not request.url.startswith((self.origin + "/", "data:", "about:", "blob:")):
            self.outside.append(request.url)

    def visit(self, path: str) -> None:
        self.outside.clear()
        self.errors.clear()
        self.page.goto(self.origin + path)
        self.page.wait_for_load_state("networkidle")


@pytest.fixture(scope="module")
def visitors(browser, site):  # noqa: F811
    made: dict[tuple[int, str], Visitor] = {}

    def get(width: int, scheme: str) -> Visitor:
        if (width, scheme) not in made:
            made[(width, scheme)] = Visitor(browser, site.url, width, scheme)
        return made[(width, scheme)]

    yield get
    for visitor in made.values():
        visitor.context.close()


def _is_expected_404(path: str, message: str) -> bool:
    # Chromium logs the 404 page's own status as a console error; that one is the point.
    return path == PAGES["404"] and "404" in message


@pytest.mark.parametrize("width, scheme", VIEWS, ids=[f"{w}px-{s}" for w, s in VIEWS])
@pytest.mark.parametrize("name", list(PAGES))
def test_page_is_self_contained_and_accessible(visitors, name, width, scheme):
    visitor = visitors(width, scheme)
    path = PAGES[name]
    visitor.visit(path)
    page = visitor.page
    if name == "api docs":  # the operations are on the page, Swagger UI loads when asked
        paths = page.locator("article.operation code.api-path").all_inner_texts()
        assert sorted(paths) == API_OPERATION_PATHS
        assert page.locator("script[src*=swagger]").count() == 0
        _check(visitor, path)
        page.locator("#open-explorer").click()
        page.wait_for_selector(".opblock", timeout=15_000)
        assert page.locator(".opblock").count() == len(paths)
    elif name == "paper with code and math":
        page.locator("html[data-math=ready]").wait_for(state="attached")
        assert page.locator("section.abstract .katex").count() == 2
        assert page.locator("a.code-link").count() == 1
        # The thumbnail and the organisation's avatar, loaded from /media/ (checked below: no
        # other origin), at the size their attributes promised.
        for selector, width in (("img.paper-thumb", 320), ("img.avatar", 32)):
            img = page.locator(selector)
            assert img.get_attribute("src").startswith("/media/")
            assert img.evaluate("i => i.complete && i.naturalWidth") == width
    elif name == "search with results":
        assert page.locator("article.card").count() >= 1
    elif name == "search with none":
        assert page.locator(".no-results").count() == 1
    elif name == "404":
        assert page.locator("h1").inner_text() == "Not found"
    elif name == "moderation log":
        assert page.locator("h1").inner_text() == "Moderation log"
    elif name == "user page":
        assert page.locator("li.submission").count() == 1
        assert page.locator("p.submission-note").inner_text() == "Rotations, <i>at random</i>."
    elif name == "feeds":
        assert page.locator("table.feeds a[href$='.atom']").count() >= 6
    elif name == "how trending works":
        assert page.locator("pre.formula").count() == 1
    elif name == "sign up":
        assert page.get_by_label("Username").count() == 1
    elif name == "subscribe":  # the footer's address arrives in the full form
        assert page.locator("form.subscribe-form input[name=email]").input_value() == \
            "reader@example.org"
    else:
        assert page.locator("article.card").count() >= 1
    _check(visitor, path)


def _check(visitor: Visitor, path: str) -> None:
    page = visitor.page
    page.wait_for_load_state("networkidle")
    assert visitor.outside == [], f"requests to another origin: {visitor.outside}"
    errors = [e for e in visitor.errors if not _is_expected_404(path, e)]
    assert errors == [], f"console errors: {errors}"
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (
        f"scrolls sideways: {page.evaluate('document.documentElement.scrollWidth')} px")
    results = AXE.run(page, options={"resultTypes": ["violations"]})
    violations = [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:4]}"
        for v in results.response["violations"]]
    assert violations == [], "\n".join(violations)
