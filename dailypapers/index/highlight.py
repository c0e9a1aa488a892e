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
# Hostile texts (one imported abstract repeating "model" 20,000 times took 7 s to highlight when
# the window choice was quadratic) are bounded twice. Only the first MAX_SCAN_CHARS characters of
# a field are searched for matches: arXiv caps abstracts at 1,920 characters, so five times that
# covers every real one, and scanning it costs under 10 ms even when every word matches. And a
# field gets at most MAX_MARKS marks: a 300-character snippet of one-letter matches holds ~150.
MAX_SCAN_CHARS = 10_000
MAX_MARKS = 50


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


def _spans(text: str, analyze: Callable[[str], str | None], wanted: frozenset[str],
           scan: int = MAX_SCAN_CHARS) -> list[tuple[int, int]]:
    """Where ``wanted`` words are in the first ``scan`` characters of ``text``."""
    if not wanted or not text or scan <= 0:
        return []
    scan = min(scan, len(text))
    # Stemming keeps a word's first two letters, so in ASCII text only words starting like a
    # wanted stem need analysing: 5x faster on abstracts. ASCII folding may change the start of
    # other words, so those texts are analysed word by word.
    if text[:scan].isascii():
        words = _starting_with(tuple(sorted({w[:2] for w in wanted}))).finditer(text, 0, scan)
    else:
        words = _WORD.finditer(text, 0, scan)
    return [m.span() for m in words if analyze(m.group()) in wanted]


def _render(text: str, spans: list[tuple[int, int]], start: int = 0, end: int | None = None,
            max_marks: int = MAX_MARKS) -> tuple[str, int]:
    """``text[start:end]`` escaped, at most ``max_marks`` spans marked; and how many were."""
    end = len(text) if end is None else end
    out, pos, marks = [], start, 0
    for lo, hi in spans:
        if marks >= max_marks or lo >= end:
            break
        if lo < pos or hi > end:
            continue
        out.append(html.escape(text[pos:lo]))
        out.append(f"<mark>{html.escape(text[lo:hi])}</mark>")
        pos = hi
        marks += 1
    out.append(html.escape(text[pos:end]))
    return "".join(out), marks


def _best_start(text: str, spans: list[tuple[int, int]], size: int) -> int:
    """Where the ``size``-character window holding the most distinct matched words (then the
    most matches, then the earliest) starts. Candidates start ``_LEAD`` characters before a
    match. One pass: both ends of the window only move forward over the (sorted, disjoint)
    spans, with a count per distinct word inside."""
    words = [text[a:b].lower() for a, b in spans]
    counts: dict[str, int] = {}
    first = last = 0  # spans[first:last] lie inside the current window
    best, best_score = 0, (-1, -1)
    for lo, _ in spans or [(0, 0)]:
        start = max(0, lo - _LEAD)
        while last < len(spans) and spans[last][1] <= start + size:
            counts[words[last]] = counts.get(words[last], 0) + 1
            last += 1
        while first < last and spans[first][0] < start:
            counts[words[first]] -= 1
            if not counts[words[first]]:
                del counts[words[first]]
            first += 1
        score = (len(counts), last - first)
        if score > best_score:
            best, best_score = start, score
    return best


def _window(text: str, spans: list[tuple[int, int]], size: int) -> tuple[int, int]:
    """The ``size``-character window of ``_best_start``, widened to word boundaries."""
    if len(text) <= size:
        return 0, len(text)
    start = _best_start(text, spans, size)
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
    # Only the scanned part of the abstract can hold the snippet: cut before normalising (which
    # only shortens), so a megabyte abstract costs no more than a long one.
    cut = len(abstract or "") > MAX_SCAN_CHARS
    abstract = " ".join((abstract or "")[:MAX_SCAN_CHARS].split())
    stems, names = _query_terms(query)
    title_spans = _spans(title, _stem, stems)
    abstract_spans = _spans(abstract, _stem, stems)
    start, end = _window(abstract, abstract_spans, snippet_chars)
    snippet, abstract_marks = _render(abstract, abstract_spans, start, end)
    if start > 0:
        snippet = ELLIPSIS + snippet
    if end < len(abstract) or cut:
        snippet += ELLIPSIS
    marked_authors = []
    # The author list is one field: its scan and its marks are shared by all its names.
    scan, marks_left = MAX_SCAN_CHARS, MAX_MARKS
    for name in authors or []:
        spans = _spans(name, _name, names, scan)
        scan -= len(name)
        text, marks = _render(name, spans, max_marks=marks_left)
        marks_left -= marks
        marked_authors.append(text)
    marked_title, title_marks = _render(title, title_spans)
    return Highlights(
        title=marked_title,
        abstract=snippet,
        authors=marked_authors,
        matched=bool(title_marks or abstract_marks or marks_left < MAX_MARKS),
    )
