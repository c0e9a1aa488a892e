"""The search box's syntax, parsed by us: user text never reaches tantivy's own query parser.

Syntax (documented for the search page's help and the API):

- bare words: any may match (BM25 over title, abstract and author names); papers matching more
  of them, in their title, or the whole query as the title rank higher;
- ``"exact phrase"``: the words must appear in this order (title, abstract or an author's name);
- ``-word`` / ``-"a phrase"``: leave out papers containing it; ``-cat:``, ``-author:``,
  ``-year:`` and ``-has:`` negate a filter;
- ``author:lecun``, ``author:"yann lecun"``; ``cat:cs.CL`` (``cat:cs`` means any ``cs.*``);
  ``year:2025``, ``year:2020-2023``, ``year:>=2020``; ``has:code``. Repeated filters must all hold.
  A filter key is case-insensitive and ``author: "Yann LeCun"`` (a space after the colon) works;
- an arXiv id or URL (``2401.12345``, ``arXiv:2401.12345v2``, ``cs/0112017``,
  ``https://arxiv.org/abs/...``) finds that paper first.

Unknown filters: a token ``key:value`` whose key is all lowercase letters and not a filter we know
(``foo:bar``, ``auther:smith``) raises ``QueryError`` in strict mode, which the API turns into a
400 whose message names the known filters; with ``strict=False`` (for HTML pages) it is searched
as words and a warning says so. Anything else with a colon (``BERT:``, ``Mamba:Linear``, URLs) is
plain words, so pasted titles never fail. Quoting (``"re:invent"``) always means words.

Hostile input never raises anything but ``QueryError``: text is cut to ``MAX_QUERY_CHARS``
(a warning says so), control characters, lone surrogates and NULs become spaces, an unbalanced
quote is ignored (its words are searched as bare words), and query-language characters of other
engines (``( ) : AND * ~ ^``) are just punctuation, dropped by the analyzer.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from dailypapers.ids import InvalidArxivId, split_arxiv_id

MAX_QUERY_CHARS = 512  # longer than any title; a 10 kB paste is cut, not refused
MAX_TERMS = 64  # words + phrases + filters kept; more add nothing but cost
FILTER_KEYS = ("author", "cat", "year", "has")
HAS_VALUES = ("code",)

_KEY = re.compile(r"^(-?)([A-Za-z]+):(.*)$", re.S)
_CATEGORY = re.compile(r"^[a-z][a-z\-]*(\.[a-z][a-z\-]*)?$")
_YEAR_SINGLE = re.compile(r"^(\d{4})$")
_YEAR_RANGE = re.compile(r"^(\d{4})?(?:-|\.\.)(\d{4})?$")
_YEAR_CMP = re.compile(r"^(>=|<=|>|<)(\d{4})$")
_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"',
                         "\uff02": '"'})
_TRIM = ".,;!?)]}'"  # trailing punctuation a pasted id may carry


class QueryError(ValueError):
    """A query we refuse to guess at; ``str(exc)`` is a message fit to show the user (API: 400)."""


@dataclass(frozen=True)
class Filter:
    key: str  # "author" | "cat" | "year" | "has"
    value: object  # author: str; cat: str (lowercased); year: (lo, hi) inclusive; has: "code"
    negated: bool = False
    phrase: bool = False  # author:"full name"


@dataclass
class ParsedQuery:
    text: str = ""  # the cleaned (and possibly truncated) text
    words: list[str] = field(default_factory=list)
    phrases: list[str] = field(default_factory=list)
    exclude_words: list[str] = field(default_factory=list)
    exclude_phrases: list[str] = field(default_factory=list)
    filters: list[Filter] = field(default_factory=list)
    arxiv_ids: list[str] = field(default_factory=list)
    exclude_ids: list[str] = field(default_factory=list)  # -2401.12345: leave that paper out
    positive: list[str] = field(default_factory=list)  # words and phrases in typed order
    warnings: list[str] = field(default_factory=list)
    truncated: bool = False

    @property
    def free_text(self) -> str:
        """The words and phrases as typed, for matching a whole title."""
        return " ".join(self.positive)

    @property
    def has_filters(self) -> bool:
        return bool(self.filters)

    @property
    def is_empty(self) -> bool:
        return not (self.positive or self.exclude_words or self.exclude_phrases or self.filters
                    or self.arxiv_ids or self.exclude_ids)


def clean_text(raw: str | bytes | None) -> tuple[str, bool]:
    """Text safe for every later step, and whether it was truncated."""
    if raw is None:
        return "", False
    if isinstance(raw, (bytes, bytearray)):
        raw = bytes(raw).decode("utf-8", "replace")
    # Cut before normalising too: NFKC of a 10 MB paste should not cost anything.
    truncated = len(raw) > MAX_QUERY_CHARS * 4
    text = unicodedata.normalize("NFKC", raw[:MAX_QUERY_CHARS * 4]).translate(_QUOTES)
    # Controls, NUL, lone surrogates (unencodable in UTF-8, Rust would refuse them), format chars.
    text = "".join(" " if unicodedata.category(ch)[0] == "C" else ch for ch in text)
    text = " ".join(text.split())
    if len(text) > MAX_QUERY_CHARS:
        text = text[:MAX_QUERY_CHARS]
        cut = text.rfind(" ")
        if cut > MAX_QUERY_CHARS // 2:
            text = text[:cut]  # do not search half a word
        truncated = True
    return text, truncated


_UNBALANCED = ("", "", False)  # marker token


def _tokens(text: str) -> list[tuple[str, str, bool]]:
    """Split into (prefix, body, quoted) triples. A quote opens a phrase only at a token's start,
    after an optional prefix ``-``, ``key:`` or ``-key:``; a quote inside a word is punctuation.
    An unbalanced quote is dropped (marker ``_UNBALANCED``) and the words after it stay bare."""
    out: list[tuple[str, str, bool]] = []
    i, n = 0, len(text)
    while i < n:
        if text[i] == " ":
            i += 1
            continue
        j = i
        while j < n and text[j] != " " and text[j] != '"':
            j += 1
        prefix = text[i:j]
        if j < n and text[j] == '"' and (prefix in ("", "-") or _KEY.match(prefix)):
            close = text.find('"', j + 1)
            if close != -1:
                out.append((prefix, text[j + 1:close], True))
                i = close + 1
                continue
            if prefix:
                out.append(("", prefix, False))
            out.append(_UNBALANCED)
            i = j + 1
            continue
        while j < n and text[j] != " ":
            j += 1
        out.append(("", text[i:j], False))
        i = j
    return out


def parse_query(raw: str | bytes | None, *, strict: bool = True) -> ParsedQuery:
    """Parse search-box text; raises only ``QueryError`` (see the module docstring)."""
    text, truncated = clean_text(raw)
    parsed = ParsedQuery(text=text, truncated=truncated)
    if truncated:
        parsed.warnings.append(f"query cut to its first {MAX_QUERY_CHARS} characters")
    tokens = _tokens(text)
    kept = i = 0
    while i < len(tokens):
        prefix, body, quoted = tokens[i]
        i += 1
        if tokens[i - 1] is _UNBALANCED:
            if "unbalanced quote ignored" not in parsed.warnings:
                parsed.warnings.append("unbalanced quote ignored")
            continue
        if kept >= MAX_TERMS:
            parsed.warnings.append(f"only the first {MAX_TERMS} terms are used")
            break
        kept += 1
        negated = prefix.startswith("-") if quoted else body.startswith("-")
        if quoted:
            if prefix in ("", "-"):
                if negated:
                    _add(parsed.exclude_phrases, body)
                elif body.strip():
                    parsed.phrases.append(body)
                    parsed.positive.append(body)
                continue
            typed = _KEY.match(prefix).group(2)  # type: ignore[union-attr]
            key = typed.lower()
            if key in FILTER_KEYS:
                parsed.filters.append(_filter(key, body, negated, phrase=True))
                continue
            if not typed.islower():  # Mamba:"Linear Time", a pasted title: words, as unquoted
                _add_words(parsed, f"{prefix.lstrip('-')} {body}")
                continue
            if strict:
                raise QueryError(_unknown(key))
            parsed.warnings.append(f"unknown filter '{key}:' searched as words")
            _add_words(parsed, body)
            continue
        token = body[1:] if negated else body
        arxiv = _as_arxiv_id(token)
        if arxiv:
            (parsed.exclude_ids if negated else parsed.arxiv_ids).append(arxiv)
            continue
        m = _KEY.match(token)
        if m:
            key, value = m.group(2), m.group(3)
            if key.lower() in FILTER_KEYS:
                phrase = False
                if value == "" and i < len(tokens) and tokens[i] is not _UNBALANCED \
                        and tokens[i][0] == "":
                    _, value, phrase = tokens[i]  # "author: Smith", author: "Yann LeCun"
                    i += 1
                parsed.filters.append(_filter(key.lower(), value, negated, phrase))
                continue
            if key.islower() and value and not value.startswith("/"):  # URLs are words
                if strict:
                    raise QueryError(_unknown(key))
                parsed.warnings.append(f"unknown filter '{key}:' searched as words")
        if negated:
            if token:
                parsed.exclude_words.append(token)
            continue
        parsed.words.append(token)
        parsed.positive.append(token)
    parsed.arxiv_ids = list(dict.fromkeys(parsed.arxiv_ids))
    return parsed


def _unknown(key: str) -> str:
    known = ", ".join(f"{k}:" for k in FILTER_KEYS)
    return (f"unknown filter '{key}:'; the filters are {known} "
            "(put text in quotes to search for it as words)")


def _add_words(parsed: ParsedQuery, text: str) -> None:
    for word in text.split():
        parsed.words.append(word)
        parsed.positive.append(word)


def _add(bucket: list[str], value: str) -> None:
    if value.strip():
        bucket.append(value)


def _as_arxiv_id(token: str) -> str | None:
    """The canonical id if the token is an arXiv id or URL, else None."""
    candidate = token.rstrip(_TRIM)
    if not candidate or not (candidate[0].isdigit() or "/" in candidate or ":" in candidate):
        return None  # cheap pre-check: most words are not ids
    try:
        return split_arxiv_id(candidate)[0]
    except InvalidArxivId:
        return None


def _filter(key: str, value: str, negated: bool, phrase: bool) -> Filter:
    value = value.strip()
    if not value:
        raise QueryError(f"'{key}:' needs a value, e.g. {_EXAMPLES[key]}")
    if key == "author":
        return Filter("author", value, negated, phrase)
    if key == "cat":
        cat = value.lower()
        if cat.endswith(".*"):
            cat = cat[:-2]
        if not _CATEGORY.match(cat):
            raise QueryError(f"'cat:{value}' is not an arXiv category, e.g. {_EXAMPLES['cat']}")
        return Filter("cat", cat, negated)
    if key == "year":
        return Filter("year", _year_range(value), negated)
    if value.lower() not in HAS_VALUES:
        raise QueryError(f"'has:{value}' is not known; use {_EXAMPLES['has']}")
    return Filter("has", value.lower(), negated)


_EXAMPLES = {"author": 'author:lecun or author:"yann lecun"', "cat": "cat:cs.CL or cat:cs",
             "year": "year:2025, year:2020-2023 or year:>=2020", "has": "has:code"}


def _year_range(value: str) -> tuple[int, int]:
    lo, hi = 1, 9999
    if m := _YEAR_SINGLE.match(value):
        lo = hi = int(m.group(1))
    elif (m := _YEAR_RANGE.match(value)) and (m.group(1) or m.group(2)):
        lo = int(m.group(1)) if m.group(1) else lo
        hi = int(m.group(2)) if m.group(2) else hi
    elif m := _YEAR_CMP.match(value):
        op, year = m.group(1), int(m.group(2))
        lo, hi = {">=": (year, hi), ">": (year + 1, hi), "<=": (lo, year), "<": (lo, year - 1)}[op]
    else:
        raise QueryError(f"'year:{value}' is not a year; use {_EXAMPLES['year']}")
    if lo > hi:
        raise QueryError(f"'year:{value}' is an empty range")
    return lo, hi
