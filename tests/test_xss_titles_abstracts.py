"""Titles, abstracts and imported submitter names are upstream text: every vector of
tests/xss_vectors.py, written straight into the tables (as a row stored before any import check
would be), comes back as the exact text and nothing more (no element, attribute or script of its
own) on the day, week and month lists, the submitter's filter, each paper's page, its Markdown
twin and search; and in Debian's chromium no dialog fires on those pages (SQLite and
PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

import lxml.html
import pytest
import sqlalchemy as sa

from dailypapers.db.engine import write_transaction
from dailypapers.db.schema import feature_days, papers
from dailypapers.index.worker import IndexWorker
from dailypapers.web.app import create_app
from tests.conftest import LiveServer, sqlite_only
from tests.helpers import search_service
from tests.test_collections_hostile import _inert
from tests.xss_vectors import XSS_VECTORS

DAY = dt.date(2026, 3, 2)
LISTS = ("/papers/date/2026-03-02", "/papers/date/2026-03-02?sort=upvotes",
         "/papers/week/2026-W10", "/papers/month/2026-03")


def pid(n: int) -> str:
    return f"2603.{10000 + n:05d}"


def title(n: int) -> str:
    return f"Paper {n}: {XSS_VECTORS[n]}"


def abstract(n: int) -> str:
    return f"Abstract {n} quokka: {XSS_VECTORS[n]}"


def shown(text: str) -> str:
    """Titles and abstracts go through the TeX reader (web/textex.py): grouping braces, as in
    arXiv's ``{BERT}``, are not shown. Nothing else of a vector may change."""
    return text.replace("{", "").replace("}", "")


def store_hostile(engine: sa.Engine) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    rows, features = [], []
    for n, vector in enumerate(XSS_VECTORS):
        rows.append({
            "id": pid(n), "version": 1, "title": title(n), "abstract": abstract(n),
            "authors": [{"name": f"Author {vector}"}], "categories": ["cs.LG"],
            "primary_category": "cs.LG", "submitted_at": "2026-03-02", "ai_summary": vector,
            "ai_keywords": [vector], "upvotes": n, "num_comments": 0, "bib_source": "hf",
            "sources": "hf", "is_demo": False, "first_seen_at": now, "row_updated_at": now,
        })
        features.append({
            "paper_id": pid(n), "day": DAY, "source": "hf", "upvotes": n, "num_comments": 0,
            "published_at": "2026-03-02T09:00:00.000Z", "submitter_name": vector,
            "submitter": {"username": vector, "fullname": vector},
            "is_author_participating": False, "is_demo": False, "first_seen_at": now,
            "row_updated_at": now,
        })
    with write_transaction(engine) as conn:
        conn.execute(papers.insert(), rows)
        conn.execute(feature_days.insert(), features)


@pytest.fixture
def hostile_site(settings, engine):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    assert len(XSS_VECTORS) >= 30
    store_hostile(engine)
    app = create_app(settings, engine, search=search_service(engine, settings))
    IndexWorker(app.state.search).run_once()  # so search pages show them
    with TestClient(app) as client:
        yield client


def _baseline(client: Any) -> list[str | None]:
    return [s.get("src") for s in lxml.html.fromstring(client.get("/about/trending").text)
            .iter("script")]


def test_xss_vectors_as_titles_abstracts_and_submitters_come_back_inert(hostile_site) -> None:
    client = hostile_site
    baseline = _baseline(client)
    everything = sorted(shown(title(n)) for n in range(len(XSS_VECTORS)))
    for path in LISTS:
        answer = client.get(path)
        assert answer.status_code == 200, path
        doc = _inert(answer.text, baseline)
        titles = sorted(a.text_content() for a in doc.xpath("//h3[@class='card-title']/a"))
        submitters = [a.text_content() for a in doc.xpath("//a[@class='submitter-link']")]
        if "/date/" in path:  # the day lists every paper; week and month show their top ones
            assert titles == everything, path
            assert sorted(submitters) == sorted(v.strip() for v in XSS_VECTORS), path
        else:
            assert len(titles) >= 10 and set(titles) <= set(everything), path
            assert set(submitters) <= {v.strip() for v in XSS_VECTORS}, path
    for n, vector in enumerate(XSS_VECTORS):
        answer = client.get(f"/papers/{pid(n)}")
        assert answer.status_code == 200
        doc = _inert(answer.text, baseline)
        assert doc.xpath("string(//h1[@class='paper-title'])") == shown(title(n))
        assert doc.xpath("string(//section[@class='abstract']/p)") == shown(abstract(n))
        assert doc.xpath("string(//title)").startswith(title(n))  # <title> is plain text
        assert doc.xpath("string(//a[@class='submitter-link'])") == vector.strip()
        assert doc.xpath("string(//section[@class='ai']/p)") == vector
        # Its Markdown twin is text, never a page a browser would run.
        twin = client.get(f"/papers/{pid(n)}.md")
        assert twin.status_code == 200 and not twin.headers["content-type"].startswith("text/html")
        # The submitter's own filter, with the vector in the query string.
        by = client.get(f"/papers/month/2026-03?submitter={quote(vector, safe='')}")
        assert by.status_code == 200, vector
        listed = _inert(by.text, baseline)
        assert [a.text_content() for a in listed.xpath("//h3[@class='card-title']/a")] \
            == [shown(title(n))], vector
    found = client.get("/search?q=quokka")
    assert found.status_code == 200
    doc = _inert(found.text, baseline)
    titles = [a.text_content() for a in doc.xpath("//h3[@class='card-title']/a")]
    assert len(titles) >= 10 and set(titles) <= set(everything)  # one page of hits


@pytest.mark.browser
@sqlite_only  # PostgreSQL: the rows read back exactly in the test above
def test_no_dialog_fires_on_hostile_titles_and_abstracts(settings, engine, browser) -> None:  # noqa: F811
    store_hostile(engine)
    with LiveServer(create_app(settings, engine)) as server:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        from tests.helpers import watch_page

        dialogs, outside = watch_page(page, server.url)
        paths = [*LISTS, *(f"/papers/{pid(n)}" for n in range(len(XSS_VECTORS)))]
        for path in paths:
            page.goto(server.url + path)
            page.wait_for_load_state("load")
            assert page.locator("h1").count() >= 1, path
        # Hover and focus everything a vector could have put a handler on.
        page.goto(server.url + LISTS[0])
        for link in page.locator("a.submitter-link, h3.card-title a").all()[:80]:
            link.hover()
            link.focus()
        context.close()
        assert dialogs == [], dialogs
        assert outside == [], outside
