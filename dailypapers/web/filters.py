"""Template filters: small, pure helpers for what a reader sees."""

from __future__ import annotations

import datetime as dt
import html
import re
from typing import Any
from urllib.parse import quote, urlparse

from jinja2 import Environment
from markupsafe import Markup, escape

from dailypapers.ingest.validate import safe_url
from dailypapers.web.mathtext import math_markup, split_math

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


# A URL in escaped HTML text: it ends at whitespace, a tag, or an (escaped) quote or angle
# bracket; closing punctuation is trimmed below ("see https://x.org/a." links https://x.org/a).
_URL = re.compile(r"https?://(?:(?!&(?:lt|gt|quot|#34|#39|#x27);)[^\s<>\"'])+", re.IGNORECASE)
_TRAILING = ".,;:!?)]}*"
# Our own markup inside already-escaped HTML: the math filter's spans, highlight marks.
_TAG_OR_MATH = re.compile(r'(<span class="math"[^>]*>.*?</span>|<[^>]+>)', re.DOTALL)


def linkify(value: Any) -> Markup:
    """Turn the http(s) URLs in text into links (``rel="nofollow noopener"``).

    Takes the output of ``|math`` (or any already-escaped HTML, or plain text, which is escaped
    first) and leaves tags and math spans as they are, so it composes with whatever the math
    filter does to the text around URLs: ``{{ abstract|math|linkify }}``. A URL must pass
    ``safe_url``, as every upstream link does; anything else stays text."""
    markup = value if isinstance(value, Markup) else escape(value or "")
    parts = _TAG_OR_MATH.split(str(markup))
    for i in range(0, len(parts), 2):  # even indexes are text between tags
        parts[i] = _URL.sub(_link, parts[i])
    return Markup("".join(parts))


def _link(match: re.Match[str]) -> str:
    text = match.group(0)
    tail = ""
    while text and (text[-1] in _TRAILING or text.endswith("&amp;")):
        cut = 5 if text.endswith("&amp;") else 1
        if text[-1] == ")" and text.count("(") >= text.count(")"):
            break  # Wikipedia-style URLs keep their own closing parenthesis
        text, tail = text[:-cut], text[-cut:] + tail
    url = safe_url(html.unescape(text))
    if url is None or text.lower() in ("http://", "https://"):
        return match.group(0)
    return f'<a class="text-link" href="{escape(url)}" rel="nofollow noopener">{text}</a>{tail}'


SOURCE_NAMES = {
    "hf": "Hugging Face daily papers", "arxiv-oai": "arXiv OAI-PMH", "arxiv-atom": "arXiv API",
    "arxiv-rss": "arXiv RSS", "kaggle": "arXiv dataset (Kaggle)",
}


def sources_label(sources: str | None) -> str:
    """The stored ``hf,arxiv-atom`` as a reader says it: "Hugging Face daily papers · arXiv API"."""
    names = [SOURCE_NAMES.get(s.strip(), s.strip()) for s in (sources or "").split(",") if s.strip()]
    return " · ".join(names)


def search_url(query: str) -> str:
    """``/search?q=…`` for a query our templates build (an author, a keyword)."""
    return "/search?q=" + quote(query, safe="")


def author_search(name: str) -> str:
    return search_url(f'author:"{_unquoted(name)}"')


def phrase_search(text: str) -> str:
    return search_url(f'"{_unquoted(text)}"')


def _unquoted(text: str) -> str:
    return " ".join((text or "").replace('"', " ").split())


def organization_name(org: Any) -> str | None:
    """An organisation's display name from the stored JSON (``fullname``, else ``name``)."""
    if not isinstance(org, dict):
        return None
    name = org.get("fullname") or org.get("name")
    return name if isinstance(name, str) and name.strip() else None


def needs_math(items: Any) -> bool:
    """Whether any title or abstract among ``items`` (papers, listing entries, search rows)
    has math: the page then asks for KaTeX from its <head> instead of after loading."""
    for item in items or []:
        paper = getattr(item, "paper", None) or (item.get("paper") if isinstance(item, dict) else None)
        paper = paper if paper is not None else item
        texts = [paper.get("title"), paper.get("abstract")] if isinstance(paper, dict) else [paper]
        if any(kind != "text" for text in texts if text for kind, _ in split_math(text)):
            return True
    return False


_LITERAL = re.compile(r"``(.+?)``")


def code_spans(text: str | None) -> Markup:
    """Docstring literals (````q````) as <code>, everything else escaped."""
    return Markup(_LITERAL.sub(r"<code>\1</code>", str(escape(text or ""))))


def api_operations(app: Any) -> list[dict[str, Any]]:
    """The API's operations from its OpenAPI document, for the server-rendered /api/docs."""
    out = []
    for path, operations in app.openapi().get("paths", {}).items():
        for method, op in operations.items():
            out.append({
                "method": method.upper(), "path": path, "id": op.get("operationId", path),
                "summary": op.get("summary", ""), "description": op.get("description", ""),
                "parameters": [{
                    "name": p.get("name"), "in": p.get("in"), "required": p.get("required", False),
                    "description": p.get("description", ""),
                    "type": (p.get("schema") or {}).get("type", ""),
                } for p in op.get("parameters", [])],
                "responses": [(code, r.get("description", ""))
                              for code, r in op.get("responses", {}).items()],
                # Routes that act for an account document their 401 (web/deps.AUTH_RESPONSES).
                "needs_token": "401" in op.get("responses", {}),
            })
    return out


def repo_label(url: str | None) -> str:
    if not url:
        return ""
    path = urlparse(url).path.strip("/")
    return path or url


def install(env: Environment) -> None:
    env.filters.update(
        short_authors=short_authors, excerpt=excerpt, long_date=long_date, short_date=short_date,
        timestamp=timestamp, repo_label=repo_label, math=math_markup, link_url=link_url,
        linkify=linkify, sources_label=sources_label, author_search=author_search,
        phrase_search=phrase_search, organization_name=organization_name, search_url=search_url,
        api_operations=api_operations, needs_math=needs_math,
        code_spans=code_spans,
    )
