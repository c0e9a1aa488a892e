"""arXiv OAI-PMH ``ListRecords`` answers (``metadataPrefix=arXiv``) → records.

One page holds up to ~1,000 ``<record>`` elements and a ``<resumptionToken>`` naming the next
page (empty on the last page). The ``arXiv`` metadata format carries no version number, so
``version`` is None; ``created`` is the first version's date and ``updated`` (present only when
there is more than one version) the latest one's.

Pages are read with ``lxml.etree.iterparse`` so a page cut short still gives every record before
the break, followed by a refusal saying where it broke. Every element is freed once read and a
page beyond the limits of ``xml_stream`` is refused where it goes wrong, so memory stays flat
however long or junk-filled the stream is.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import IO

from lxml import etree

from dailypapers.ids import InvalidArxivId, split_arxiv_id
from dailypapers.ingest.links import find_links
from dailypapers.ingest.records import (
    SOURCE_OAI,
    Author,
    PaperRecord,
    ParsedItem,
    ParseResult,
    Refusal,
)
from dailypapers.ingest.xml_stream import PageRefused, stream_elements

OAI_NS = "http://www.openarchives.org/OAI/2.0/"
ARXIV_NS = "http://arxiv.org/OAI/arXiv/"

_O = "{" + OAI_NS + "}"
_A = "{" + ARXIV_NS + "}"
_RECORD = _O + "record"
_HEADER = _O + "header"
_METADATA = _O + "metadata"
_IDENTIFIER = _O + "identifier"
_TOKEN = _O + "resumptionToken"
_ERROR = _O + "error"
_ARXIV = _A + "arXiv"
_AUTHORS = _A + "authors"
_KEYNAME = _A + "keyname"
_FORENAMES = _A + "forenames"
_SUFFIX = _A + "suffix"
_AFFILIATION = _A + "affiliation"

# Simple text fields of <arXiv>: element tag → PaperRecord field.
_TEXT_FIELDS = {
    _A + "id": "id",
    _A + "title": "title",
    _A + "abstract": "abstract",
    _A + "created": "created",
    _A + "updated": "updated",
    _A + "categories": "categories",
    _A + "comments": "comments",
    _A + "journal-ref": "journal_ref",
    _A + "doi": "doi",
    _A + "license": "license",
}

_NO_RECORDS = "noRecordsMatch"
_RECORD_TAGS = frozenset({_RECORD})
_OTHER_TAGS = frozenset({_TOKEN, _ERROR})


def looks_like(head: bytes) -> bool:
    return b"<OAI-PMH" in head[:4096]


def parse(stream: IO[bytes], *, file_label: str | None = None) -> Iterator[ParsedItem | Refusal]:
    """Every record of one (decompressed) ListRecords page, then any refusals in order."""
    for event in _events(stream, file_label):
        if not isinstance(event, str):
            yield event


def parse_page(data: bytes, *, file_label: str | None = None) -> ParseResult:
    """One page as the live fetcher receives it; ``next_token`` is None on the last page."""
    result = ParseResult()
    for event in _events(io.BytesIO(data), file_label):
        if isinstance(event, ParsedItem):
            result.items.append(event)
        elif isinstance(event, Refusal):
            result.refusals.append(event)
        else:
            result.next_token = event or None
    return result


def _events(stream: IO[bytes], file_label: str | None) -> Iterator[ParsedItem | Refusal | str]:
    """Records as ParsedItem / Refusal; the resumption token (possibly "") as a plain str."""
    count = 0
    try:
        for element in stream_elements(stream, _RECORD_TAGS, _OTHER_TAGS):
            tag = element.tag
            if tag == _RECORD:
                count += 1
                yield _record(element, count, file_label)
            elif tag == _TOKEN:
                yield (element.text or "").strip()
            else:  # <error code="...">: the whole request failed
                code = element.get("code") or "error"
                if code != _NO_RECORDS:
                    message = _collapse(element.text)
                    yield Refusal(
                        reason=f"OAI-PMH error {code}: {message}"
                        if message
                        else f"OAI-PMH error {code}",
                        position="response",
                        file=file_label,
                    )
    except PageRefused as exc:
        yield Refusal(
            reason=f"page refused after {count} record(s): {exc.reason}",
            position=exc.position,
            file=file_label,
        )
    except etree.XMLSyntaxError as exc:
        line, column = exc.position if exc.position else (None, None)
        where = f"line {line}, column {column}" if line else "unknown position"
        yield Refusal(
            reason=f"XML broken after {count} record(s): {exc.msg or exc}",
            position=where,
            file=file_label,
        )


def _record(record: etree._Element, number: int, file_label: str | None) -> ParsedItem | Refusal:
    position = f"record {number}"
    header_id: str | None = None
    meta = None
    deleted = False
    for part in record:
        if part.tag == _HEADER:
            deleted = part.get("status") == "deleted"
            for child in part:
                if child.tag == _IDENTIFIER:
                    header_id = (child.text or "").strip() or None
                    break
        elif part.tag == _METADATA:
            for child in part:
                if child.tag == _ARXIV:
                    meta = child
                    break
    if meta is None:
        reason = "deleted upstream (header status=deleted)" if deleted else "no <arXiv> metadata"
        return Refusal(reason=reason, record_id=header_id, position=position, file=file_label)

    fields: dict[str, str] = {}
    authors: list[Author] | None = None
    for child in meta:
        tag = child.tag
        name = _TEXT_FIELDS.get(tag)
        if name is not None:
            text = child.text if len(child) == 0 else "".join(child.itertext())
            if text is not None:
                text = " ".join(text.split())
                if text:
                    fields[name] = text
        elif tag == _AUTHORS:
            authors = [_author(a) for a in child]
            authors = [a for a in authors if a is not None]

    raw_id = fields.get("id") or header_id
    if not raw_id:
        return Refusal(reason="record has no arXiv id", position=position, file=file_label)
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
            reason="record has no title", record_id=arxiv_id, position=position, file=file_label
        )

    abstract = fields.get("abstract")
    comments = fields.get("comments")
    categories = fields["categories"].split() if "categories" in fields else None
    github, project = find_links(abstract, comments)
    return ParsedItem(
        paper=PaperRecord(
            arxiv_id=arxiv_id,
            source=SOURCE_OAI,
            version=version,
            title=title,
            abstract=abstract,
            authors=authors,
            categories=categories,
            primary_category=categories[0] if categories else None,
            submitted_at=fields.get("created"),
            updated_at=fields.get("updated"),
            comments=comments,
            journal_ref=fields.get("journal_ref"),
            doi=fields.get("doi"),
            license=fields.get("license"),
            github_repo=github,
            project_page=project,
        )
    )


def _author(element: etree._Element) -> Author | None:
    keyname = forenames = suffix = None
    affiliations: list[str] = []
    for part in element:
        tag = part.tag
        text = part.text
        if not text:
            continue
        if tag == _KEYNAME:
            keyname = text
        elif tag == _FORENAMES:
            forenames = text
        elif tag == _SUFFIX:
            suffix = text
        elif tag == _AFFILIATION:
            affiliation = " ".join(text.split())
            if affiliation:
                affiliations.append(affiliation)
    name = " ".join(" ".join(p for p in (forenames, keyname, suffix) if p).split())
    if not name:
        return None
    return Author(name=name, affiliation="; ".join(affiliations) if affiliations else None)


def _collapse(text: str | None) -> str:
    return " ".join(text.split()) if text else ""
