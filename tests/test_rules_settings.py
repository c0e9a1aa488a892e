"""Settings that change behaviour, each set through its DAILYPAPERS_* variable and checked by
what it changes (the search weights and fusion are in tests/test_rules_search.py):
SITE_NAME, EMBED_IN_BACKGROUND, SYNC_REFRESH_DAYS and SYNC_BACKFILL_DAYS. SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import lxml.html
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from dailypapers.db.engine import read_transaction
from dailypapers.db.schema import paper_embeddings
from dailypapers.index.embedder import get_embedder
from dailypapers.index.search import SearchService
from dailypapers.index.worker import IndexWorker
from dailypapers.settings import Settings
from tests.fake_upstream import FakeUpstream
from tests.helpers import MemoEmbedder
from tests.rules_corpus import ALL_IDS, load_corpus
from tests.test_sync import ATOM_A, ATOM_C, FEATURED, WINDOW, point_at, sync


def env_settings(monkeypatch: pytest.MonkeyPatch, db_url: str, data_dir: Path,
                 **env: str) -> Settings:
    for name, value in env.items():
        monkeypatch.setenv(f"DAILYPAPERS_{name.upper()}", value)
    return Settings(database_url=db_url, data_dir=data_dir)


# --- SITE_NAME -------------------------------------------------------------------------------


def test_site_name_is_shown_in_header_and_title(engine, db_url, tmp_path, monkeypatch) -> None:
    """Fails if DAILYPAPERS_SITE_NAME does not reach the header, every page's <title> and the
    API document's title, or is not HTML-escaped."""
    from dailypapers.web.app import create_app

    name = "Quokka <Papers> & Co"
    settings = env_settings(monkeypatch, db_url, tmp_path, site_name=name)
    load_corpus(engine)
    with TestClient(create_app(settings, engine)) as client:
        for path in ("/papers", "/papers/week/2026-W10", "/papers/2106.00003",
                     "/search?q=zebrafish&mode=keyword", "/papers/9999.99999"):
            response = client.get(path)
            assert response.status_code in (200, 404), path
            doc = lxml.html.fromstring(response.text)
            assert doc.cssselect("a.brand")[0].text_content().strip().endswith(name), path
            assert doc.findtext(".//title").endswith(f"· {name}"), path
            assert "Quokka &lt;Papers&gt; &amp; Co" in response.text, path
            assert "Daily Papers</a>" not in response.text, path
        assert client.get("/api/openapi.json").json()["info"]["title"] == name


def test_site_name_default(client) -> None:
    """Fails if the documented default ("Daily Papers") changes."""
    doc = lxml.html.fromstring(client.get("/papers").text)
    assert doc.cssselect("a.brand")[0].text_content().strip().endswith("Daily Papers")


# --- EMBED_IN_BACKGROUND ---------------------------------------------------------------------


def _embedded(engine: sa.Engine) -> int:
    with read_transaction(engine) as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(paper_embeddings)).scalar()


@pytest.mark.parametrize(("value", "embeds"), [("false", False), ("true", True)])
def test_embed_in_background_decides_whether_serve_embeds(engine, db_url, tmp_path, monkeypatch,
                                                          value, embeds) -> None:
    """Fails if DAILYPAPERS_EMBED_IN_BACKGROUND=false still lets the serving process embed (or
    true stops it). Either way the keyword index catches up: new papers stay findable."""
    from dailypapers.web.app import create_app

    settings = env_settings(monkeypatch, db_url, tmp_path, embed_in_background=value)
    service = SearchService.from_settings(engine, settings)
    service._embedder = MemoEmbedder(get_embedder(settings.embedder))
    load_corpus(engine)
    app = create_app(settings, engine, search=service, index_worker=True)  # as `serve` does
    worker = next(job for job in app.state.jobs if isinstance(job, IndexWorker))
    worker.run_once()  # one cycle of the serving process's index thread, here in the test
    assert _embedded(engine) == (len(ALL_IDS) if embeds else 0)
    assert [h.paper_id for h in service.search("automobile", mode="keyword").hits] == ["2107.00007"]


# --- SYNC_REFRESH_DAYS -----------------------------------------------------------------------


@pytest.fixture
def fake():
    from tests.conftest import shared

    with FakeUpstream(shared("hf-daily").parent, atom_files=[ATOM_A, ATOM_C], oai_pages=2) as up:
        yield up


@pytest.mark.parametrize(("days", "refreshed"), [("0", []), ("1", FEATURED[:1]),
                                                 ("2", FEATURED[:2]), ("7", FEATURED)])
def test_sync_refresh_days_sets_how_many_feature_days_are_fetched_again(
        engine, db_url, tmp_path, monkeypatch, fake, days, refreshed) -> None:
    """Fails if DAILYPAPERS_SYNC_REFRESH_DAYS is not read, or refreshes one day too many or too
    few: after a first sync stored four feature days (2026-03-26, 27, 30, 31), the next sync
    fetches today and then the latest ``days`` of them, newest first."""
    first = point_at(Settings(database_url=db_url, data_dir=tmp_path), fake)
    assert sync(first, engine, sources=["hf"]).ok
    fake.clear()
    settings = point_at(env_settings(monkeypatch, db_url, tmp_path, sync_refresh_days=days), fake)
    assert settings.sync_refresh_days == int(days)
    assert sync(settings, engine, sources=["hf"]).ok
    assert fake.hf_dates() == ["2026-04-01", *refreshed]


@pytest.mark.parametrize(("days", "fetched"), [("0", 1), ("1", 1), ("3", 3)])
def test_sync_backfill_days_sets_the_first_sync_window(engine, db_url, tmp_path, monkeypatch,
                                                       fake, days, fetched) -> None:
    """Fails if DAILYPAPERS_SYNC_BACKFILL_DAYS is not read or the window is off by one: the
    first sync fetches today and the ``days - 1`` days before it (at least today)."""
    settings = point_at(env_settings(monkeypatch, db_url, tmp_path, sync_backfill_days=days), fake)
    assert sync(settings, engine, sources=["hf"]).ok
    assert fake.hf_dates() == [d.isoformat() for d in WINDOW[:fetched]]
