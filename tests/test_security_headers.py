"""Security headers on every kind of answer, and a forged Host header that never comes back.

The expected values are written out here, not imported from web/security.py, so a weakened
policy fails these tests."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import httpx
import pydantic
import pytest
from fastapi.testclient import TestClient

from dailypapers.ingest.files import import_paths
from dailypapers.index.worker import IndexWorker
from dailypapers.settings import Settings
from dailypapers.web.app import create_app
from tests.conftest import LiveServer
from tests.helpers import hf_item, search_service, write_json

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")
ALWAYS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "strict-origin-when-cross-origin",
    "cross-origin-opener-policy": "same-origin",
}
STATIC = Path(__file__).resolve().parents[1] / "dailypapers" / "web" / "static"
BASE = "https://papers.example.org"
EVIL = "evil.example"


def site_css_url() -> str:
    digest = hashlib.sha256((STATIC / "css" / "site.css").read_bytes()).hexdigest()[:12]
    return f"/static/css/site.css?v={digest}"


@pytest.fixture
def papers(engine, tmp_path):
    """Five papers featured on one day, each with "widget" in its title: enough for a second
    page at limit=2 on both APIs."""
    items = [hf_item(f"2603.0000{n}", title=f"Widget study number {n}", upvotes=n,
                     day="2026-03-02") for n in range(1, 6)]
    import_paths(engine, [write_json(tmp_path / "2026-03-02.json", items)])
    return [item["paper"]["id"] for item in items]


@pytest.fixture
def app(papers, settings, engine):
    settings = settings.model_copy(update={"base_url": BASE})
    app = create_app(settings, engine, search=search_service(engine, settings))
    IndexWorker(app.state.search).run_once()

    @app.get("/boom", include_in_schema=False)
    def boom() -> None:
        raise RuntimeError("a bug")

    return app


@pytest.fixture
def web(app):
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


# (method, path, status, Cache-Control): anonymous answers may be kept by a shared cache that
# revalidates them (web/cache.py); errors never.
CASES = [
    ("GET", "/papers", 200, "public, no-cache"),
    ("GET", "/papers/2603.00001", 200, "public, no-cache"),
    ("GET", "/api/daily_papers?limit=2", 200, "public, no-cache"),
    ("GET", "/api/v1/search?q=widget&mode=keyword&limit=2", 200, "public, no-cache"),
    ("GET", "/api/openapi.json", 200, "public, no-cache"),
    ("GET", "/api/docs", 200, "public, no-cache"),
    ("GET", "/papers/2401.99999", 404, "no-store"),
    ("GET", "/api/papers/2401.99999", 404, "no-store"),
    ("GET", "/api/daily_papers?limit=0", 400, "no-store"),
    ("GET", "/papers/date/not-a-day", 400, "no-store"),
    ("POST", "/papers", 405, "no-store"),
    ("POST", "/api/daily_papers", 405, "no-store"),
    ("GET", "/boom", 500, "no-store"),
    ("GET", "/", 307, "no-cache"),
    ("GET", "/papers/2603.00001v1", 308, "no-cache"),
    ("GET", "/static/css/site.css", 200, "public, max-age=3600"),
    ("GET", "/static/vendor/katex/fonts/KaTeX_Main-Regular.woff2", 200, "public, max-age=3600"),
    ("GET", site_css_url(), 200, "public, max-age=31536000, immutable"),
    ("GET", "/static/nothing-here.css?v=1", 404, "no-store"),
    ("HEAD", "/papers", 200, "public, no-cache"),
    ("HEAD", "/api/daily_papers", 200, "public, no-cache"),
    ("HEAD", "/static/js/math.js", 200, "public, max-age=3600"),
]


def test_every_answer_carries_the_security_headers(web):
    for method, path, status, cache in CASES:  # one app for all: building it is the slow part
        response = web.request(method, path, follow_redirects=False)
        assert response.status_code == status, (method, path)
        for name, value in ALWAYS.items():
            assert response.headers.get_list(name) == [value], (method, path, name)
        assert response.headers.get_list("cache-control") == [cache], (method, path)
        if method == "HEAD":
            assert response.content == b"", path


def test_pages_link_versioned_assets_named_by_their_content(web):
    html = web.get("/papers").text
    assert f'href="{site_css_url()}"' in html
    for asset in re.findall(r'(?:href|src)="(/static/[^"]+)"', html):
        assert re.search(r"\?v=[0-9a-f]{12}$", asset), asset
        assert web.get(asset).headers["cache-control"] == "public, max-age=31536000, immutable"


def test_api_docs_is_served_from_our_origin_without_inline_script(web):
    html = web.get("/api/docs").text
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)  # every script is a file
    assert not re.search(r"\son[a-z]+\s*=", html)  # no event handler attribute
    scripts = re.findall(r'<script[^>]*\bsrc="([^"]+)"', html)
    assert "/static/js/api-docs.js" in [s.split("?")[0] for s in scripts]
    # Swagger UI is loaded by api-docs.js when the reader opens the explorer, from these.
    on_demand = re.findall(r'data-(?:script|style|overrides)="([^"]+)"', html)
    assert [s.split("?")[0] for s in on_demand] == [
        "/static/vendor/swagger-ui/swagger-ui-bundle.js", "/static/vendor/swagger-ui/swagger-ui.css",
        "/static/css/api-docs.css"]
    assert not re.search(r'(?:href|src)="(?:https?:)?//', html)
    for script in scripts + on_demand:
        assert web.get(script).status_code == 200


def _urls_to_try(papers: list[str]) -> list[tuple[str, str]]:
    return [
        ("GET", "/papers"), ("GET", "/papers/date/2026-03-02"), ("GET", "/papers/week/2026-W10"),
        ("GET", f"/papers/{papers[0]}"), ("GET", f"/papers/{papers[0]}v2"), ("GET", "/"),
        ("GET", "/search?q=widget&mode=keyword"), ("GET", "/papers/2401.99999"),
        ("GET", "/papers/date/nope"), ("POST", "/papers"), ("GET", "/boom"),
        ("GET", "/api/daily_papers?limit=2"), ("GET", "/api/daily_papers?date=2026-03-02&limit=2"),
        ("GET", "/api/daily_papers/"), ("GET", "/api/v1/search?q=widget&mode=keyword&limit=2"),
        ("GET", "/api/papers/search?q=widget&mode=keyword"), ("GET", f"/api/papers/{papers[0]}"),
        ("GET", "/api/papers/2401.99999"), ("GET", "/api/daily_papers?limit=0"),
        ("GET", "/api/papers?limit=1"), ("GET", "/api/openapi.json"), ("GET", "/api/docs"), ("HEAD", "/papers"),
        ("GET", "/static/css/site.css"), ("GET", "/static/nope.css"),
    ]


def test_a_forged_host_appears_nowhere_in_any_answer(app, papers):
    """Over real HTTP: every kind of answer, with Host and the X-Forwarded-* headers forged."""
    forged = {"Host": EVIL, "X-Forwarded-Host": EVIL, "X-Forwarded-Server": EVIL,
              "Forwarded": f"host={EVIL};proto=https"}
    seen_link = seen_next = False
    with LiveServer(app) as server:
        for method, path in _urls_to_try(papers):
            # A connection of its own each: uvicorn closes one after a 500.
            response = httpx.request(method, server.url + path, headers=forged)
            assert response.status_code < 500 or path == "/boom"
            assert EVIL not in response.text, path
            for name, value in response.headers.multi_items():
                assert EVIL not in value, (path, name, value)
            if path.startswith("/api/papers?"):  # every paper, keyset-paged
                assert response.headers["link"].startswith(f"<{BASE}/api/papers?limit=1&cursor=")
            elif "link" in response.headers:
                seen_link = True
                assert response.headers["link"] == (
                    f'<{BASE}/api/daily_papers?{path.split("?")[1]}&p=1>; rel="next"')
            if path.startswith("/api/v1/search"):
                seen_next = True
                assert response.json()["next"] == (
                    f"{BASE}/api/v1/search?q=widget&mode=keyword&limit=2&offset=2")
            if path == "/papers/date/2026-03-02":
                assert f'<link rel="canonical" href="{BASE}/papers/date/2026-03-02">' in response.text
            if path == f"/papers/{papers[0]}":
                assert f'<link rel="canonical" href="{BASE}/papers/{papers[0]}">' in response.text
        slash = httpx.get(server.url + "/api/daily_papers/", headers=forged)
        assert slash.status_code == 307 and slash.headers["location"] == "/api/daily_papers"
    assert seen_link and seen_next


def test_the_next_page_links_lead_to_the_rest_of_the_papers(web, papers):
    """Following Link and next (on this host, whatever the base URL says) visits every paper once."""
    seen: list[str] = []
    url: str | None = "/api/daily_papers?date=2026-03-02&limit=2"
    while url:
        response = web.get(url.removeprefix(BASE))
        seen += [item["paper"]["id"] for item in response.json()]
        link = response.headers.get("link")
        url = link[1:link.index(">")] if link else None
    assert sorted(seen) == sorted(papers)
    found: list[str] = []
    url = "/api/v1/search?q=widget&mode=keyword&limit=2"
    while url:
        body = web.get(url.removeprefix(BASE)).json()
        found += [hit["paper"]["id"] for hit in body["data"]]
        url = body["next"]
    assert sorted(found) == sorted(papers)


def test_allowed_hosts_refuse_other_hosts_with_a_400(papers, settings, engine):
    settings = settings.model_copy(update={
        "base_url": BASE, "allowed_hosts": ["papers.example.org", "*.example.net", "127.0.0.1"]})
    with TestClient(create_app(settings, engine)) as client:
        for host in ("papers.example.org", "PAPERS.example.org:8443", "a.example.net",
                     "b.a.example.net:80", "127.0.0.1:8000"):
            assert client.get("/papers", headers={"Host": host}).status_code == 200, host
        for host in (EVIL, "example.net", "papers.example.org.evil.example", "127.0.0.2"):
            for path in ("/papers", "/api/daily_papers", "/static/css/site.css"):
                response = client.get(path, headers={"Host": host})
                assert response.status_code == 400, (host, path)
                assert host.split(":")[0] not in response.text
                assert response.headers["content-security-policy"] == CSP
                assert response.headers["cache-control"] == "no-store"
        refused = client.get("/api/daily_papers", headers={"Host": EVIL})
        assert refused.json() == {"error": "Host header not allowed"}
        assert client.head("/papers", headers={"Host": EVIL}).content == b""


def test_any_host_is_answered_by_default(papers, settings, engine):
    assert Settings.model_fields["allowed_hosts"].get_default(call_default_factory=True) == ["*"]
    with TestClient(create_app(settings, engine)) as client:
        assert client.get("/papers", headers={"Host": EVIL}).status_code == 200


def test_the_base_url_must_be_an_absolute_http_url(monkeypatch):
    monkeypatch.setenv("DAILYPAPERS_BASE_URL", "https://papers.example.org/")
    assert Settings().base_url == "https://papers.example.org"
    for bad in ("papers.example.org", "ftp://papers.example.org", "https://", "https://a.org/?x=1",
                "javascript:alert(1)"):
        monkeypatch.setenv("DAILYPAPERS_BASE_URL", bad)
        with pytest.raises(pydantic.ValidationError, match="DAILYPAPERS_BASE_URL must be"):
            Settings()


def test_unset_the_base_url_is_the_address_the_server_listens_on(papers, settings, engine):
    """Not the Host header: the socket's own address (serve --port 9000 links to 9000)."""
    assert "base_url" not in settings.model_fields_set
    with LiveServer(create_app(settings, engine)) as server:
        response = httpx.get(f"{server.url}/api/daily_papers?limit=2",
                             headers={"Host": EVIL, "X-Forwarded-Proto": "https"})
        assert response.headers["link"] == (
            f'<http://127.0.0.1:{server.port}/api/daily_papers?limit=2&p=1>; rel="next"')
        page = httpx.get(f"{server.url}/papers/date/2026-03-02", headers={"Host": EVIL}).text
        assert (f'<link rel="canonical" href="http://127.0.0.1:{server.port}/papers/date/2026-03-02">'
                in page)


def test_a_location_made_relative_never_leads_to_another_host():
    """A redirect Starlette built on the Host header becomes a path on this site, with one
    leading slash: "//evil.example/x" would be a protocol-relative link to another host."""
    from dailypapers.web.security import _same_host_relative

    scope = {"headers": [(b"host", b"papers.example.org")]}
    assert _same_host_relative("http://papers.example.org/api/daily_papers?p=1", scope) == (
        "/api/daily_papers?p=1")
    assert _same_host_relative("http://papers.example.org//evil.example/x", scope) == (
        "/evil.example/x")
    assert _same_host_relative("https://elsewhere.org/x", scope) == "https://elsewhere.org/x"
    assert _same_host_relative("/papers", scope) == "/papers"
