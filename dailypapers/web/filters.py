"""Template filters: small, pure helpers for what a reader sees."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlparse

from jinja2 import Environment

from dailypapers.ingest.validate import safe_url
from dailypapers.web.mathtext import math_markup

MAX_AUTHORS = 4


def short_authors(authors: list[dict[str, Any]], limit: int = MAX_AUTHORS) -> str:
    names = [a["name"] for a in authors if not a.get("hidden")]
    if len(names) <= limit:
        return ", ".join(names)
    return f"{', '.join(names[:limit - 1])}, … {names[-1]} (+{len(names) - limit} more)"


def excerpt(text: str | None, length: int = 280) -> str:
    text = " ".join((text or "").split())
    if len(text) <= length:
        return text
    cut = text[:length].rsplit(" ", 1)[0]
    # Never cut inside inline math: an odd number of $ would leave KaTeX a broken formula.
    if cut.count("$") % 2:
        cut = cut[: cut.rfind("$")].rstrip()
    return cut + " …"


def long_date(day: dt.date | None) -> str:
    return f"{day:%A, %B} {day.day}, {day:%Y}" if day else ""


def short_date(day: dt.date | None) -> str:
    return f"{day:%b} {day.day}, {day:%Y}" if day else ""


def timestamp(value: dt.datetime | None) -> str:
    if value is None:
        return "never"
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def link_url(value: Any) -> str | None:
    """An upstream URL that may go into ``href``/``src``, or None. Every template that writes an
    upstream value into a link uses it (tests/test_templates_hostile.py reads the templates to
    check), so rows stored before the store checked links are safe too."""
    return safe_url(value)


def repo_label(url: str | None) -> str:
    if not url:
        return ""
    path = urlparse(url).path.strip("/")
    return path or url


def install(env: Environment) -> None:
    env.filters.update(
        short_authors=short_authors, excerpt=excerpt, long_date=long_date, short_date=short_date,
        timestamp=timestamp, repo_label=repo_label, math=math_markup, link_url=link_url,
    )
