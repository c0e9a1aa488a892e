"""Atom and RSS 2.0 documents (feedgen) for any list of papers.

A feed is a title, the page it mirrors, and :class:`FeedItem` s; :func:`item_for` makes an item
of a ``papers`` row. Everything upstream (titles, abstracts, author names, code links) is
untrusted: text loses the characters XML 1.0 cannot carry (lxml refuses them, which would be a
500), TeX is converted for display as the pages do, and only http(s) code links are kept.

The document is a pure function of its inputs (no "now" in it: feedgen's defaults are replaced),
so the same list gives the same bytes and the same ETag.
"""

from __future__ import annotations

import datetime as dt
import functools
import html
import re
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from feedgen.feed import FeedGenerator
from lxml import etree

from dailypapers.ingest.validate import safe_url
from dailypapers.rank.trending import featured_at
from dailypapers.web.mathtext import split_math
from dailypapers.web.textex import tex_to_text, unstrip_math

FORMATS = ("atom", "rss")
_TYPES = {"atom": "application/atom+xml", "rss": "application/rss+xml"}
_NAMES = {"atom": "Atom", "rss": "RSS"}
MEDIA_TYPES = {"atom": "application/atom+xml; charset=utf-8",
               "rss": "application/rss+xml; charset=utf-8"}
# The query parameters a search feed keeps (the search page's, less paging and sort).
SEARCH_PARAMS = ("q", "category", "date_from", "date_to", "has_code", "featured")
MAX_ITEMS = 100  # a feed reader polls: the newest or best 100 are plenty, and bound the cost
MAX_AUTHORS = 10  # a 3,000-author physics paper would otherwise make each poll megabytes
T = TypeVar("T")
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
# XML 1.0 forbids C0 controls except tab, LF, CR; lone surrogates; U+FFFE and U+FFFF.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass
class FeedItem:
    paper_id: str
    title: str  # plain text
    authors: list[str]
    summary: str  # plain text
    when: dt.datetime  # UTC, timezone-aware
    code: str | None = None  # a checked http(s) URL
    categories: list[str] = field(default_factory=list)
    changed: dt.datetime = EPOCH  # the row's last change: Last-Modified takes the newest


def xml_text(value: Any) -> str:
    """Text XML can carry; whitespace runs become one space (titles and abstracts are wrapped
    in the sources)."""
    return " ".join(_NOT_XML.sub("", str(value or "")).split())


def display_text(value: Any) -> str:
    """Plain text as the pages show it: TeX outside math converted (``69.4\\%`` → 69.4%), math
    kept as ``$…$`` (no KaTeX in a feed reader)."""
    text = xml_text(value)
    if not any(c in text for c in "$\\{"):  # nothing TeX could change
        return text
    return _converted(text)


@functools.lru_cache(maxsize=2048)  # the day, week, latest and trending feeds share papers
def _converted(text: str) -> str:
    parts = []
    for kind, content in split_math(text):
        if kind != "text":
            kind, content = unstrip_math(content)
        if kind == "text":
            parts.append(tex_to_text(content))
        else:
            parts.append(f"$${content}$$" if kind == "display" else f"${content}$")
    return xml_text("".join(parts))


def as_utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)).astimezone(
        dt.timezone.utc)


def _stamp(text: str | None) -> dt.datetime | None:
    try:
        return as_utc(dt.datetime.fromisoformat(text.replace("Z", "+00:00"))) if text else None
    except ValueError:
        return None


def paper_time(paper: dict[str, Any], feature: dict[str, Any] | None) -> dt.datetime:
    """An item's date: when the paper was featured, else its first arXiv version, else when we
    first saw it."""
    if feature is not None:
        return as_utc(featured_at(feature["day"], feature.get("submitted_on_daily_at")))  # type: ignore[return-value]
    return (_stamp(paper.get("submitted_at")) or as_utc(paper.get("first_seen_at"))
            or EPOCH)


def item_for(paper: dict[str, Any], when: dt.datetime) -> FeedItem:
    names = [xml_text(a.get("name")) for a in paper.get("authors") or []
             if isinstance(a, dict) and not a.get("hidden")]
    names = [n for n in names if n]
    if len(names) > MAX_AUTHORS:
        names = names[:MAX_AUTHORS] + [f"and {len(names) - MAX_AUTHORS} more"]
    changed = max((as_utc(paper.get(k)) or EPOCH
                   for k in ("first_seen_at", "row_updated_at", "counts_updated_at")),
                  default=EPOCH)
    return FeedItem(
        paper_id=str(paper["id"]), title=display_text(paper.get("title")) or str(paper["id"]),
        authors=names, summary=display_text(paper.get("abstract")), when=as_utc(when) or EPOCH,
        code=safe_url(paper.get("github_repo")),
        categories=[xml_text(c) for c in paper.get("categories") or [] if isinstance(c, str)
                    and xml_text(c)][:10],
        changed=max(changed, as_utc(when) or EPOCH))


def first_of_each(keyed: list[tuple[str, T]]) -> list[T]:
    """One value per paper id, the first (a week lists a paper featured on two days twice; a
    GUID must be unique), at most :data:`MAX_ITEMS`: chosen before items are built."""
    seen: set[str] = set()
    out = []
    for key, value in keyed:
        if key not in seen:
            seen.add(key)
            out.append(value)
            if len(out) == MAX_ITEMS:
                break
    return out


def last_modified(items: list[FeedItem], fallback: dt.datetime | None) -> dt.datetime:
    """The newest change among the items (a feature, an import, a vote), whole seconds as
    HTTP dates have them; ``fallback`` (the last import) for an empty list."""
    newest = max((max(i.when, i.changed) for i in items), default=None)
    return (newest or as_utc(fallback) or EPOCH).replace(microsecond=0)


def paper_url(base: str, paper_id: str) -> str:
    return f"{base}/papers/{quote(paper_id, safe='/.')}"


def render_feed(fmt: str, *, base: str, title: str, subtitle: str, self_path: str,
                page_path: str, items: list[FeedItem], updated: dt.datetime,
                site_name: str) -> bytes:
    """The Atom or RSS document; ``*_path`` are paths (with query) on this site, ``base`` its
    public address (DAILYPAPERS_BASE_URL)."""
    fg = FeedGenerator()
    fg.load_extension("dc", atom=False, rss=True)  # RSS's <author> must be an email address
    self_url, page_url = base + self_path, base + page_path
    fg.id(self_url)
    fg.title(xml_text(title))
    fg.subtitle(xml_text(subtitle))  # RSS's required <description>
    fg.author({"name": xml_text(site_name)})
    # This order: feedgen makes RSS's <link> of the last link it was given.
    fg.link(href=self_url, rel="self", type=MEDIA_TYPES[fmt].split(";")[0])
    fg.link(href=page_url, rel="alternate", type="text/html")
    fg.language("en")
    fg.generator("dailypapers")
    fg.updated(updated)
    fg.lastBuildDate(updated)
    for item in items:
        url = paper_url(base, item.paper_id)
        summary = item.summary + (f"\n\nCode: {item.code}" if item.code else "")
        entry = fg.add_entry(order="append")
        entry.id(url)  # Atom's id and RSS's guid: the paper's address, stable across requests
        entry.guid(url, permalink=True)
        entry.title(item.title)
        entry.link(href=url, rel="alternate", type="text/html")
        for name in item.authors:
            entry.author({"name": name})
        if fmt == "rss":
            # RSS readers take a description for HTML: escape it, so it shows as the text it is.
            entry.description(html.escape(summary, quote=False) or item.title)
            if item.authors:  # one creator, as arXiv's RSS has it: readers show only one
                entry.dc.dc_creator(", ".join(item.authors))
        else:
            entry.summary(summary or item.title)
        for category in item.categories:
            entry.category(term=category)
        entry.published(item.when)
        entry.updated(item.when)
    if fmt == "rss":
        return fg.rss_str(pretty=False)
    return _add_code_links(fg.atom_str(pretty=False), items)


_ATOM = "{http://www.w3.org/2005/Atom}"


def _add_code_links(document: bytes, items: list[FeedItem]) -> bytes:
    """Each Atom entry's code link, ``<link rel="related" title="Code">``. feedgen 1.0.0 writes
    an entry's links without their ``rel`` (its loop variable shadows the link's data), so a
    second link would read as the entry's page: we add it to the document instead."""
    if not any(item.code for item in items):
        return document
    root = etree.fromstring(document)
    for entry, item in zip(root.iter(f"{_ATOM}entry"), items, strict=True):
        if item.code:
            etree.SubElement(entry, f"{_ATOM}link", href=item.code, rel="related", title="Code")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


# --- autodiscovery: the <link rel="alternate"> a page announces -----------------------------


def links(path: str, title: str) -> list[dict[str, str]]:
    """``<link rel="alternate">`` entries (Atom first) for the feed at ``path`` (``path`` ends
    ``.atom``; a query string may follow)."""
    stem, _, query = path.partition("?")
    base = stem.removesuffix(".atom")
    tail = f"?{query}" if query else ""
    return [{"type": _TYPES[fmt], "title": f"{title} ({_NAMES[fmt]})", "href": f"{base}.{fmt}{tail}"}
            for fmt in FORMATS]


def day_links(day: dt.date, latest: bool = False) -> list[dict[str, str]]:
    found = links(f"/feeds/day/{day.isoformat()}.atom", f"Papers of {day.isoformat()}")
    if latest:
        found += links("/feeds/latest.atom", "Latest day's papers")
    return found


def week_links(week: str) -> list[dict[str, str]]:
    return links(f"/feeds/week/{week}.atom", f"Top papers of week {week}")


def trending_links() -> list[dict[str, str]]:
    return links("/feeds/trending.atom", "Trending papers")


def search_links(params: Any) -> list[dict[str, str]]:
    query = {k: params.get(k) for k in SEARCH_PARAMS if params.get(k)}
    if not query:
        return []
    title = f"Search: {query['q']}" if query.get("q") else "Search results"
    return links(f"/feeds/search.atom?{urlencode(query)}", title)


def collection_links(collection_id: int, name: str) -> list[dict[str, str]]:
    return links(f"/feeds/collection/{collection_id}.atom", f"Collection: {name}")
