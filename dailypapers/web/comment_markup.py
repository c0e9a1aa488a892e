"""A comment's Markdown as safe HTML, with its LaTeX marked for KaTeX as abstracts are.

Three layers, each enough alone against the usual attacks and kept together on purpose:
markdown-it with raw HTML off (``<script>`` comes out as text), links only to http(s) (every
``href`` passes ``ingest.validate.safe_url``), and nh3 (Ammonia) over the result with a short
allow list, so nothing the renderer might let through (an attribute, a tag, a scheme) survives.
Links get ``rel="nofollow ugc noopener"``: a comment vouches for nothing.

Math: ``web/mathtext.split_math`` finds it in the source first (the same ``$`` rules as
abstracts), and each formula is swapped for a placeholder Markdown leaves alone (``_`` and ``*``
inside a formula are not emphasis), then put back as ``<span class="math">`` with its text
escaped. Code (`` `$x$` ``, fenced blocks) is left out of the search.
"""

from __future__ import annotations

import re
import secrets
from functools import lru_cache

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup, escape

from dailypapers.ingest.validate import safe_url
from dailypapers.web.mathtext import split_math
from dailypapers.web.textex import unstrip_math

LINK_REL = "nofollow ugc noopener"
ALLOWED_TAGS = frozenset({
    "p", "br", "hr", "em", "strong", "del", "code", "pre", "blockquote", "ul", "ol", "li", "a",
    "span", "h3", "h4", "h5", "h6",
})
# Code in the source (fenced blocks, `spans`): its dollars are not math. An approximation of
# Markdown's rules; where it errs, a formula shows as math inside code, nothing worse.
_CODE_SOURCE = re.compile(r"(```.*?(?:```|$)|~~~.*?(?:~~~|$)|`[^`\n]+`)", re.S)


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable("strikethrough")
    md.disable("image")  # no third-party requests from our pages: ![x](url) stays text
    # Headings as h3..h6: a comment's "# Title" must not outrank the page's own headings.
    md.add_render_rule("heading_open", _heading_open)
    md.add_render_rule("heading_close", _heading_close)
    return md


def _level(tag: str) -> str:
    return f"h{min(6, int(tag[1]) + 2)}"


def _heading_open(self, tokens, idx, options, env):  # type: ignore[no-untyped-def]
    return f"<{_level(tokens[idx].tag)}>"


def _heading_close(self, tokens, idx, options, env):  # type: ignore[no-untyped-def]
    return f"</{_level(tokens[idx].tag)}>\n"


def _only_web_links(tag: str, attribute: str, value: str) -> str | None:
    if tag == "a" and attribute == "href":
        url = safe_url(value)
        return url if url and url.startswith(("http://", "https://")) else None
    return value


def sanitize(html: str) -> str:
    """nh3 with our allow list: the last word on what reaches the page."""
    return nh3.clean(
        html, tags=set(ALLOWED_TAGS), clean_content_tags={"script", "style"},
        attributes={"a": {"href"}},
        tag_attribute_values={"span": {"class": {"math"}, "data-display": {"0", "1"}}},
        attribute_filter=_only_web_links, url_schemes={"http", "https"},
        link_rel=LINK_REL, strip_comments=True,
    )


def render_comment(body: str) -> Markup:
    """Markdown ``body`` as sanitised HTML."""
    nonce = secrets.token_hex(6)
    formulas: dict[str, tuple[str, str]] = {}  # placeholder -> (kind, formula)
    source = []
    for number, part in enumerate(_CODE_SOURCE.split(body)):
        if number % 2:  # code as written: no math in it
            source.append(part)
            continue
        for kind, content in split_math(part):
            if kind == "text":
                source.append(content)
                continue
            how, formula = unstrip_math(content)
            if how == "text":  # "$\\textbf{word}$" is only a word
                source.append(formula)
                continue
            key = f"MATH{nonce}N{len(formulas)}X"
            formulas[key] = (kind, formula)
            source.append(key)
    html = _markdown().render("".join(source))
    if formulas:
        def span(match: re.Match[str]) -> str:
            kind, formula = formulas[match.group(0)]
            display = "1" if kind == "display" else "0"
            return f'<span class="math" data-display="{display}">{escape(formula)}</span>'

        html = re.sub(f"MATH{nonce}N\\d+X", span, html)
    return Markup(sanitize(html))


def has_math(body: str) -> bool:
    return any(kind != "text" for kind, _ in split_math(body or ""))
