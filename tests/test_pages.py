"""Server-rendered pages, read with an HTML parser as a reader would see them."""

import lxml.html
import pytest

from dailypapers.ingest.files import import_paths
from tests.conftest import shared
from tests.helpers import hf_item, write_json


def _doc(response):
    return lxml.html.fromstring(response.text)


@pytest.fixture
def loaded(engine):
    import_paths(engine, [shared("hf-daily", n) for n in ("2026-03-26.json", "2026-03-27.json", "2026-03-30.json")])


def test_latest_day_is_the_front_page(client, loaded):
    response = client.get("/papers")
    assert response.status_code == 200
    doc = _doc(response)
    assert "Monday, March 30, 2026" in doc.findtext(".//h1/span")
    cards = doc.cssselect("article.card")
    assert len(cards) > 5
    # Previous skips the weekend; there is no next day.
    assert doc.cssselect("a.prev")[0].get("href") == "/papers/date/2026-03-27"
    assert not doc.cssselect("a.next")


def test_day_page_cards_show_what_a_reader_needs(client, loaded):
    doc = _doc(client.get("/papers/date/2026-03-27?sort=upvotes"))
    cards = doc.cssselect("article.card")
    votes = [int(c.cssselect(".votes .count")[0].text) for c in cards]
    assert votes == sorted(votes, reverse=True)
    first = cards[0]
    link = first.cssselect("h3 a")[0]
    assert link.get("href") == f"/papers/{first.get('data-paper-id')}"
    assert first.cssselect(".authors")[0].text_content().strip()
    assert first.cssselect(".excerpt")[0].text_content().strip()
    # Previous/Next keep the chosen sort.
    assert doc.cssselect("a.next")[0].get("href") == "/papers/date/2026-03-30?sort=upvotes"
    assert doc.cssselect("a.prev")[0].get("href") == "/papers/date/2026-03-26?sort=upvotes"


def test_empty_day_says_so(client, loaded):
    response = client.get("/papers/date/2026-03-28")
    assert response.status_code == 200
    assert "No papers featured on Saturday, March 28, 2026" in _doc(response).text_content()


def test_week_and_month_views(client, loaded):
    week = _doc(client.get("/papers/week/2026-W13"))
    days = {a.get("href") for a in week.cssselect("a.day-link")}
    assert days == {"/papers/date/2026-03-26", "/papers/date/2026-03-27"}
    month = _doc(client.get("/papers/month/2026-03"))
    day = _doc(client.get("/papers/date/2026-03-30"))

    def total(doc):  # "38 papers · top 1–30": week and month show 30 a page
        return int(doc.cssselect("h2.count")[0].text_content().split()[0])

    assert total(month) == total(week) + total(day) == total(week) + len(day.cssselect("article.card"))


@pytest.mark.parametrize("url", ["/papers/date/2026-02-30", "/papers/week/2026-W99",
                                 "/papers/month/2026-00", "/papers?sort=sideways"])
def test_bad_periods_are_400_pages(client, url):
    response = client.get(url)
    assert response.status_code == 400
    assert "text/html" in response.headers["content-type"]
    message = lxml.html.fromstring(response.text).cssselect(".error-page p")[0].text_content()
    assert message[0].isupper(), message  # a sentence, not the API's lower-case message


@pytest.mark.parametrize("url", ["/papers/date/9999-12-31", "/papers/date/0001-01-01",
                                 "/papers/week/9999-W52", "/papers/week/0001-W01",
                                 "/papers/month/9999-12", "/papers/month/0001-01"])
def test_periods_beyond_the_years_served_are_400_pages(client, url):
    # Their neighbours (the previous and next links) overflowed datetime.date: these were 500s.
    response = client.get(url)
    assert response.status_code == 400
    assert "text/html" in response.headers["content-type"]
    assert "only years 1900 to 2199" in _doc(response).text_content()


def test_paper_ids_with_absurd_versions_are_404_pages(client):
    response = client.get("/papers/2401.12345v" + "9" * 5000)  # int() refuses > 4300 digits
    assert response.status_code == 404
    assert "text/html" in response.headers["content-type"]
    assert "not an arXiv identifier" in _doc(response).text_content()


def test_paper_page(client, engine, tmp_path):
    item = hf_item("2603.00030", title="Scaling $\\alpha$-divergences", githubRepo="https://github.com/acme/alpha",
                   githubStars=12, projectPage="https://acme.github.io/alpha")
    item["paper"]["summary"] = "We bound $\\sum_i x_i^2$ for agents costing $10 and $20 each."
    import_paths(engine, [write_json(tmp_path / "2026-03-02.json", [item])])
    doc = _doc(client.get("/papers/2603.00030"))
    title = doc.cssselect("h1.paper-title")[0]
    assert title.cssselect("span.math")[0].text == "\\alpha"
    abstract = doc.cssselect("section.abstract p")[0]
    assert [m.text for m in abstract.cssselect("span.math")] == ["\\sum_i x_i^2"]
    assert "$10 and $20" in abstract.text_content()
    assert doc.cssselect("a.code-link")[0].get("href") == "https://github.com/acme/alpha"
    assert doc.cssselect("a.project-link")[0].get("href") == "https://acme.github.io/alpha"
    assert doc.cssselect("p.featured a")[0].get("href") == "/papers/date/2026-03-02"
    # Signed out, the vote count says how to add one (and comes back here after signing in).
    assert doc.cssselect("a.vote-sign-in")[0].get("href") == "/login?next=/papers/2603.00030"
    # Versioned ids redirect to the canonical page; unknown papers are a 404 page.
    assert client.get("/papers/2603.00030v2", follow_redirects=False).headers["location"] == "/papers/2603.00030"
    assert client.get("/papers/2603.99999").status_code == 404


def test_user_text_is_escaped(client, engine, tmp_path):
    item = hf_item("2603.00031", title="<script>alert(1)</script> Title")
    import_paths(engine, [write_json(tmp_path / "2026-03-02.json", [item])])
    response = client.get("/papers/2603.00031")
    assert "<script>alert(1)</script>" not in response.text
    assert "&lt;script&gt;" in response.text


# --- HEAD, as uptime monitors and link checkers send it ----------------------------------------


@pytest.fixture
def one_paper(engine, tmp_path):
    import_paths(engine, [write_json(tmp_path / "2026-03-02.json", [hf_item("2603.00040", title="Head room")])])


@pytest.mark.parametrize("path", ["/papers", "/papers/2603.00040", "/search?q=x", "/search?q=room",
                                  "/papers/date/2026-03-02", "/papers/week/2026-W10",
                                  "/papers/month/2026-03", "/api/daily_papers"])
def test_head_answers_like_get_with_an_empty_body(client, one_paper, path):
    get, head = client.get(path), client.head(path)
    assert get.status_code == head.status_code == 200, path
    assert head.headers["content-type"] == get.headers["content-type"]
    assert head.headers["content-length"] == get.headers["content-length"] == str(len(get.content))
    assert head.content == b""


def _asgi(app, method, path, query=b""):
    """One request straight through the ASGI app: the messages it sends, no HTTP client between
    (httpx and uvicorn both drop a HEAD answer's body themselves)."""
    import asyncio

    sent = []
    done = asyncio.Event()
    requested = False

    async def receive():
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await done.wait()  # as a server does: the client goes once the answer is complete
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            done.set()

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
             "query_string": query, "headers": [(b"host", b"testserver")],
             "client": ("127.0.0.1", 1), "server": ("testserver", 80)}
    asyncio.run(app(scope, receive, send))
    return sent


@pytest.mark.parametrize("path", ["/papers", "/papers/2603.00040", "/api/daily_papers", "/nope",
                                  "/static/css/site.css"])
def test_the_app_itself_sends_no_body_for_head(client, one_paper, path):
    get, head = _asgi(client.app, "GET", path), _asgi(client.app, "HEAD", path)
    assert head[0]["type"] == "http.response.start"
    assert head[0]["status"] == get[0]["status"]
    assert dict(head[0]["headers"])[b"content-length"] == dict(get[0]["headers"])[b"content-length"]
    assert b"".join(m.get("body", b"") for m in get[1:])
    assert all(m["type"] == "http.response.body" and m.get("body", b"") == b"" for m in head[1:])
    assert not head[-1].get("more_body", False)


def test_head_on_an_unknown_page_is_404(client):
    get, head = client.get("/no/such/page"), client.head("/no/such/page")
    assert get.status_code == head.status_code == 404
    assert head.headers["content-type"] == get.headers["content-type"]
    assert head.content == b""
