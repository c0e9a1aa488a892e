"""Driving the account pages like a browser without JavaScript: real HTTP, cookies, forms."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import lxml.html
import sqlalchemy as sa

from dailypapers.settings import Settings
from dailypapers.web.app import create_app
from tests.conftest import LiveServer

PASSWORD = "violet lanterns hum quietly"
NEW_PASSWORD = "seven amber kites drift"
# Rate limits high enough that a test's own sign-ups never meet them (tests of limits set theirs).
GENEROUS = {"ratelimit_signup_per_ip": "1000/minute", "ratelimit_signin_per_ip": "1000/minute",
            "ratelimit_signin_per_account": "1000/minute", "ratelimit_reset_per_ip": "1000/minute",
            "ratelimit_reset_per_account": "1000/minute", "ratelimit_vote_per_ip": "1000/minute",
            "ratelimit_vote_per_user": "1000/minute"}


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def csrf(html: str, action: str | None = None) -> str:
    """The csrf_token of the page's form (posting to ``action`` when given)."""
    doc = lxml.html.fromstring(html)
    forms = doc.xpath("//form[@method='post']")
    if action is not None:
        forms = [f for f in forms if f.get("action") == action]
    values = forms[0].xpath(".//input[@name='csrf_token']/@value")
    assert values, "form without csrf_token"
    return values[0]


class Browser:
    """One cookie jar on a live server; no redirects followed, so each answer can be checked."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, follow_redirects=False, timeout=30)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def post(self, path: str, data: dict[str, str], **kwargs: Any) -> httpx.Response:
        return self.http.post(path, data=data, **kwargs)

    def submit(self, page: str, action: str, fields: dict[str, str]) -> httpx.Response:
        """Open ``page`` and send its form for ``action`` with ``fields`` and its CSRF token."""
        html = self.get(page).text
        return self.post(action, {"csrf_token": csrf(html, action), **fields})

    def sign_up(self, username: str, password: str = PASSWORD, email: str = "") -> httpx.Response:
        return self.submit("/signup", "/signup",
                           {"username": username, "password": password, "email": email})

    def sign_in(self, username: str, password: str = PASSWORD) -> httpx.Response:
        return self.submit("/login", "/login", {"username": username, "password": password})

    def sign_out(self) -> httpx.Response:
        return self.submit("/account", "/logout", {})

    def signed_in_as(self) -> str | None:
        """Whose account page this browser reaches (None: sent to sign in)."""
        answer = self.get("/account")
        if answer.status_code == 303:
            assert answer.headers["location"].startswith("/login")
            return None
        assert answer.status_code == 200
        return lxml.html.fromstring(answer.text).xpath("string(//main//h1)")

    def cookie(self, name: str) -> str | None:
        return self.http.cookies.get(name)

    def close(self) -> None:
        self.http.close()


@contextmanager
def serve(settings: Settings, engine: sa.Engine, **overrides: Any) -> Iterator[LiveServer]:
    app = create_app(settings.model_copy(update={**GENEROUS, **overrides}), engine)
    with LiveServer(app) as server:
        server.app = app  # type: ignore[attr-defined]
        yield server


def count(engine: sa.Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
