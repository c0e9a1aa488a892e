"""Writes no anonymous answer shows move no data version (db/data_version.py), so they leave every
process's cached anonymous answers (web/cache.py); writes that change a public answer still end
them. Each step is checked both ways: the cache's X-Cache on an anonymous page, and the data
version itself, which every counted write moves by exactly one."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from dailypapers.community.accounts import create_user
from dailypapers.community.sessions import API_TOKEN_PREFIX, hash_token
from dailypapers.community.submissions import ArxivUnavailable, submit_paper
from dailypapers.db import data_version
from dailypapers.db.engine import db_now, read_transaction, write_transaction
from dailypapers.db.schema import (
    api_tokens, flags, ingest_runs, mail_events, paper_embeddings, password_resets, subscriptions,
    sync_checkpoints, user_sessions, users,
)
from dailypapers.index.vectors import embed_pending
from dailypapers.index.worker import IndexWorker
from dailypapers.ingest.files import import_paths
from dailypapers.sync.base import SourceContext
from dailypapers.sync.runner import SourceReport, _finish
from dailypapers.web.app import create_app
from tests.account_helpers import NEW_PASSWORD, PASSWORD, Browser, count, serve
from tests.digest_helpers import subscribe
from tests.helpers import hf_item, search_service, write_json
from tests.test_bounces import dsn
from tests.test_cli import cli, data_dir  # noqa: F401  (fixtures)

PAPER, RIVAL = "2603.00001", "2603.00002"
PAGE = f"/papers/{PAPER}"


@pytest.fixture
def loaded(engine, tmp_path):  # type: ignore[no-untyped-def]
    import_paths(engine, [write_json(tmp_path / "2026-03-02.json", [
        hf_item(PAPER, title="Widget study of gears", upvotes=7, day="2026-03-02"),
        hf_item(RIVAL, title="Widget study of cogs", upvotes=5, day="2026-03-02")])])
    return engine


def _version(engine: sa.Engine) -> int:
    with read_transaction(engine) as conn:
        return data_version.read(conn)[0]


def _token(engine: sa.Engine, username: str) -> str:
    """An API token for ``username`` (written before anything is cached)."""
    token = f"{API_TOKEN_PREFIX}{username}-" + "k" * 40
    with write_transaction(engine) as conn:
        uid = conn.execute(sa.select(users.c.id).where(users.c.username == username)).scalar_one()
        conn.execute(api_tokens.insert().values(user_id=uid, token_hash=hash_token(token),
                                                name="script", created_at=db_now(conn)))
    return token


def test_private_writes_through_the_site_leave_cached_answers_a_comment_ends_them(
        settings, loaded) -> None:  # type: ignore[no-untyped-def]
    engine = loaded
    with serve(settings, engine) as server:
        browser = Browser(server.url)
        anonymous = httpx.Client(base_url=server.url, timeout=30)
        assert browser.sign_up("reader", email="reader@example.org").status_code == 303
        token = _token(engine, "reader")
        assert anonymous.get(PAGE).headers["x-cache"] == "miss"
        assert anonymous.get(PAGE).headers["x-cache"] == "hit"
        before = _version(engine)

        def revoke() -> httpx.Response:
            with engine.connect() as conn:
                tid = conn.execute(sa.select(api_tokens.c.id)
                                   .where(api_tokens.c.name == "laptop")).scalar_one()
            return browser.submit("/account", f"/account/tokens/{tid}/revoke", {})

        writes = [
            ("sign out", browser.sign_out),
            ("sign in", lambda: browser.sign_in("reader")),
            ("new API token",
             lambda: browser.submit("/account", "/account/tokens", {"token_name": "laptop"})),
            ("token revoked", revoke),
            ("e-mail changed",
             lambda: browser.submit("/account", "/account/email", {"email": "new@example.org"})),
            ("password changed", lambda: browser.submit(
                "/account", "/account/password",
                {"current_password": PASSWORD, "new_password": NEW_PASSWORD})),
            ("reset asked for",
             lambda: browser.submit("/reset", "/reset", {"name_or_email": "reader"})),
            ("subscribed", lambda: browser.submit(
                "/subscribe", "/subscribe",
                {"email": "digest@example.org", "frequency": "daily", "trending": "1"})),
            ("paper flagged", lambda: browser.submit(
                f"/flag?type=paper&id={PAPER}", "/flag",
                {"target_type": "paper", "target_id": PAPER, "reason": "spam"})),
            ("paper flagged through the API", lambda: anonymous.post(
                "/api/v1/flags", headers={"Authorization": f"Bearer {token}"},
                json={"targetType": "paper", "targetId": RIVAL, "reason": "off_topic"})),
        ]
        emptied = []  # the writes after which the cached page was gone
        for name, write in writes:
            answer = write()
            assert answer.status_code in (200, 303), (name, answer.status_code, answer.text[:300])
            if anonymous.get(PAGE).headers["x-cache"] != "hit":
                emptied.append(name)
        assert emptied == []
        assert _version(engine) == before
        # The writes did happen.
        with engine.connect() as conn:
            row = conn.execute(sa.select(users).where(users.c.username == "reader")).one()
            revoked = conn.execute(sa.select(sa.func.count()).select_from(api_tokens)
                                   .where(api_tokens.c.name == "laptop")).scalar_one()
        assert row.email == "new@example.org" and revoked == 0
        assert count(engine, user_sessions) == 1  # the password change kept this browser's only
        assert count(engine, password_resets) == 1
        assert count(engine, subscriptions) == 1
        assert count(engine, flags) == 2
        # An anonymous GET of an administrator's page is never kept (sent to sign in).
        admin = anonymous.get("/admin/jobs")
        assert admin.status_code == 303 and "x-cache" not in admin.headers

        # A comment shows on the public page: it ends the cached answer.
        assert browser.submit(PAGE, f"/papers/{PAPER}/comments",
                              {"body": "Gears beat cogs"}).status_code == 303
        assert _version(engine) == before + 1
        fresh = anonymous.get(PAGE)
        assert fresh.headers["x-cache"] == "miss" and "Gears beat cogs" in fresh.text
        assert anonymous.get(PAGE).headers["x-cache"] == "hit"
        anonymous.close()
        browser.close()


def test_run_bookkeeping_and_checkpoints_move_no_data_version(settings, loaded, tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = loaded
    # An import: its run's start counts nowhere; its batch and its ok end do ("Data last updated").
    before = _version(engine)
    import_paths(engine, [write_json(tmp_path / "2026-03-03.json", [
        hf_item("2603.00003", title="Sprocket study", day="2026-03-03")])])
    assert _version(engine) == before + 2

    # A submission arXiv could not answer: a failed run, nothing public.
    with write_transaction(engine) as conn:
        user = create_user(conn, "submitter", PASSWORD)
    before = _version(engine)

    def arxiv_down():  # type: ignore[no-untyped-def]
        raise ArxivUnavailable("arXiv did not answer")

    with pytest.raises(ArxivUnavailable):
        submit_paper(engine, settings, user, "2603.09999", None,
                     dt.datetime.now(dt.timezone.utc), arxiv_down)
    with engine.connect() as conn:
        run = conn.execute(sa.select(ingest_runs).where(ingest_runs.c.source == "submission")).one()
    assert run.status == "failed"
    assert _version(engine) == before

    # A sync: its cycle's checkpoint and a failed end count nowhere; an ok end does.
    ctx = SourceContext(settings=settings, engine=engine, client=None,  # type: ignore[arg-type]
                        log=lambda _line: None, today=dt.date(2026, 3, 4), run_id=run.id)
    cycle, resumed = ctx.start_cycle("hf:cycle", lambda _conn: {"todo": ["2026-03-04"]})
    assert not resumed and cycle["todo"] == ["2026-03-04"]
    assert count(engine, sync_checkpoints) == 1
    with write_transaction(engine, changes=None) as conn:
        conn.execute(ingest_runs.update().where(ingest_runs.c.id == run.id)
                     .values(status="running", finished_at=None))
    _finish(engine, SourceReport("hf", run_id=run.id), "failed", "upstream down", print)
    assert _version(engine) == before
    _finish(engine, SourceReport("hf", run_id=run.id), "ok", None, print)
    assert _version(engine) == before  # it stored nothing: "Data last updated" stays
    with write_transaction(engine, changes=None) as conn:
        conn.execute(ingest_runs.update().where(ingest_runs.c.id == run.id)
                     .values(status="running", finished_at=None, updated=1))
    _finish(engine, SourceReport("hf", run_id=run.id), "ok", None, print)
    assert _version(engine) == before + 1


def test_new_vectors_reach_cached_answers_through_the_search_index_not_the_version(
        settings, loaded) -> None:  # type: ignore[no-untyped-def]
    engine = loaded
    app = create_app(settings, engine, search=search_service(engine, settings))
    app.state.search.catch_up()  # indexes loaded, nothing embedded yet
    with TestClient(app) as web:
        first = web.get(PAGE)
        assert first.headers["x-cache"] == "miss"
        assert f'href="/papers/{RIVAL}"' not in first.text  # no similar papers yet
        assert web.get(PAGE).headers["x-cache"] == "hit"
        before = _version(engine)
        # Another process embeds (the worker, `reindex`): rows in paper_embeddings, no version.
        assert embed_pending(engine, app.state.search.embedder) == 2
        assert count(engine, paper_embeddings) == 2
        assert _version(engine) == before
        assert web.get(PAGE).headers["x-cache"] == "hit"  # this process has not loaded them
        # This process's index catches up: the cache key moves, the page shows its neighbour.
        IndexWorker(app.state.search).run_once()
        fresh = web.get(PAGE)
        assert fresh.headers["x-cache"] == "miss"
        assert f'href="/papers/{RIVAL}"' in fresh.text
        assert web.get(PAGE).headers["x-cache"] == "hit"
        assert _version(engine) == before


def test_bounce_and_unsuppress_commands_move_no_data_version(cli, engine) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    subscribe(engine, "carl@example.org")
    before = _version(engine)
    bounced = cli("mail", "bounce", input=dsn("carl@example.org", "5.1.1"))
    assert bounced.exit_code == 0, bounced.output
    lifted = cli("mail", "unsuppress", "carl@example.org")
    assert lifted.exit_code == 0, lifted.output
    assert bounced.stdout.startswith("suppressed carl@example.org") and "lifted" in lifted.stdout
    assert count(engine, mail_events) == 2  # the bounce, then the lift
    assert _version(engine) == before
