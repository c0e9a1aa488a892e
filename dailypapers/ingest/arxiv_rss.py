"""rss.arxiv.org feeds (RSS 2.0) → records.

Every ``<item>`` is a record of its paper, whatever its ``arxiv:announce_type``: ``new`` (a
first announcement), ``cross`` (a cross-list), ``replace`` / ``replace-cross`` (a newer version).
The version comes from the guid (``oai:arXiv.org:2401.12345v2``), the link, or the
``arXiv:2401.12345v2 Announce Type: ...`` line that opens the description, whichever says.

The feed only dates the announcement (``pubDate``): it is taken as ``submitted_at`` for a ``new``
item and as ``updated_at`` for a ``replace`` item; a cross-list dates neither, so both stay None.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import IO

from lxml import etree

from dailypapers.ids import InvalidArxivId, split_arxiv_id
from dailypapers.ingest.links import find_links
from dailypapers.ingest.records import SOURCE_RSS, Author, PaperRecord, ParsedItem, Refusal
from dailypapers.ingest.xml_stream import PageRefused, stream_elements

ARXIV_NS = "http://arxiv.org/schemas/atom"
DC_NS = "http://purl.org/dc/elements/1.1/"
_A = "{" + ARXIV_NS + "}"
_DC = "{" + DC_NS + "}"

# "arXiv:2609.26811v1 Announce Type: new \nAbstract: ..." at the start of the description.
_DESCRIPTION_HEAD = re.compile(
    r"^\s*arXiv:(?P<id>\S+)\s+Announce\s+Type:\s*(?P<type>\S+)\s*(?:Abstract:\s*)?", re.IGNORECASE
)
# Older feeds end titles with "(arXiv:2401.12345v1 [cs.LG] UPDATED)".
_TITLE_TAIL = re.compile(r"\s*\(arXiv:\S+\s+\[[^\]]*\](?:\s+[A-Z]+)?\)\s*$")
_TAG = re.compile(r"<[^>]+>")
_AND = re.compile(r"\s+and\s+|\s*&\s+")
_SUFFIXES = frozenset({"jr", "jr.", "sr", "sr.", "ii", "iii", "iv"})
_ITEM_TAGS = frozenset({"item"})


def looks_like(head: bytes) -> bool:
    return b"<rss" in head[:4096]


def split_author_list(text: str | None) -> list[str]:
    """Names from ``"A, B and C"`` / ``"A, B, and C"``; parenthesised affiliations dropped."""
    if not text:
        return []
    if "(" in text:
        text = _strip_parentheses(text)
    names: list[str] = []
    for part in text.split(","):
        for name in _AND.split(part):
            name = " ".join(name.split())
            if name.lower().startswith("and "):
                name = name[4:].strip()
            if not name:
                continue
            if names and name.lower() in _SUFFIXES:  # "Robert W. Heath, Jr."
                names[-1] = f"{names[-1]}, {name}"
            else:
                names.append(name)
    return names


def _strip_parentheses(text: str) -> str:
    out: list[str] = []
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        elif depth == 0:
            out.append(ch)
    return "".join(out)


def parse(stream: IO[bytes], *, file_label: str | None = None) -> Iterator[ParsedItem | Refusal]:
    count = 0
    try:
        for element in stream_elements(stream, _ITEM_TAGS):
            count += 1
            yield _item(element, f"item {count}", file_label)
    except PageRefused as exc:
        yield Refusal(
            reason=f"feed refused after {count} item(s): {exc.reason}",
            position=exc.position,
            file=file_label,
        )
    except etree.XMLSyntaxError as exc:
        line, column = exc.position if exc.position else (None, None)
        yield Refusal(
            reason=f"XML broken after {count} item(s): {exc.msg or exc}",
            position=f"line {line}, column {column}" if line else "unknown position",
            file=file_label,
        )


def _text(element: etree._Element) -> str | None:
    text = element.text if len(element) == 0 else "".join(element.itertext())
    return text.strip() or None if text else None


def _item(item: etree._Element, position: str, file_label: str | None) -> ParsedItem | Refusal:
    title = description = guid = link = pub_date = announce = doi = journal_ref = rights = None
    creators: list[str] = []
    categories: list[str] = []
    for child in item:
        tag = child.tag
        if not isinstance(tag, str):
            continue
        if tag == "title":
            title = _text(child)
        elif tag == "description":
            description = _text(child)
        elif tag == "guid":
            guid = _text(child)
        elif tag == "link":
            link = _text(child)
        elif tag == "pubDate":
            pub_date = _text(child)
        elif tag == "category":
            term = _text(child)
            if term and term not in categories:
                categories.append(term)
        elif tag == _DC + "creator":
            text = _text(child)
            if text:
                creators.append(text)
        elif tag == _DC + "rights":
            rights = _text(child)
        elif tag == _A + "announce_type":
            announce = _text(child)
        elif tag in (_A + "DOI", _A + "doi"):
            doi = _text(child)
        elif tag in (_A + "journal_reference", _A + "journal_ref"):
            journal_ref = _text(child)

    head = _DESCRIPTION_HEAD.match(description) if description else None
    abstract = description[head.end() :] if head else description
    if head and not announce:
        announce = head.group("type")

    # The first of guid / link / description head that is an arXiv id names the paper; a
    # version can come from any of them (the link usually has none).
    arxiv_id: str | None = None
    version: int | None = None
    bad: str | None = None
    for raw in (guid, link, head.group("id") if head else None):
        if not raw:
            continue
        try:
            found, found_version = split_arxiv_id(raw)
        except InvalidArxivId:
            bad = bad or raw
            continue
        if arxiv_id is None:
            arxiv_id = found
        if found == arxiv_id and version is None:
            version = found_version
    if arxiv_id is None:
        if bad:
            return Refusal(
                reason=f"not an arXiv id: {bad!r}",
                record_id=bad,
                position=position,
                file=file_label,
            )
        return Refusal(reason="item has no arXiv id", position=position, file=file_label)

    if title:
        title = " ".join(_TITLE_TAIL.sub("", title).split())
    if not title:
        return Refusal(
            reason="item has no title", record_id=arxiv_id, position=position, file=file_label
        )
    abstract = " ".join(abstract.split()) if abstract else None

    authors: list[Author] = []
    for creator in creators:
        if "<" in creator:  # older feeds: <a href="...">Name</a>, ...
            creator = _TAG.sub("", creator)
        authors.extend(Author(name=name) for name in split_author_list(creator))

    kind = (announce or "").lower()
    github, project = find_links(abstract, None)
    return ParsedItem(
        paper=PaperRecord(
            arxiv_id=arxiv_id,
            source=SOURCE_RSS,
            version=version,
            title=title,
            abstract=abstract or None,
            authors=authors or None,
            categories=categories or None,
            primary_category=categories[0] if categories else None,
            submitted_at=pub_date if kind == "new" else None,
            updated_at=pub_date if kind.startswith("replace") else None,
            journal_ref=" ".join(journal_ref.split()) if journal_ref else None,
            doi=doi,
            license=rights,
            github_repo=github,
            project_page=project,
        )
    )
