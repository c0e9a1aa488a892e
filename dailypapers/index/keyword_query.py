"""Our parsed query (``query.ParsedQuery``) → one tantivy query, with the ranking recipe.

Ranking for relevance (weights in ``Weights``):
- BM25 of each query word over ``text`` (title + abstract), plus the title again at 0.3: bare
  words are OR'ed, so a long question still finds papers matching part of it;
- a word that is an author's name scores its IDF (``authors``), the same for every paper with that
  name: BM25's length normalisation would make one name among 50 authors worth a tenth of one
  among 3, and the papers people look up by author tend to have long author lists;
- papers holding every word get their BM25 counted again (``all_words``);
- papers where every word is in the title or an author's name, at least one in a name ("Vaswani
  attention"), get that BM25 counted again too (``title_or_author``);
- a bonus when the words form a phrase in the title, and a large constant when the whole query is
  the title (normalised), so a pasted title comes first;
- an arXiv id in the query outranks everything;
- a word that is in no document (a typo) is also looked up in titles at edit distance 1.
Measured with these weights: SciFact train nDCG@10 0.706 (bm25s reference 0.696); on 1,500
hf-daily papers among all 110k: ids and full titles hit@1 1.000, first half of a title 0.981,
a title with two letters swapped 0.988, ai_summary 0.997; hit@10 for surname + longest title word
0.80, two ai_keywords 0.78. bench/known_item.py (7,414 hf papers among 110k, 1,000 queries a kind,
keyword mode): surname + a random title word hit@10 0.555 with author names as BM25 at 1.0 and no
title-or-author bonus, 0.583 with the flat IDF, 0.694 with the bonus too (most remaining misses
name an author with more than ten papers holding that word in their title: no ranking from
these two words can tell them apart); other kinds within 0.004, SciFact unchanged (no authors).
Without the title phrase bonus half titles drop to 0.923 hit@1.

Sorting by newest or upvotes requires every word instead: an OR match sorted by date is noise.
Filters never change scores (constant 0).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import NamedTuple

import tantivy

from dailypapers.index.keyword_schema import (
    EN_ANALYZER,
    F_AUTHORS,
    F_CAT,
    F_DATE,
    F_FEATURED,
    F_HAS_CODE,
    F_ID,
    F_TEXT,
    F_TITLE,
    F_TITLE_KEY,
    F_YEAR,
    NAMES_ANALYZER,
    SCHEMA,
    normalize_title,
)
from dailypapers.index.query import ParsedQuery, QueryError

_Q = tantivy.Query
Must, Should, MustNot = tantivy.Occur.Must, tantivy.Occur.Should, tantivy.Occur.MustNot


@dataclass(frozen=True)
class Weights:
    title: float = 0.3  # extra BM25 on the title field, on top of ``text``
    authors: float = 1.0  # multiplies the IDF of a word found in an author's name
    title_phrase: float = 2.0  # multiplies BM25 of the query words as a phrase in the title
    # Constants far above any BM25 sum (a 512-character abstract as the query scores ~550), so a
    # score at or above ``exact_title`` means the query named the paper.
    exact_title: float = 100_000.0  # the query is the whole title
    arxiv_id: float = 10_000_000.0  # the query names the paper by id
    fuzzy: float = 0.5  # titles matching a word absent from the index at edit distance 1
    all_words: float = 1.0  # multiplies the BM25 of papers holding every word, counted again
    # Multiplies the BM25 of papers whose title or author names hold every word, one at least in
    # a name, counted again: surname + title word hit@10 0.583 → 0.694 (1.0: 0.685, 3.0: 0.695).
    title_or_author: float = 2.0


@dataclass(frozen=True)
class SearchFilters:
    date_from: dt.date | str | None = None  # inclusive, on the paper's date (keyword_schema)
    date_to: dt.date | str | None = None  # inclusive; a str must be YYYY-MM-DD (else QueryError)
    category: str | None = None  # "cs.CL", or an archive "cs"
    has_code: bool | None = None  # True: with a GitHub repo; False: without
    featured_only: bool = False  # featured on at least one day
    # Papers a moderator hid (catalog.hidden_paper_ids): left out before ranking and counting.
    hidden_ids: frozenset[str] = frozenset()
    # Only these papers (a digest's search within one period's papers); None: any paper.
    paper_ids: frozenset[str] | None = None


def _phrase(fld: str, analyzer: tantivy.TextAnalyzer, text: str) -> tantivy.Query | None:
    """Words in order; stop words removed by the analyzer keep their gap (positions)."""
    tokens = analyzer.pre_tokenize(text).tokens
    if not tokens:
        return None
    if len(tokens) == 1:
        return _Q.term_query(SCHEMA, fld, tokens[0].text)
    first = tokens[0].position
    return _Q.phrase_query(SCHEMA, fld, [(t.position - first, t.text) for t in tokens])


def _any(queries: list[tantivy.Query | None]) -> tantivy.Query | None:
    present = [q for q in queries if q is not None]
    if not present:
        return None
    return present[0] if len(present) == 1 else _Q.boolean_query([(Should, q) for q in present])


def _anywhere(text: str) -> tantivy.Query | None:
    """The words, in order, in the title, the abstract or one author's name."""
    return _any([_phrase(F_TEXT, EN_ANALYZER, text), _phrase(F_AUTHORS, NAMES_ANALYZER, text)])


def _author_term(name: str, weight: float, searcher: tantivy.Searcher | None
                 ) -> tantivy.Query | None:
    """A name token of the query in an author's name, worth its BM25 IDF whatever the length of the
    author list (plain BM25 when there is no searcher to count documents)."""
    term = _Q.term_query(SCHEMA, F_AUTHORS, name)
    if searcher is None:
        return _boost(term, weight)
    df = searcher.doc_freq(F_AUTHORS, name)
    if df == 0 or weight == 0:
        return None
    n = searcher.num_docs
    return _const(term, weight * math.log(1 + (n - df + 0.5) / (df + 0.5)))


def _boost(query: tantivy.Query | None, boost: float) -> tantivy.Query | None:
    if query is None or boost == 0:
        return None  # a zero weight switches the field off
    return query if boost == 1.0 else _Q.boost_query(query, boost)


def _const(query: tantivy.Query, score: float = 0.0) -> tantivy.Query:
    return _Q.const_score_query(query, score)


def _day_range(lo: dt.date | None, hi: dt.date | None) -> tantivy.Query:
    to_dt = lambda d: dt.datetime(d.year, d.month, d.day, tzinfo=dt.timezone.utc)  # noqa: E731
    return _Q.range_query(SCHEMA, F_DATE, tantivy.FieldType.Date,
                          to_dt(lo) if lo else tantivy.MIN_DATETIME,
                          to_dt(hi) if hi else tantivy.MAX_DATETIME)


class Built(NamedTuple):
    query: tantivy.Query | None  # None: nothing can match
    scored: bool  # whether any clause ranks (else sort by newest)


def build_query(parsed: ParsedQuery, filters: SearchFilters | None, *, require_all: bool,
                weights: Weights, searcher: tantivy.Searcher | None = None) -> Built:
    should: list[tantivy.Query] = []  # rank; at least one must match unless a phrase is required
    must: list[tantivy.Query] = []  # required text: phrases, and every word when require_all
    seen: set[str] = set()
    names: set[str] = set()
    groups: list[tantivy.Query] = []
    known: list[tantivy.Query] = []  # per word: in the title or an author's name
    in_names: list[tantivy.Query | None] = []  # per word: in an author's name
    for word in parsed.words:
        stems = EN_ANALYZER.analyze(word)
        if not stems:
            continue  # only stop words
        # The word somewhere in the paper ("pre-training" as a phrase), to require or reward all.
        group = _anywhere(word)
        if group is not None:
            groups.append(group)
        # Scoring: each stem once (a repeat would count twice in BM25). Hyphenated parts score
        # as separate terms, not a phrase: SciFact nDCG@10 0.705 against 0.696 as phrases.
        for stem in stems:
            if stem in seen:
                continue
            seen.add(stem)
            should.append(_Q.term_query(SCHEMA, F_TEXT, stem))
            should.append(_boost(_Q.term_query(SCHEMA, F_TITLE, stem), weights.title))
            if (searcher is not None and len(stem) >= 4
                    and searcher.doc_freq(F_TEXT, stem) == 0):  # a typo, or a word we lack
                should.append(_boost(_Q.fuzzy_term_query(SCHEMA, F_TITLE, stem, distance=1),
                                     weights.fuzzy))
        in_name = _phrase(F_AUTHORS, NAMES_ANALYZER, word)
        in_names.append(in_name)
        known.append(_any([_phrase(F_TITLE, EN_ANALYZER, word), in_name]))  # type: ignore[arg-type]
        for name in NAMES_ANALYZER.analyze(word):
            if name not in names:
                names.add(name)
                should.append(_author_term(name, weights.authors, searcher))
    if require_all:
        must.extend(groups)
    elif weights.all_words and len(groups) >= 2:
        # Papers holding every word count their BM25 again: surname + title word hit@10 0.70 →
        # 0.82 and two-keyword queries 0.72 → 0.79 on hf-daily; SciFact 0.705 → 0.706.
        should.append(_Q.boost_query(_Q.boolean_query([(Must, g) for g in groups]),
                                     weights.all_words))
    some_name = _any(in_names)
    if not require_all and weights.title_or_author and len(known) >= 2 and some_name is not None:
        # "Vaswani attention": a remembered author and title word. The abstract is left out: a
        # prolific author has many papers using the word somewhere, few with it in the title.
        should.append(_Q.boost_query(_Q.boolean_query(
            [(Must, q) for q in known] + [(Must, some_name)]), weights.title_or_author))
    if len(seen) >= 2:
        should.append(_boost(_phrase(F_TITLE, EN_ANALYZER, " ".join(parsed.words)),
                             weights.title_phrase))
    for text in parsed.phrases:
        must.append(_anywhere(text))
    must = [q for q in must if q is not None]
    scored = bool(seen or must or parsed.arxiv_ids)
    key = normalize_title(parsed.free_text)
    if key:
        should.append(_const(_Q.term_query(SCHEMA, F_TITLE_KEY, key), weights.exact_title))
    if parsed.arxiv_ids:
        should.append(_const(_Q.term_set_query(SCHEMA, F_ID, parsed.arxiv_ids), weights.arxiv_id))
    should = [q for q in should if q is not None]

    clauses: list[tuple[tantivy.Occur, tantivy.Query]] = [(Must, q) for q in must]
    if should:
        if must:
            clauses.extend((Should, q) for q in should)
        else:  # filters below are Must too: without this, words would become optional
            clauses.append((Must, _Q.boolean_query([(Should, q) for q in should])))
    positive = bool(clauses)
    clauses.extend(exclusions(parsed, filters))
    restricting = False
    for occur, query in filter_clauses(parsed, filters):
        if query is None:
            return Built(None, False)  # e.g. author:"()" holds no name: nothing can match
        clauses.append((occur, query))
        restricting = True
    if not positive:
        if parsed.words or parsed.phrases:
            return Built(None, False)  # only stop words: do not list everything instead
        if not (restricting or parsed.exclude_words or parsed.exclude_phrases
                or parsed.exclude_ids):
            return Built(None, False)  # an empty query
        clauses.append((Must, _const(_Q.all_query())))
    return Built(_Q.boolean_query(clauses), scored)


def exclusions(parsed: ParsedQuery, filters: SearchFilters | None = None
               ) -> list[tuple[tantivy.Occur, tantivy.Query]]:
    found = [_anywhere(text) for text in parsed.exclude_words + parsed.exclude_phrases]
    if parsed.exclude_ids:
        found.append(_Q.term_set_query(SCHEMA, F_ID, parsed.exclude_ids))
    if filters is not None and filters.hidden_ids:
        found.append(_Q.term_set_query(SCHEMA, F_ID, sorted(filters.hidden_ids)))
    return [(MustNot, q) for q in found if q is not None]


def filter_clauses(parsed: ParsedQuery, filters: SearchFilters | None
                    ) -> list[tuple[tantivy.Occur, tantivy.Query | None]]:
    """The query's filters and the form's, scoring nothing. ``None`` in a Must clause means
    the filter can match nothing."""
    out: list[tuple[tantivy.Occur, tantivy.Query | None]] = []
    for flt in parsed.filters:
        query = _filter_query(flt.key, flt.value)
        if query is None and flt.negated:
            continue  # excluding an author with no name in it excludes nothing
        out.append((MustNot if flt.negated else Must, None if query is None else _const(query)))
    out.extend((Must, _const(q)) for q in _search_filters(filters))
    return out


def _filter_query(key: str, value: object) -> tantivy.Query | None:
    if key == "author":
        return _phrase(F_AUTHORS, NAMES_ANALYZER, str(value))
    if key == "cat":
        return _Q.term_query(SCHEMA, F_CAT, str(value))
    if key == "year":
        lo, hi = value  # type: ignore[misc]
        return _Q.range_query(SCHEMA, F_YEAR, tantivy.FieldType.Integer, lo, hi)
    return _Q.term_query(SCHEMA, F_HAS_CODE, True)  # has:code


def _as_date(value: dt.date | str | None, name: str) -> dt.date | None:
    if value is None or value == "" or isinstance(value, dt.date):
        return value or None  # type: ignore[return-value]
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        raise QueryError(f"{name} {value!r} is not a date: expected YYYY-MM-DD") from None


def _search_filters(filters: SearchFilters | None) -> list[tantivy.Query]:
    if filters is None:
        return []
    out = []
    lo, hi = _as_date(filters.date_from, "date_from"), _as_date(filters.date_to, "date_to")
    if lo or hi:
        out.append(_day_range(lo, hi))
    if filters.category:
        out.append(_Q.term_query(SCHEMA, F_CAT, filters.category.strip().lower()[:64]))
    if filters.has_code is not None:
        out.append(_Q.term_query(SCHEMA, F_HAS_CODE, bool(filters.has_code)))
    if filters.featured_only:
        out.append(_Q.term_query(SCHEMA, F_FEATURED, True))
    if filters.paper_ids is not None:
        out.append(tantivy.Query.term_set_query(SCHEMA, F_ID, sorted(filters.paper_ids)))
    return out
