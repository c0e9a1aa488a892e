"""Bounded streaming over the arXiv XML formats (OAI-PMH pages, Atom answers, RSS feeds).

``lxml.etree.iterparse`` builds the tree as it reads: an element left in it stays in memory until
the end of the page. A 19 KB gzip can hold 5M empty ``<x/>`` elements (~700 MB of tree when only
records were freed), so here every element is freed once passed, whatever its name, and a page
that goes beyond the limits below is stopped where it goes wrong: the caller keeps the records
before that point and turns :class:`PageRefused` into a refusal.

Safety of the parser itself: no entity is resolved, nothing is fetched from the network, and
libxml2's own limits stay on (``huge_tree=False``: at most 10 MB per text node). A page with a
DOCTYPE is refused outright: arXiv never sends one, and it is where entity tricks start (entity
references left unresolved are tree nodes too, which no element count would see).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

from lxml import etree

# The arXiv formats nest at most 8 deep (OAI-PMH/ListRecords/record/metadata/arXiv/authors/
# author/keyname); libxml2 stops at 256 on its own.
MAX_DEPTH = 64
# Elements outside any record (envelope, headers, resumption token): ~6 on a real page.
MAX_OUTSIDE_ELEMENTS = 10_000
# Elements inside one record, kept until the record ends: ~25 for a usual paper, ~15,000 for the
# longest author lists (~5,000 authors); 100,000 empty elements take ~15 MB of tree.
MAX_RECORD_ELEMENTS = 100_000
# Elements in one page or file: an OAI page of 1,000 records holds ~23,000; an API answer of
# 30,000 entries (the API's largest) ~900,000.
MAX_PAGE_ELEMENTS = 2_000_000


class PageRefused(Exception):
    """The page went beyond a limit; ``position`` says where (``line N``)."""

    def __init__(self, reason: str, element: etree._Element | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        line = element.sourceline if element is not None else None
        self.position = f"line {line}" if line else None


def stream_elements(
    stream: IO[bytes] | str,
    record_tags: frozenset[str],
    other_tags: frozenset[str] = frozenset(),
) -> Iterator[etree._Element]:
    """Each record (an element whose tag is in ``record_tags``, complete) and each element named
    in ``other_tags`` outside records, in document order. An element is freed (cleared and
    unlinked) as soon as the caller moves past it; elements outside records are freed as they
    end. Raises :class:`PageRefused` at the first limit crossed, ``XMLSyntaxError`` as lxml does.
    """
    context = etree.iterparse(
        stream,
        events=("start", "end"),
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    depth = elements = outside = 0
    record_depth = 0  # depth of the open record, 0 outside records
    limit = 0  # the element number past which something must be checked (0: the root)
    for event, element in context:
        if event == "start":
            depth += 1
            elements += 1
            if record_depth and elements <= limit and depth <= MAX_DEPTH:
                continue  # inside a record, within bounds: the common case, kept short
            if elements == 1 and element.getroottree().docinfo.doctype:
                raise PageRefused("the page declares a DOCTYPE (arXiv sends none)", element)
            if depth > MAX_DEPTH:
                raise PageRefused(f"elements nested more than {MAX_DEPTH} deep", element)
            if elements > MAX_PAGE_ELEMENTS:
                raise PageRefused(f"more than {MAX_PAGE_ELEMENTS:,} elements in one page", element)
            if record_depth:
                raise PageRefused(f"more than {MAX_RECORD_ELEMENTS:,} elements in one record",
                                  element)
            if element.tag in record_tags:
                record_depth = depth
                limit = min(elements + MAX_RECORD_ELEMENTS - 1, MAX_PAGE_ELEMENTS)
            else:
                outside += 1
                if outside > MAX_OUTSIDE_ELEMENTS:
                    raise PageRefused(
                        f"more than {MAX_OUTSIDE_ELEMENTS:,} elements outside records", element
                    )
            continue
        depth -= 1
        if record_depth:
            if depth >= record_depth:
                continue  # inside a record: kept until the record ends
            record_depth = 0
            yield element
        elif element.tag in other_tags:
            yield element
        _free(element)


def _free(element: etree._Element) -> None:
    """Drop the element's content and every earlier sibling: at most one emptied element stays
    per open level."""
    element.clear(keep_tail=False)
    parent = element.getparent()
    if parent is not None:
        while element.getprevious() is not None:
            del parent[0]
