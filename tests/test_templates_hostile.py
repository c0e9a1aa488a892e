"""No upstream value becomes a script: every page type and the JSON API, with hostile values in
every URL field, on SQLite and PostgreSQL.

The rows are written straight into the tables, bypassing the importer's check, as rows stored
before that check existed would be: only the render-time check (the ``link_url`` filter,
``hf_shapes``) stands between them and a reader. Pages are read with an HTML parser.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import lxml.html
import pytest
import sqlalchemy as sa

from dailypapers.db.engine import write_transaction
from dailypapers.db.schema import feature_days, papers
from dailypapers.index.worker import IndexWorker
from tests.helpers import search_service

TEMPLATES = Path(__file__).resolve().parents[1] / "dailypapers" / "web" / "templates"
SCRIPT = "<script>alert(1)</script>"
HOSTILE = [
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "  javascript:alert(1)",
    "java\tscript:alert(1)",
    "\x01javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "//evil.example/x",
    "https:\\\\evil.example",
    "https://user:pw@ok.example/",
    '" onmouseover="alert(1)',
    "https:",
]
GOOD = "g001.00001"
DAY = dt.date(2026, 3, 2)
URL_ATTRIBUTES = ("href", "src", "action", "formaction", "poster", "srcset", "data", "background",
                  "cite", "xlink:href")


def paper_id(n: int) -> str:
    return f"2603.{n:05d}"


def paper_row(pid: str, *, title: str, repo: Any, page: Any, media: Any, now: dt.datetime,
              avatar: Any) -> dict[str, Any]:
    return {
        "id": pid, "version": 1, "title": title,
        "abstract": f"Hostile abstract {SCRIPT} <img src=x onerror=alert(1)> "
                    "$\\href{javascript:alert(1)}{x}$",
        "authors": [{"name": f"Author {SCRIPT}", "affiliation": SCRIPT,
                     "user": {"username": "u", "avatar_url": avatar}}],
        "categories": ["cs.LG"], "primary_category": "cs.LG", "submitted_at": "2026-03-02",
        "comments": SCRIPT, "journal_ref": SCRIPT, "doi": '10.1/x" onclick="alert(1)',
        "license": SCRIPT, "github_repo": repo, "github_stars": 5, "project_page": page,
        "ai_summary": SCRIPT, "ai_keywords": [SCRIPT], "upvotes": 7, "num_comments": 1,
        "thumbnail": repo, "media_urls": media,
        "organization": {"name": SCRIPT, "avatar_url": avatar},
        "bib_source": "hf", "sources": "hf", "is_demo": False,
        "first_seen_at": now, "row_updated_at": now,
    }


@pytest.fixture
def hostile_rows(engine: sa.Engine) -> list[str]:
    """One paper per hostile value (in every URL field) and one with good links."""
    now = dt.datetime.now(dt.timezone.utc)
    rows = [
        paper_row(paper_id(n), title=f"Hostile {n} {SCRIPT}", repo=bad,
                  page=HOSTILE[(n + 1) % len(HOSTILE)], media=[bad, "https://ok.example/media"],
                  avatar=bad, now=now)
        for n, bad in enumerate(HOSTILE)
    ]
    rows.append(paper_row(paper_id(99), title="Hostile neighbour with good links",
                          repo="https://ok.example/code", page="HTTPS://OK.Example/Project",
                          media=["https://ok.example/media"], avatar="/avatars/ok.svg", now=now))
    features = [
        {"paper_id": row["id"], "day": DAY, "source": "hf", "upvotes": 7, "num_comments": 1,
         "published_at": "2026-03-02T09:00:00.000Z", "submitted_on_daily_at": None,
         "submitter_name": "s", "is_author_participating": False, "is_demo": False,
         "submitter": {"username": "s", "fullname": SCRIPT, "avatar_url": row["github_repo"]},
         "organization": {"name": SCRIPT, "avatar_url": row["github_repo"]},
         "first_seen_at": now, "row_updated_at": now}
        for row in rows
    ]
    with write_transaction(engine) as conn:
        conn.execute(papers.insert(), rows)
        conn.execute(feature_days.insert(), features)
    return [row["id"] for row in rows]


@pytest.fixture
def site(settings, engine, hostile_rows):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from dailypapers.web.app import create_app

    app = create_app(settings, engine, search=search_service(engine, settings))
    IndexWorker(app.state.search).run_once()  # so search pages and similar papers show them
    with TestClient(app) as client:
        yield client


def unsafe_links(html: str) -> list[str]:
    """Every URL-bearing attribute that is neither http(s) with a host nor a same-site path,
    every event-handler attribute, every script that is not our own file."""
    doc = lxml.html.fromstring(html)
    found = []
    for el in doc.iter():
        if not isinstance(el.tag, str):
            continue
        for name, value in el.attrib.items():
            if name.lower().startswith("on"):
                found.append(f"<{el.tag} {name}>")
            if name.lower() in URL_ATTRIBUTES and not is_safe_link(value):
                found.append(f"<{el.tag} {name}={value!r}>")
        if el.tag == "script" and (not (el.get("src") or "").startswith("/static/")
                                   or (el.text or "").strip()):
            found.append(f"<script {el.attrib}>{el.text!r}")
    return found


def is_safe_link(value: str) -> bool:
    # Browsers strip leading and trailing controls and spaces and drop tabs and newlines first.
    text = re.sub(r"[\t\n\r]", "", value.strip("".join(map(chr, range(0x21)))))
    if "\\" in text:
        return False
    if text.startswith(("?", "#")) or (text.startswith("/") and not text.startswith("//")):
        return True
    parts = urlsplit(text)
    return parts.scheme in ("http", "https") and bool(parts.hostname) and "@" not in parts.netloc


def page_urls(ids: list[str]) -> Iterator[tuple[str, int]]:
    yield "/papers", 200
    yield "/papers/date/2026-03-02", 200
    yield "/papers/date/2026-03-02?sort=upvotes", 200
    yield "/papers/week/2026-W10", 200
    yield "/papers/month/2026-03", 200
    for pid in ids:
        yield f"/papers/{pid}", 200
    yield "/search?q=hostile", 200
    yield "/search?q=hostile&has_code=true&sort=newest", 200
    yield "/search?q=zzzznothing", 200
    yield "/papers/2099.99999", 404  # error.html
    yield "/papers/date/not-a-day", 400  # error.html


def test_no_page_links_to_an_unchecked_url(site, hostile_rows):  # type: ignore[no-untyped-def]
    checked = 0
    for url, status in page_urls(hostile_rows):
        response = site.get(url)
        assert response.status_code == status, url
        assert unsafe_links(response.text) == [], url
        checked += 1
    assert checked == len(hostile_rows) + 10


def test_hostile_text_shows_as_text_and_good_links_survive(site, hostile_rows):  # type: ignore[no-untyped-def]
    day = lxml.html.fromstring(site.get("/papers/date/2026-03-02").text)
    cards = day.cssselect("article.card")
    assert len(cards) == len(hostile_rows)
    assert SCRIPT in cards[0].cssselect(".card-title")[0].text_content()
    code = [a.get("href") for a in day.cssselect("a.code-link")]
    project = [a.get("href") for a in day.cssselect("a.project-link")]
    assert (code, project) == (["https://ok.example/code"], ["https://ok.example/Project"])

    good = lxml.html.fromstring(site.get(f"/papers/{paper_id(99)}").text)
    assert [a.get("href") for a in good.cssselect("a.code-link")] == ["https://ok.example/code"]
    assert good.cssselect("a.code-link")[0].text_content().startswith("Code: code")
    bad = lxml.html.fromstring(site.get(f"/papers/{paper_id(0)}").text)
    assert not bad.cssselect("a.code-link, a.project-link")
    assert SCRIPT in bad.cssselect("h1.paper-title")[0].text_content()

    found = lxml.html.fromstring(site.get("/search?q=hostile").text)
    assert len(found.cssselect("article.search-result")) == len(hostile_rows)
    assert [a.get("href") for a in found.cssselect("a.code-link")] == ["https://ok.example/code"]


URL_KEYS = {"githubRepo", "projectPage", "thumbnail", "mediaUrls", "avatarUrl", "avatar"}
DANGEROUS = re.compile(r"^(javascript|data|vbscript):")


def json_urls(value: Any, key: str | None = None) -> Iterator[tuple[str, Any]]:
    """(key, value) of every URL-keyed value, and ("*", s) for every other string."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from json_urls(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from json_urls(v, key)
    elif key in URL_KEYS:
        yield key, value
    elif isinstance(value, str):
        yield "*", value


def assert_json_safe(body: Any) -> list[tuple[str, Any]]:
    seen = list(json_urls(body))
    for key, value in seen:
        if key == "*":
            squeezed = re.sub(r"[\x00-\x20]", "", value).lower()
            assert not DANGEROUS.match(squeezed), value
        elif value is not None:
            assert isinstance(value, str) and is_safe_link(value), (key, value)
            if not key.startswith("avatar"):
                assert value.startswith(("https://", "http://")), (key, value)
    return seen


def test_the_json_api_never_hands_out_a_hostile_url(site, hostile_rows):  # type: ignore[no-untyped-def]
    answers = [
        site.get("/api/daily_papers", params={"date": "2026-03-02", "limit": 100}),
        site.get("/api/v1/search", params={"q": "hostile", "limit": 50}),
        site.get("/api/papers/search", params={"q": "hostile", "limit": 50}),
        *(site.get(f"/api/papers/{pid}") for pid in hostile_rows),
    ]
    seen: list[tuple[str, Any]] = []
    for response in answers:
        assert response.status_code == 200, response.url
        seen += assert_json_safe(response.json())
    urls = {(k, v) for k, v in seen if k != "*" and v is not None}
    assert ("githubRepo", "https://ok.example/code") in urls
    assert ("projectPage", "https://ok.example/Project") in urls
    assert ("mediaUrls", "https://ok.example/media") in urls
    assert ("avatarUrl", "/avatars/ok.svg") in urls
    assert ("avatar", "/avatars/ok.svg") in urls
    # The hostile papers are there, only their links are not.
    daily = answers[0].json()
    assert len(daily) == len(hostile_rows)
    by_id = {item["paper"]["id"]: item for item in daily}
    assert "githubRepo" not in by_id[paper_id(0)]["paper"]
    assert by_id[paper_id(0)]["thumbnail"] is None
    assert by_id[paper_id(0)]["mediaUrls"] == ["https://ok.example/media"]


# --- the templates themselves ---------------------------------------------------------------

# Values our own code builds (routes), never an upstream string.
SITE_BUILT = {"prev_link", "next_link", "canonical", "version", "openapi_url",
              "base_url }}{{ canonical", "unfiltered_link",
              "feed.href",  # web/feeds.links: /feeds/… paths, a search's query urlencoded
              # web/routes_subscribe.link: a path and a signed token of ours
              "manage_url", "sub.manage_url", "unsubscribe_path"}
# Functions and maps of links the routes build from our own paths (sort, page, view tabs).
# Filters that always answer a /search?q=… path, the value percent-encoded (web/filters.py).
SITE_SEARCHES = ("author_search", "phrase_search", "search_url")
SITE_BUILT_CALLS = ("page_url(", "static_url(", "page_link(", "sort_link(", "views[")
SAME_SITE_PREFIXES = ("/", "?", "https://arxiv.org/abs/", "https://arxiv.org/pdf/",
                      "https://doi.org/")
ATTRIBUTE = re.compile(r"""\b(href|src|action|formaction|poster|srcset)\s*=\s*"([^"]*)\"""")
CHECKED_NAME = re.compile(r"{%-?\s*(?:with|set)\s+(\w+)\s*=\s*[^%]*\|\s*link_url\s*-?%}")


def test_every_template_link_is_checked_or_ours() -> None:
    """A new template line writing an upstream value into href/src fails here."""
    templates = sorted(TEMPLATES.glob("*.html"))
    assert {t.name for t in templates} >= {"_card.html", "base.html", "error.html",
                                           "listing.html", "paper.html", "search.html"}
    dynamic = 0
    for template in templates:
        text = template.read_text()
        checked = set(CHECKED_NAME.findall(text))
        for attribute, value in ATTRIBUTE.findall(text):
            if "{{" not in value:
                continue
            dynamic += 1
            if value.startswith(SAME_SITE_PREFIXES):
                continue
            expression = re.fullmatch(r"{{\s*(.+?)\s*}}", value)
            assert expression, f"{template.name}: {attribute}={value!r}"
            expr = expression.group(1)
            ok = (expr in checked or expr in SITE_BUILT
                  or expr.startswith(SITE_BUILT_CALLS)
                  or re.search(r"\|\s*(link_url|{})\s*$".format("|".join(SITE_SEARCHES)), expr))
            assert ok, f"{template.name}: {attribute}={value!r} is not checked with |link_url"
    assert dynamic >= 10
