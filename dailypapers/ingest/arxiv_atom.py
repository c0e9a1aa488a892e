"""arXiv API (``/api/query``) Atom answers → records.

Takes a normal Atom ``<feed>`` as the API returns it, and also bare ``<entry>`` elements wrapped in
some other root (e.g. ``<articles>``) where only some entries declare the Atom namespace: elements
are matched on their local names, in the Atom namespace or in none.

``<category>`` terms that are not arXiv categories (the API also lists ACM and MSC classes such as
``F.2.2`` or ``68W32`` as categories) are left out of ``categories``. An API error answer (an entry
whose id points at ``/api/errors``) becomes a refusal carrying the error message.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import IO

from lxml import etree

from dailypapers.ids import InvalidArxivId, split_arxiv_id
from dailypapers.ingest.links import find_links
from dailypapers.ingest.records import SOURCE_ATOM, Author, PaperRecord, ParsedItem, Refusal
from dailypapers.ingest.xml_stream import PageRefused, stream_elements

ATOM_NS = "http://www.w3.org/2005/Atom"
ARXIV_NS = "http://arxiv.org/schemas/atom"
_ENTRY_TAGS = frozenset({"{" + ATOM_NS + "}entry", "entry"})
# arXiv category names (cs.LG, math-ph, cond-mat.stat-mech, hep-th, q-bio.NC, ...), as opposed
# to ACM (F.2.2) or MSC (68W32) classes that the API lists as categories too.
_ARXIV_CATEGORY = re.compile(r"^[a-z][a-z-]*(?:\.[A-Za-z][A-Za-z-]*)?$")


def looks_like(head: bytes) -> bool:
    head = head[:4096]
    if b"<feed" in head and ATOM_NS.encode() in head:
        return True
    return b"<articles" in head and b"<entry" in head


def parse(stream: IO[bytes], *, file_label: str | None = None) -> Iterator[ParsedItem | Refusal]:
    count = 0
    try:
        for element in stream_elements(stream, _ENTRY_TAGS):
            count += 1
            yield _entry(element, f"entry {count}", file_label)
    except PageRefused as exc:
        yield Refusal(
            reason=f"file refused after {_entries(count)}: {exc.reason}",
            position=exc.position,
            file=file_label,
        )
    except etree.XMLSyntaxError as exc:
        line, column = exc.position if exc.position else (None, None)
        yield Refusal(
            reason=f"XML broken after {_entries(count)}: {exc.msg or exc}",
            position=f"line {line}, column {column}" if line else "unknown position",
            file=file_label,
        )


def _entries(count: int) -> str:
    return f"{count} entr{'y' if count == 1 else 'ies'}"


def _local(tag: object) -> str:
    if not isinstance(tag, str):  # comments, processing instructions
        return ""
    return tag.rpartition("}")[2]


def _text(element: etree._Element) -> str | None:
    text = element.text if len(element) == 0 else "".join(element.itertext())
    if not text:
        return None
    return " ".join(text.split()) or None


def _entry(entry: etree._Element, position: str, file_label: str | None) -> ParsedItem | Refusal:
    fields: dict[str, str] = {}
    authors: list[Author] = []
    categories: list[str] = []
    primary: str | None = None
    doi_link: str | None = None
    for child in entry:
        name = _local(child.tag)
        if name in (
            "id",
            "title",
            "summary",
            "published",
            "updated",
            "comment",
            "journal_ref",
            "doi",
        ):
            text = _text(child)
            if text and name not in fields:
                fields[name] = text
        elif name == "author":
            author = _author(child)
            if author is not None:
                authors.append(author)
        elif name == "category":
            term = (child.get("term") or "").strip()
            if term and _ARXIV_CATEGORY.match(term) and term not in categories:
                categories.append(term)
        elif name == "primary_category":
            primary = (child.get("term") or "").strip() or None
        elif name == "link" and child.get("title") == "doi":
            doi_link = child.get("href")

    raw_id = fields.get("id") or (entry.get("id") or "").strip()
    if not raw_id:
        return Refusal(reason="entry has no id", position=position, file=file_label)
    if "api/errors" in raw_id:
        message = fields.get("summary") or fields.get("title") or "unknown error"
        return Refusal(
            reason=f"arXiv API error: {message}",
            record_id=raw_id,
            position=position,
            file=file_label,
        )
    try:
        arxiv_id, version = split_arxiv_id(raw_id)
    except InvalidArxivId:
        return Refusal(
            reason=f"not an arXiv id: {raw_id!r}",
            record_id=raw_id,
            position=position,
            file=file_label,
        )
    title = fields.get("title")
    if not title:
        return Refusal(
            reason="entry has no title", record_id=arxiv_id, position=position, file=file_label
        )

    if primary and primary not in categories:
        categories.insert(0, primary)
    doi = fields.get("doi")
    if not doi and doi_link:
        doi = _doi_from_url(doi_link)
    abstract = fields.get("summary")
    comments = fields.get("comment")
    github, project = find_links(abstract, comments)
    return ParsedItem(
        paper=PaperRecord(
            arxiv_id=arxiv_id,
            source=SOURCE_ATOM,
            version=version,
            title=title,
            abstract=abstract,
            authors=authors or None,
            categories=categories or None,
            primary_category=primary or (categories[0] if categories else None),
            submitted_at=fields.get("published"),
            updated_at=fields.get("updated"),
            comments=comments,
            journal_ref=fields.get("journal_ref"),
            doi=doi,
            github_repo=github,
            project_page=project,
        )
    )


def _author(element: etree._Element) -> Author | None:
    name: str | None = None
    affiliations: list[str] = []
    for child in element:
        local = _local(child.tag)
        if local == "name":
            name = _text(child)
        elif local == "affiliation":
            text = _text(child)
            if text:
                affiliations.append(text)
    if not name:
        return None
    return Author(name=name, affiliation="; ".join(affiliations) if affiliations else None)


def _doi_from_url(url: str) -> str | None:
    for prefix in (
        "https://doi.org/",
        "http://doi.org/",
        "https://dx.doi.org/",
        "http://dx.doi.org/",
    ):
        if url.startswith(prefix):
            return url[len(prefix) :] or None
    return None
