"""A live site for the moderation tests: papers, a moderator, ordinary users, each with a
session cookie (and its CSRF secret) and an API token, and the search indexes built."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import sqlalchemy as sa

from dailypapers.community.accounts import create_user
from dailypapers.community.passwords import hash_password
from dailypapers.community.sessions import API_TOKEN_PREFIX, hash_token, start_session
from dailypapers.db.engine import db_now, write_transaction
from dailypapers.db.schema import api_tokens, flags, moderation_log
from dailypapers.index.worker import IndexWorker
from dailypapers.ingest import hf_daily
from dailypapers.settings import Settings
from dailypapers.web.app import create_app
from tests.account_helpers import GENEROUS, PASSWORD
from tests.conftest import LiveServer
from tests.helpers import hf_item, search_service, store

DAY = "2026-03-02"
HIDE = "2603.60001"  # the paper the tests hide: the most upvoted, so first in every order
KEEP = "2603.60002"
_HASH = hash_password(PASSWORD)  # argon2 once per test session, not per user


@dataclasses.dataclass
class Person:
    id: int
    name: str
    token: str
    cookie: str
    csrf: str
    http: httpx.Client

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, path, headers={"Authorization": f"Bearer {self.token}"},
                                 **kwargs)

    def form(self, path: str, fields: dict[str, str]) -> httpx.Response:
        return self.http.post(path, data={"csrf_token": self.csrf, **fields})


def load_papers(engine: sa.Engine) -> None:
    items = [hf_item(HIDE, title="Quokka locomotion on sand dunes", upvotes=90, day=DAY),
             hf_item(KEEP, title="Quokka locomotion on wet grass", upvotes=5, day=DAY)]
    store(engine, list(hf_daily.parse_items(items, day=dt.date.fromisoformat(DAY))))


def add_person(engine: sa.Engine, url: str, name: str, **roles: bool) -> Person:
    with write_transaction(engine) as conn:
        user = create_user(conn, name, PASSWORD, hashed=_HASH, **roles)
        token = f"{API_TOKEN_PREFIX}{name}-" + "t" * 40
        conn.execute(api_tokens.insert().values(user_id=user.id, token_hash=hash_token(token),
                                                name="test", created_at=db_now(conn)))
        cookie, csrf = start_session(conn, user.id, dt.timedelta(days=1))
    http = httpx.Client(base_url=url, follow_redirects=False, timeout=30,
                        cookies={"dp_session": cookie})
    return Person(user.id, name, token, cookie, csrf, http)


@contextmanager
def site(settings: Settings, engine: sa.Engine, **overrides: Any) -> Iterator[LiveServer]:
    load_papers(engine)
    generous = {**GENEROUS, "ratelimit_flag_per_ip": "1000/minute",
                "ratelimit_flag_per_user": "1000/minute"}
    app = create_app(settings.model_copy(update={**generous, **overrides}), engine,
                     search=search_service(engine, settings))
    IndexWorker(app.state.search).run_once()  # keyword index built, every paper embedded
    with LiveServer(app) as server:
        yield server


def log_rows(engine: sa.Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            sa.select(moderation_log.c.moderator_id, moderation_log.c.action,
                      moderation_log.c.target_type, moderation_log.c.target_id,
                      moderation_log.c.reason).order_by(moderation_log.c.id))]


def flag_rows(engine: sa.Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            sa.select(flags.c.user_id, flags.c.target_type, flags.c.target_id, flags.c.reason,
                      flags.c.resolution, flags.c.resolved_by).order_by(flags.c.id))]
