"""The keyword index's schema and text analysis, shared by building, querying and highlighting.

Choices measured on BEIR SciFact (train, nDCG@10; the query side is in ``keyword``):
one ``text`` field holding title and abstract (0.700) beats separate title and abstract fields
summed (0.675, and worse with any title boost), and adding the title field again at 0.3 lifts it to
0.705; English stop words change little for BM25 but keep phrase and AND queries from tripping on
"of"/"the"; Snowball English stemming is what the reference bm25s run used.

Changing anything here changes what is in the index: bump ``SCHEMA_VERSION`` so every install
builds a fresh index in a new versioned folder instead of mixing old and new documents.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import Any

import tantivy

SCHEMA_VERSION = 1

EN = "dp_en"  # simple tokenizer, lowercase, ASCII folding, English stop words, Snowball stemmer
NAMES = "dp_names"  # the same without stop words or stemming: "Bengio", "An", "Will" stay names

F_ID = "id"  # canonical arXiv id, raw, stored: the only stored field (hits are hydrated from SQL)
F_TITLE = "title"
F_TEXT = "text"  # title and abstract as two values, so a phrase cannot span from one to the other
F_AUTHORS = "authors"  # one value per author: phrases stay within one name
F_TITLE_KEY = "title_key"  # the whole normalised title as one term, for exact-title matches
F_CAT = "cat"  # lowercased categories plus their archives ("cs.cl", "cs")
F_PRIMARY = "primary_cat"
F_HAS_CODE = "has_code"
F_FEATURED = "featured"
F_FIRST_DAY = "first_feature_day"
F_DATE = "date"  # the paper's date: arXiv submission, else HF publication, else first feature day
F_YEAR = "year"
F_UPVOTES = "upvotes"
F_STAMP = "stamp"  # row clock in microseconds, to skip re-indexing unchanged rows in the overlap

MAX_TOKEN_CHARS = 40  # longer "words" are base64, URLs or DNA: not worth a posting list
MAX_TITLE_KEY_CHARS = 300


def _en() -> tantivy.TextAnalyzer:
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(MAX_TOKEN_CHARS))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.ascii_fold())
        .filter(tantivy.Filter.stopword("english"))
        .filter(tantivy.Filter.stemmer("english"))
        .build()
    )


def _names() -> tantivy.TextAnalyzer:
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(MAX_TOKEN_CHARS))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.ascii_fold())
        .build()
    )


# Built once: analyzers are immutable and safe to share between threads.
EN_ANALYZER = _en()
NAMES_ANALYZER = _names()


def build_schema() -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    sb.add_text_field(F_ID, stored=True, tokenizer_name="raw", index_option="basic")
    sb.add_text_field(F_TITLE, tokenizer_name=EN)
    sb.add_text_field(F_TEXT, tokenizer_name=EN)
    sb.add_text_field(F_AUTHORS, tokenizer_name=NAMES)
    sb.add_text_field(F_TITLE_KEY, tokenizer_name="raw", index_option="basic")
    sb.add_text_field(F_CAT, tokenizer_name="raw", index_option="basic", fast=True)
    sb.add_text_field(F_PRIMARY, tokenizer_name="raw", index_option="basic", fast=True)
    sb.add_boolean_field(F_HAS_CODE, indexed=True, fast=True)
    sb.add_boolean_field(F_FEATURED, indexed=True, fast=True)
    sb.add_date_field(F_FIRST_DAY, indexed=True, fast=True)
    sb.add_date_field(F_DATE, indexed=True, fast=True)
    sb.add_integer_field(F_YEAR, indexed=True, fast=True)
    sb.add_integer_field(F_UPVOTES, indexed=True, fast=True)
    sb.add_integer_field(F_STAMP, fast=True)
    return sb.build()


SCHEMA = build_schema()


def register_analyzers(index: tantivy.Index) -> None:
    """Tokenizers are not stored in the index: every opened index needs them registered."""
    index.register_tokenizer(EN, EN_ANALYZER)
    index.register_tokenizer(NAMES, NAMES_ANALYZER)


def normalize_title(text: str) -> str:
    """A title reduced to lowercase letters and digits separated by single spaces, accents
    dropped, so a pasted title matches whatever punctuation or case either side used."""
    text = unicodedata.normalize("NFKD", text or "")
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    return " ".join(re.split(r"[\W_]+", text)).strip()[:MAX_TITLE_KEY_CHARS]


def category_terms(categories: list[str] | None, primary: str | None) -> list[str]:
    """Each category and its archive, lowercased: ``cat:cs`` finds every ``cs.*`` paper."""
    terms: list[str] = []
    for cat in list(categories or []) + ([primary] if primary else []):
        if not isinstance(cat, str) or not cat:
            continue
        cat = cat.lower()
        terms.append(cat)
        if "." in cat:
            terms.append(cat.split(".", 1)[0])
    return list(dict.fromkeys(terms))


def utc(stamp: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes for UTC columns; PostgreSQL aware ones."""
    return stamp.replace(tzinfo=dt.timezone.utc) if stamp.tzinfo is None else stamp.astimezone(
        dt.timezone.utc)


def micros(stamp: dt.datetime) -> int:
    return int(utc(stamp).timestamp() * 1_000_000)


def _day(text: str | None) -> dt.date | None:
    if not text or len(text) < 10:
        return None
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        return None


def _at_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)


def paper_date(row: dict[str, Any]) -> dt.date | None:
    """The date "newest", ``year:`` and date filters use, whichever source told us first."""
    first_day = row.get("first_feature_day")
    return (_day(row.get("submitted_at")) or _day(row.get("hf_published_at"))
            or (first_day if isinstance(first_day, dt.date) else _day(first_day))
            or (utc(row["first_seen_at"]).date() if row.get("first_seen_at") else None))


def make_document(row: dict[str, Any]) -> tantivy.Document:
    """One paper row (plus ``first_feature_day`` and ``stamp``) as an index document."""
    doc = tantivy.Document()
    doc.add_text(F_ID, row["id"])
    title = row.get("title") or ""
    doc.add_text(F_TITLE, title)
    doc.add_text(F_TEXT, title)
    doc.add_text(F_TEXT, row.get("abstract") or "")
    for author in row.get("authors") or []:
        name = author.get("name") if isinstance(author, dict) else author
        if isinstance(name, str) and name:
            doc.add_text(F_AUTHORS, name)
    key = normalize_title(title)
    if key:
        doc.add_text(F_TITLE_KEY, key)
    for term in category_terms(row.get("categories"), row.get("primary_category")):
        doc.add_text(F_CAT, term)
    if row.get("primary_category"):
        doc.add_text(F_PRIMARY, row["primary_category"].lower())
    doc.add_boolean(F_HAS_CODE, bool(row.get("github_repo")))
    first_day = row.get("first_feature_day")
    if isinstance(first_day, str):
        first_day = _day(first_day)
    doc.add_boolean(F_FEATURED, first_day is not None)
    if first_day is not None:
        doc.add_date(F_FIRST_DAY, _at_midnight(first_day))
    day = paper_date(row)
    if day is not None:
        doc.add_date(F_DATE, _at_midnight(day))
        doc.add_integer(F_YEAR, day.year)
    # What the pages show: Hugging Face's count plus ours.
    doc.add_integer(F_UPVOTES, int(row.get("upvotes") or 0) + int(row.get("local_upvotes") or 0))
    doc.add_integer(F_STAMP, int(row.get("stamp") or 0))
    return doc
