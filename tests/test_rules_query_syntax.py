"""The search box's syntax (index/query.py), rule by rule, on parse_query's answer: every bound
(512 characters, the 4x pre-cut, the half-query word cut, 64 terms), every ``year:`` form at its
edges, what each filter keeps and refuses with which message, quoting, negation, arXiv ids, and
which colon words are filters, refusals or plain words. Pure functions: no database."""

from __future__ import annotations

import pytest

from dailypapers.index.query import (MAX_QUERY_CHARS, MAX_TERMS, Filter, ParsedQuery, QueryError,
                                     clean_text, parse_query)


def _refused(text: str, *, strict: bool = True) -> str:
    with pytest.raises(QueryError) as caught:
        parse_query(text, strict=strict)
    return str(caught.value)


# --- cleaning and cutting ----------------------------------------------------------------------

def test_clean_text_of_nothing_bytes_and_controls() -> None:
    assert clean_text(None) == ("", False)
    assert clean_text(b"caf\xc3\xa9 \xff") == ("café \ufffd", False)
    assert clean_text(bytearray(b"ab")) == ("ab", False)
    # C0 controls, NUL, DEL, a format character (zero-width space): each a word break
    assert clean_text("a\x00b\x7fc\u200bd\te") == ("a b c d e", False)
    assert clean_text("  ｆｕｌｌ　width  ") == ("full width", False)  # NFKC, spaces squeezed
    assert clean_text("«guillemets» „low“") == ('"guillemets" "low"', False)


def test_exactly_512_characters_are_kept_whole_and_513_are_cut() -> None:
    assert clean_text("a" * 512) == ("a" * 512, False)
    text, truncated = clean_text("a" * 513)
    assert (text, truncated) == ("a" * 512, True)


def test_a_cut_ends_at_the_last_space_only_past_half_the_limit() -> None:
    past_half = "a" * 257 + " " + "b" * 300  # last space at 257 > 256: the half word goes
    assert clean_text(past_half) == ("a" * 257, True)
    at_half = "a" * 256 + " " + "b" * 300  # at 256 exactly: cut mid-word instead
    assert clean_text(at_half) == (at_half[:512], True)
    two_spaces = "a" * 257 + " " + "c" * 100 + " " + "b" * 300  # the last space, not the first
    assert clean_text(two_spaces) == ("a" * 257 + " " + "c" * 100, True)


def test_raw_text_past_four_times_the_limit_is_cut_before_anything_else() -> None:
    """A paste of 2048 characters (spaces mostly) is read whole; 2049 is already a cut."""
    assert clean_text("word" + " " * 2044) == ("word", False)
    assert clean_text("word" + " " * 2045) == ("word", True)
    assert clean_text(" " * 2048 + "tail") == ("", True)  # the tail was past the pre-cut


def test_a_cut_query_says_so() -> None:
    parsed = parse_query("a" * 600)
    assert parsed.truncated and parsed.warnings == [
        f"query cut to its first {MAX_QUERY_CHARS} characters"]
    assert parse_query("a" * 512).warnings == []


# --- terms ---------------------------------------------------------------------------------------

def test_only_the_first_64_terms_are_used() -> None:
    words = [f"w{n}" for n in range(70)]
    assert MAX_TERMS == 64
    exact = parse_query(" ".join(words[:64]))
    assert exact.words == words[:64] and exact.warnings == []
    over = parse_query(" ".join(words[:65]))
    assert over.words == words[:64]
    assert over.warnings == ["only the first 64 terms are used"]


def test_phrases_words_and_their_negations() -> None:
    parsed = parse_query('alpha "beta gamma" -delta -"epsilon zeta" "" -"  " -')
    assert parsed.words == ["alpha"]
    assert parsed.phrases == ["beta gamma"]
    assert parsed.exclude_words == ["delta"]
    assert parsed.exclude_phrases == ["epsilon zeta"]
    assert parsed.positive == ["alpha", "beta gamma"]  # in typed order
    assert parsed.free_text == "alpha beta gamma"
    assert parsed.filters == [] and not parsed.has_filters and not parsed.is_empty
    assert parse_query('"" -"  " -').is_empty


@pytest.mark.parametrize("text", ["-delta", '-"a b"', "cat:cs", "2401.12345", "-2401.12345",
                                  "word"])
def test_any_single_kind_of_term_makes_a_query_non_empty(text: str) -> None:
    assert not parse_query(text).is_empty


def test_a_quote_inside_a_word_is_punctuation_and_an_unbalanced_one_is_dropped() -> None:
    assert parse_query('a"b c').words == ['a"b', "c"]
    parsed = parse_query('"open a "')
    assert parsed.phrases == ["open a "] and parsed.warnings == []
    unbalanced = parse_query('x "open a b')
    assert unbalanced.words == ["x", "open", "a", "b"] and unbalanced.phrases == []
    assert unbalanced.warnings == ["unbalanced quote ignored"]
    twice = parse_query('x "one" "two')
    assert twice.phrases == ["one"] and twice.words == ["x", "two"]
    closed_late = parse_query('a "b "c')  # the second quote closes the phrase, mid-word
    assert closed_late.phrases == ["b "] and closed_late.words == ["a", "c"]
    dangling = parse_query('-"open ended')  # the lone "-" excludes nothing
    assert dangling.words == ["open", "ended"] and dangling.exclude_words == []
    assert dangling.phrases == [] and dangling.exclude_phrases == []
    odd = parse_query('a"bc de')  # a mid-word quote: the word still ends at the space
    assert odd.words == ['a"bc', "de"]


def test_arxiv_ids_are_found_trimmed_deduplicated_and_negatable() -> None:
    parsed = parse_query("2401.12345, arXiv:2401.12345v2 -2402.00001 "
                         "https://arxiv.org/abs/cs/0112017v1. word")
    assert parsed.arxiv_ids == ["2401.12345", "cs/0112017"]
    assert parsed.exclude_ids == ["2402.00001"]
    assert parsed.words == ["word"]
    assert parse_query("2401").arxiv_ids == [] and parse_query("2401").words == ["2401"]
    assert parse_query("a/b").words == ["a/b"]


# --- filters -------------------------------------------------------------------------------------

def test_filters_parse_to_their_values() -> None:
    parsed = parse_query('author:lecun AUTHOR:"Yann LeCun" -author: Hinton cat:CS.CL cat:cs.* '
                         "-cat:math has:CODE -has:code")
    assert parsed.filters == [
        Filter("author", "lecun"), Filter("author", "Yann LeCun", phrase=True),
        Filter("author", "Hinton", negated=True), Filter("cat", "cs.cl"), Filter("cat", "cs"),
        Filter("cat", "math", negated=True), Filter("has", "code"),
        Filter("has", "code", negated=True)]
    assert parsed.words == [] and parsed.has_filters
    spaced = parse_query('author: "Yann LeCun" next')
    assert spaced.filters == [Filter("author", "Yann LeCun", phrase=True)]
    assert spaced.words == ["next"]


@pytest.mark.parametrize("value, expected", [
    ("2020", (2020, 2020)), ("2020-2023", (2020, 2023)), ("2020..2023", (2020, 2023)),
    ("2020-2020", (2020, 2020)), ("-2020", (1, 2020)), ("2020-", (2020, 9999)),
    ("..2020", (1, 2020)), (">=2020", (2020, 9999)), (">2020", (2021, 9999)),
    ("<=2020", (1, 2020)), ("<2020", (1, 2019)),
])
def test_every_year_form_at_its_edges(value: str, expected: tuple[int, int]) -> None:
    assert parse_query(f"year:{value}").filters == [Filter("year", expected)]


@pytest.mark.parametrize("query, message", [
    ("year:2023-2020", "'year:2023-2020' is an empty range"),
    ("year:-", "'year:-' is not a year; use year:2025, year:2020-2023 or year:>=2020"),
    ("year:20", "'year:20' is not a year; use year:2025, year:2020-2023 or year:>=2020"),
    ("year:=2020", "'year:=2020' is not a year; use year:2025, year:2020-2023 or year:>=2020"),
    ("author:", """'author:' needs a value, e.g. author:lecun or author:"yann lecun\""""),
    ('author: "open', """'author:' needs a value, e.g. author:lecun or author:"yann lecun\""""),
    ('author:"  "', """'author:' needs a value, e.g. author:lecun or author:"yann lecun\""""),
    ("cat:", "'cat:' needs a value, e.g. cat:cs.CL or cat:cs"),
    ("cat:cs.CL!", "'cat:cs.CL!' is not an arXiv category, e.g. cat:cs.CL or cat:cs"),
    ("cat:1cs", "'cat:1cs' is not an arXiv category, e.g. cat:cs.CL or cat:cs"),
    ("cat:cs.cl.x", "'cat:cs.cl.x' is not an arXiv category, e.g. cat:cs.CL or cat:cs"),
    ("has:pdf", "'has:pdf' is not known; use has:code"),
    ("-year:", "'year:' needs a value, e.g. year:2025, year:2020-2023 or year:>=2020"),
    ("has:", "'has:' needs a value, e.g. has:code"),
])
def test_malformed_filters_are_refused_with_an_example(query: str, message: str) -> None:
    assert _refused(query) == message
    assert _refused(query, strict=False) == message  # pages too: a known filter, misspelt value


def test_categories_with_hyphens_are_categories() -> None:
    assert parse_query("cat:q-bio.NC").filters == [Filter("cat", "q-bio.nc")]
    assert parse_query("cat:hep-th").filters == [Filter("cat", "hep-th")]
    assert parse_query("cat:math.*").filters == [Filter("cat", "math")]  # ".*": any of math


def test_every_filter_can_be_negated() -> None:
    parsed = parse_query('-year:2020 -has:code -cat:cs -author:x -author:"Ada L"')
    assert parsed.filters == [
        Filter("year", (2020, 2020), negated=True), Filter("has", "code", negated=True),
        Filter("cat", "cs", negated=True), Filter("author", "x", negated=True),
        Filter("author", "Ada L", negated=True, phrase=True)]
    assert [f.key for f in parse_query("has:code").filters] == ["has"]


# --- which colon words are filters --------------------------------------------------------------

UNKNOWN = ("unknown filter 'foo:'; the filters are author:, cat:, year:, has: "
           "(put text in quotes to search for it as words)")


def test_an_unknown_lowercase_filter_is_refused_or_searched_as_words() -> None:
    assert _refused("foo:bar") == UNKNOWN
    with pytest.raises(QueryError):  # strict unless told otherwise
        parse_query("foo:bar")
    assert _refused('foo:"bar baz"') == UNKNOWN
    loose = parse_query("foo:bar", strict=False)
    assert loose.words == ["foo:bar"] and loose.warnings == ["unknown filter 'foo:' searched as words"]
    quoted = parse_query('foo:"bar baz" after', strict=False)
    assert quoted.words == ["bar", "baz", "after"] and quoted.filters == []
    assert quoted.positive == ["bar", "baz", "after"] and quoted.free_text == "bar baz after"
    assert quoted.warnings == ["unknown filter 'foo:' searched as words"]


def test_other_colon_words_are_plain_words() -> None:
    """Capitalised keys (pasted titles), URLs and an empty value are words, no warning."""
    for text in ("Mamba:Linear", "BERT:", "http://x.org/a", "foo:"):
        parsed = parse_query(text)
        assert parsed.words == [text] and parsed.warnings == [] and parsed.filters == [], text
    quoted = parse_query('Mamba:"Linear Time" more')
    assert quoted.words == ["Mamba:", "Linear", "Time", "more"] and quoted.warnings == []
    assert quoted.positive == quoted.words
    # a leading "-" is not part of the key's word (and not a key's X either)
    assert parse_query('-XLNet:"fast decoding"').words == ["XLNet:", "fast", "decoding"]
    assert parse_query('"re:invent"').phrases == ["re:invent"]


def test_parsed_query_defaults_are_empty() -> None:
    empty = ParsedQuery()
    assert empty.is_empty and empty.free_text == "" and not empty.truncated
    assert parse_query(None).is_empty and parse_query("").text == ""
