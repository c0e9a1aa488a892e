"""Kaggle's ``arxiv-metadata-oai-snapshot.json`` (JSON lines, one paper a line) → records.

The real file is several GB, so it is read line by line and nothing is kept between lines.
``versions`` (``[{"version": "v1", "created": "Mon, 2 Apr 2007 19:18:42 GMT"}, ...]``) gives the
latest version number and the first / latest version dates; ``update_date`` stands in for the
latest date when there are no versions. ``authors_parsed`` (``[keyname, forenames, suffix,
affiliation...]``) is preferred to the free-text ``authors``.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from typing import IO, Any

from dailypapers.ids import InvalidArxivId, split_arxiv_id
from dailypapers.ingest.arxiv_rss import split_author_list
from dailypapers.ingest.links import find_links
from dailypapers.ingest.records import SOURCE_KAGGLE, Author, PaperRecord, ParsedItem, Refusal

_ID_IN_LINE = re.compile(rb'"id"\s*:\s*"([^"]{1,64})"')
_SNAPSHOT_KEYS = (
    b'"abstract"',
    b'"versions"',
    b'"authors_parsed"',
    b'"submitter"',
    b'"categories"',
    b'"title"',
)
_VERSION = re.compile(r"^v(\d+)$")
# authors_parsed sometimes keeps unresolved affiliation markers ("1 and 2") as affiliations.
_MARKER_ONLY = re.compile(r"^[\d\s,;&()]*(?:and[\d\s,;&()]*)*$")


class RecordRefused(ValueError):
    """A decoded line that cannot be taken."""

    def __init__(self, reason: str, record_id: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.record_id = record_id


def looks_like(head: bytes) -> bool:
    """The first non-blank line is a JSON object with arXiv snapshot keys."""
    text = head[:4096].removeprefix(b"\xef\xbb\xbf").lstrip()
    if not text.startswith(b"{"):
        return False
    line = text.split(b"\n", 1)[0]
    if b'"id"' not in line:
        return False
    return sum(key in line for key in _SNAPSHOT_KEYS) >= 2


def parse(stream: IO[bytes], *, file_label: str | None = None) -> Iterator[ParsedItem | Refusal]:
    for number, line in enumerate(stream, 1):
        if not line.strip():
            continue
        position = f"line {number}"
        try:
            raw = json.loads(line)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            # RecursionError: the decoder recurses once per nesting level (100,000 "[" on a line).
            reason = (
                f"not readable: JSON nested deeper than {sys.getrecursionlimit():,} levels"
                if isinstance(exc, RecursionError) else f"not valid JSON: {exc}"
            )
            yield Refusal(
                reason=reason, record_id=_id_in_line(line), position=position, file=file_label
            )
            continue
        try:
            yield ParsedItem(paper=parse_object(raw))
        except RecordRefused as refused:
            yield Refusal(
                reason=refused.reason,
                record_id=refused.record_id,
                position=position,
                file=file_label,
            )
        except Exception as exc:  # noqa: BLE001 - one line's surprise must not sink the file
            yield Refusal(
                reason=f"could not be read: {type(exc).__name__}: {str(exc)[:300]}",
                record_id=_id_in_line(line), position=position, file=file_label,
            )


def _id_in_line(line: bytes) -> str | None:
    m = _ID_IN_LINE.search(line)
    return m.group(1).decode("utf-8", "replace") if m else None


def parse_object(raw: Any) -> PaperRecord:
    """One decoded line; raises ``RecordRefused`` when it cannot be taken."""
    if not isinstance(raw, dict):
        raise RecordRefused(f"expected a JSON object, got {type(raw).__name__}")
    raw_id = raw.get("id")
    if not isinstance(raw_id, str) or not raw_id.strip():
        raise RecordRefused("record has no arXiv id")
    try:
        arxiv_id, id_version = split_arxiv_id(raw_id)
    except InvalidArxivId:
        raise RecordRefused(f"not an arXiv id: {raw_id!r}", raw_id) from None
    title = _text(raw.get("title"))
    if not title:
        raise RecordRefused("record has no title", arxiv_id)

    version, first_created, last_created = _versions(raw.get("versions"))
    abstract = _text(raw.get("abstract"))
    comments = _text(raw.get("comments"))
    categories = (_text(raw.get("categories")) or "").split() or None
    github, project = find_links(abstract, comments)
    return PaperRecord(
        arxiv_id=arxiv_id,
        source=SOURCE_KAGGLE,
        version=version or id_version,
        title=title,
        abstract=abstract,
        authors=_authors(raw.get("authors_parsed"), raw.get("authors")),
        categories=categories,
        primary_category=categories[0] if categories else None,
        submitted_at=first_created,
        updated_at=last_created or _text(raw.get("update_date")),
        comments=comments,
        journal_ref=_text(raw.get("journal-ref")),
        doi=_text(raw.get("doi")),
        license=_text(raw.get("license")),
        github_repo=github,
        project_page=project,
    )


def _text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return " ".join(value.split()) or None


def _versions(value: Any) -> tuple[int | None, str | None, str | None]:
    """(highest version, created of the lowest, created of the highest)."""
    if not isinstance(value, list):
        return None, None, None
    numbered: list[tuple[int, str | None]] = []
    for entry in value:
        if not isinstance(entry, dict):
            continue
        m = _VERSION.match(str(entry.get("version") or "").strip())
        if m:
            created = entry.get("created")
            numbered.append(
                (int(m.group(1)), created.strip() if isinstance(created, str) else None)
            )
    if not numbered:
        return None, None, None
    first = min(numbered, key=lambda v: v[0])
    last = max(numbered, key=lambda v: v[0])
    return last[0], first[1] or None, last[1] or None


def _authors(parsed: Any, free_text: Any) -> list[Author] | None:
    authors: list[Author] = []
    if isinstance(parsed, list):
        for entry in parsed:
            if not isinstance(entry, list) or not entry:
                continue
            parts = [p if isinstance(p, str) else "" for p in entry]
            keyname, forenames, suffix = (parts + ["", "", ""])[:3]
            name = " ".join(" ".join(p for p in (forenames, keyname, suffix) if p).split())
            if not name:
                continue
            affiliations = [" ".join(a.split()) for a in parts[3:]]
            affiliations = [a for a in affiliations if a and not _MARKER_ONLY.match(a)]
            authors.append(Author(name=name, affiliation="; ".join(affiliations) or None))
    if not authors and isinstance(free_text, str):
        authors = [Author(name=name) for name in split_author_list(free_text)]
    return authors or None
