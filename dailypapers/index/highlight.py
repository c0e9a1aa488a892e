"""Matched words marked in a result's title, abstract and author names, as safe HTML.

Ours rather than tantivy's SnippetGenerator: it reads the text we already have from the database
(the index stores no titles or abstracts, which keeps it small), its offsets are characters (the
generator's are UTF-8 bytes), and it marks authors too. Words match as the index matched them:
stemmed for title and abstract ("learning" for ``learn``), folded for names ("Müller" for
``muller``). Everything outside ``<mark>`` is HTML-escaped, so the output can be inserted as is.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from dailypapers.index.keyword_schema import EN_ANALYZER, NAMES_ANALYZER
from dailypapers.index.query import ParsedQuery, QueryError, parse_query

SNIPPET_CHARS = 300
_LEAD = 40  # characters of context kept before the first match, when the snippet starts mid-text
ELLIPSIS = "\u2026"


@dataclass
class Highlights:
    title: str  # the whole title, escaped, matches marked
    abstract: str  # a snippet of about SNIPPET_CHARS around the best cluster of matches
    authors: list[str] = field(default_factory=list)
    matched: bool = False  # whether anything was marked


def _query_terms(parsed: ParsedQuery) -> tuple[frozenset[str], frozenset[str]]:
    authors = tuple(str(f.value) for f in parsed.filters if f.key == "author" and not f.negated)
    return _terms(tuple(parsed.words), tuple(parsed.phrases), authors)


@lru_cache(maxsize=1024)  # a results page highlights 20 papers for the same query
def _terms(words: tuple[str, ...], phrases: tuple[str, ...], authors: tuple[str, ...]
           ) -> tuple[frozenset[str], frozenset[str]]:
    stems = set(EN_ANALYZER.analyze(" ".join(words + phrases)))
    names = {n for w in words + phrases if EN_ANALYZER.analyze(w)
             for n in NAMES_ANALYZER.analyze(w)}
    for author in authors:
        names.update(NAMES_ANALYZER.analyze(author))
    return frozenset(stems), frozenset(names)


# tantivy's simple tokenizer: runs of alphanumeric characters. Splitting here and analysing each
# distinct word once (cached) costs a tenth of ``pre_tokenize`` on a whole abstract.
_WORD = re.compile(r"[^\W_]+")


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str | None:
    out = EN_ANALYZER.analyze(word)
    return out[0] if len(out) == 1 else None


@lru_cache(maxsize=50_000)
def _name(word: str) -> str | None:
    out = NAMES_ANALYZER.analyze(word)
    return out[0] if len(out) == 1 else None


@lru_cache(maxsize=1024)
def _starting_with(heads: tuple[str, ...]) -> re.Pattern[str]:
    """Whole words (alphanumeric runs) that start with one of ``heads``, in any case."""
    return re.compile(r"(?<![^\W_])(?:" + "|".join(map(re.escape, heads)) + r")[^\W_]*",
                      re.IGNORECASE)


def _spans(text: str, analyze: Callable[[str], str | None],
           wanted: frozenset[str]) -> list[tuple[int, int]]:
    if not wanted or not text:
        return []
    # Stemming keeps a word's first two letters, so in ASCII text only words starting like a
    # wanted stem need analysing: 5x faster on abstracts. ASCII folding may change the start of
    # other words, so those texts are analysed word by word.
    if text.isascii():
        words = _starting_with(tuple(sorted({w[:2] for w in wanted}))).finditer(text)
    else:
        words = _WORD.finditer(text)
    return [m.span() for m in words if analyze(m.group()) in wanted]


def _render(text: str, spans: list[tuple[int, int]], start: int = 0, end: int | None = None) -> str:
    end = len(text) if end is None else end
    out, pos = [], start
    for lo, hi in spans:
        if lo < pos or hi > end:
            continue
        out.append(html.escape(text[pos:lo]))
        out.append(f"<mark>{html.escape(text[lo:hi])}</mark>")
        pos = hi
    out.append(html.escape(text[pos:end]))
    return "".join(out)


def _window(text: str, spans: list[tuple[int, int]], size: int) -> tuple[int, int]:
    """The ``size``-character window holding the most distinct matched words (then the most
    matches), widened to word boundaries."""
    if len(text) <= size:
        return 0, len(text)
    best, best_score = 0, (-1, -1)
    for lo, _ in spans or [(0, 0)]:
        start = max(0, lo - _LEAD)
        inside = [text[a:b].lower() for a, b in spans if a >= start and b <= start + size]
        score = (len(set(inside)), len(inside))
        if score > best_score:
            best, best_score = start, score
    start = best
    if start > 0:
        space = text.rfind(" ", 0, start + 1)
        start = space + 1 if space != -1 else 0
    end = min(len(text), start + size)
    if end < len(text):
        space = text.rfind(" ", start, end)
        end = space if space > start else end
    return start, end


def highlight(query: ParsedQuery | str, *, title: str = "", abstract: str = "",
              authors: list[str] | None = None, snippet_chars: int = SNIPPET_CHARS) -> Highlights:
    """Mark the query's words in a paper's texts. Never raises for a bad query (nothing marked)."""
    if isinstance(query, str):
        try:
            query = parse_query(query, strict=False)
        except QueryError:
            query = ParsedQuery()
    title = " ".join((title or "").split())  # arXiv titles carry line breaks
    abstract = " ".join((abstract or "").split())
    stems, names = _query_terms(query)
    title_spans = _spans(title, _stem, stems)
    abstract_spans = _spans(abstract, _stem, stems)
    start, end = _window(abstract, abstract_spans, snippet_chars)
    snippet = _render(abstract, abstract_spans, start, end)
    if start > 0:
        snippet = ELLIPSIS + snippet
    if end < len(abstract):
        snippet += ELLIPSIS
    marked_authors = []
    author_hits = False
    for name in authors or []:
        spans = _spans(name, _name, names)
        author_hits = author_hits or bool(spans)
        marked_authors.append(_render(name, spans))
    return Highlights(
        title=_render(title, title_spans),
        abstract=snippet,
        authors=marked_authors,
        matched=bool(title_spans or any(start <= a and b <= end for a, b in abstract_spans)
                     or author_hits),
    )
