"""Upstream values made safe: which URLs may become links, and one record's check before storing.

Upstream records are attacker-influenced (anyone can put a link on a Hugging Face paper or a string
in an arXiv comment), so two gates run here:

- ``check_url`` / ``safe_url`` decide whether an upstream URL may become a link. Only absolute
  ``http``/``https`` URLs with a host and no credentials pass, parsed with ``urllib.parse`` after
  doing what browsers do first (strip leading and trailing controls and spaces, drop tabs and
  newlines anywhere: ``java\\tscript:`` is ``javascript:`` to a browser). The store runs it before a
  row is written, and the templates (``link_url`` filter) and the JSON API run it again on what they
  read, so rows stored before this check existed are safe too.
- ``check_item`` validates and normalises one parsed record inside ``service.store_items``, the one
  gate that ``dailypapers import`` and the live sync share. Its rules:
  * every string: NUL, the other C0 controls but tab/newline/CR, DEL, C1 controls and the bidi
    controls (U+202A–U+202E, U+2066–U+2069, U+200E/F, U+061C) are removed (vertical tab, form feed
    and the separators U+001C–U+001F, U+0085 become a space); a lone surrogate becomes U+FFFD.
    Removal keeps the text meaningful, so the record is not refused for it;
  * a title longer than ``limits.title_chars`` refuses the record: no real title comes near it
    (arXiv's longest are about 300 characters), and a cut-down junk title helps no reader;
  * an abstract, comments or AI summary longer than ``limits.abstract_chars`` is cut (with "…");
    more than ``limits.authors`` authors keeps the first ones; a name (author, account,
    organisation) longer than ``limits.name_chars`` is cut; any other text longer than
    ``OTHER_TEXT_CHARS`` is cut, lists longer than ``MAX_LIST_ITEMS`` too: the paper stays useful;
  * a value that cannot fit its column (a 41-character timestamp, a 300-character DOI, a count
    beyond 32 bits) is dropped: on PostgreSQL it would fail the insert of the whole batch;
  * a URL that ``check_url`` refuses is dropped.
  Each thing dropped or cut is a *note*: a ``Refusal`` whose position names the field, returned
  beside the record, which lands without it. A record that cannot be taken at all raises
  ``RecordRefused``.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from dailypapers.db.schema import feature_days, papers
from dailypapers.ingest.records import (
    Author,
    FeatureRecord,
    HubUser,
    Organization,
    PaperRecord,
    ParsedItem,
    Refusal,
)
from dailypapers.settings import (
    MAX_ABSTRACT_CHARS,
    MAX_AUTHORS,
    MAX_NAME_CHARS,
    MAX_TITLE_CHARS,
    Settings,
)

# --- URLs ------------------------------------------------------------------------------------

MAX_URL_CHARS = 2048  # what old browsers and most servers take; real upstream links are < 300
_SCHEMES = frozenset({"http", "https"})
_EDGE = "".join(chr(c) for c in range(0x21)) + "\x7f"  # browsers strip C0 controls and space
_TAB_NEWLINE = re.compile("[\t\n\r]")
# Kept in the URL but percent-encoded, as a browser would send them.
_ENCODE = {" ": "%20", '"': "%22", "<": "%3C", ">": "%3E", "`": "%60"}
_ENCODE_RE = re.compile('[ "<>`]')


def safe_url(value: Any, *, allow_path: bool = False) -> str | None:
    """The normalised URL if ``value`` may become a link, else None (see ``check_url``)."""
    return check_url(value, allow_path=allow_path)[0]


def check_url(value: Any, *, allow_path: bool = False) -> tuple[str | None, str | None]:
    """``(url, None)`` when ``value`` may become a link, ``(None, reason)`` when it may not, and
    ``(None, None)`` when there is nothing there (None or blank).

    The URL comes back as received, except: scheme and host in lower case, leading and trailing
    controls and spaces stripped, tabs and newlines removed, and space ``"`` ``<`` ``>`` `````
    percent-encoded. ``allow_path`` also lets a same-site path through (``/avatars/x.svg``:
    Hugging Face gives avatars of accounts without a picture that way); never ``//host``.
    """
    if value is None:
        return None, None
    if not isinstance(value, str):
        return None, f"not text but {type(value).__name__}"
    if len(value) > 2 * MAX_URL_CHARS:  # first: the stripping below would not save it, and
        return None, f"longer than {MAX_URL_CHARS:,} characters"  # the cache keeps no megabytes
    return _check_text_url(value, allow_path)


@lru_cache(maxsize=4096)  # avatars repeat: the same few hundred accounts across a day's papers
def _check_text_url(value: str, allow_path: bool) -> tuple[str | None, str | None]:
    url, reason = _parse_url(value, allow_path)
    return (value if url == value else url), reason  # unchanged: the very same object


def _parse_url(value: str, allow_path: bool) -> tuple[str | None, str | None]:
    text = _TAB_NEWLINE.sub("", value.strip(_EDGE).strip())
    if not text:
        return None, None
    if len(text) > MAX_URL_CHARS:
        return None, f"longer than {MAX_URL_CHARS:,} characters"
    if "\\" in text:  # browsers read "\" as "/": https:\\evil.example, /\evil.example
        return None, "contains a backslash"
    bad = _bad_char(text)
    if bad is not None:
        return None, f"contains the character U+{ord(bad):04X}"
    try:
        parts = urlsplit(text)
        port = parts.port  # raises ValueError for a port that is not a number in range
    except ValueError as exc:
        return None, f"not a URL: {exc}"
    scheme = parts.scheme
    if not scheme:
        if text.startswith("//"):
            return None, "protocol-relative (//host): no scheme"
        if allow_path and text.startswith("/"):
            return _ENCODE_RE.sub(lambda m: _ENCODE[m.group()], text), None
        return None, "no scheme: not an absolute http(s) URL"
    if scheme not in _SCHEMES:
        return None, f"scheme {scheme!r} is not http or https"
    netloc = parts.netloc
    if not netloc or not text[len(scheme):].startswith("://" + netloc):
        return None, "no host"
    if "@" in netloc:
        return None, "user name or password in the URL"
    host = parts.hostname or ""
    reason = _host_problem(host, bracketed=netloc.startswith("["))
    if reason:
        return None, reason
    if port == 0:
        return None, "port 0"
    rest = text[len(scheme) + 3 + len(netloc):]
    url = f"{scheme}://{netloc.lower()}{rest}"
    return _ENCODE_RE.sub(lambda m: _ENCODE[m.group()], url), None


_ASCII_CONTROL = re.compile("[\x00-\x1f\x7f]")
# Controls, invisible formatting (bidi included), surrogates, private use, and spaces other than
# " " (which is percent-encoded): none belongs in a link.
_BAD_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Zs", "Zl", "Zp"})


def _bad_char(text: str) -> str | None:
    if text.isascii():  # the usual case, one regex scan
        m = _ASCII_CONTROL.search(text)
        return m.group() if m else None
    for ch in text:
        if ch != " " and unicodedata.category(ch) in _BAD_CATEGORIES:
            return ch
    return None


def _host_problem(host: str, *, bracketed: bool) -> str | None:
    if not host:
        return "no host"
    if bracketed:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return f"not an IPv6 address: {host[:60]!r}"
        return None
    labels = host.split(".")
    if labels[-1] == "":  # "example.org." is a fully qualified name
        labels.pop()
    for label in labels:
        if not label or not all(ch.isalnum() or ch in "-_" for ch in label):
            return f"not a host name: {host[:60]!r}"
    return None


# --- text ------------------------------------------------------------------------------------

_UNSAFE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
    "\ud800-\udfff]"
)
_AS_SPACE = frozenset("\x0b\x0c\x1c\x1d\x1e\x1f\x85")


def _replace_unsafe(match: re.Match[str]) -> str:
    ch = match.group()
    if "\ud800" <= ch <= "\udfff":
        return "\ufffd"
    return " " if ch in _AS_SPACE else ""


def clean_text(value: str) -> str:
    """``value`` without NUL, controls (but tab, newline, CR) and bidi controls; lone surrogates
    as U+FFFD. Returns ``value`` itself when there is nothing to do (the usual case)."""
    if _UNSAFE.search(value) is None:
        return value
    return _UNSAFE.sub(_replace_unsafe, value)


def cut(value: str, limit: int) -> str:
    """At most ``limit`` characters, ending with "…" when cut (at a space if one is near)."""
    if len(value) <= limit:
        return value
    head = value[:max(limit - 1, 0)]
    space = head.rfind(" ", max(limit - 80, 0))
    if space > 0:
        head = head[:space]
    return head.rstrip() + "…"


# --- records ---------------------------------------------------------------------------------

OTHER_TEXT_CHARS = 2000  # affiliations, journal refs, keywords, ids: a real one is < 500
MAX_LIST_ITEMS = 200  # categories, AI keywords, media URLs: a real list has < 20
MAX_COUNT = 2**31 - 1  # INTEGER columns on PostgreSQL


@dataclass(frozen=True, slots=True)
class RecordLimits:
    """Maximum sizes a stored record may have (settings ``DAILYPAPERS_MAX_*``)."""

    title_chars: int = MAX_TITLE_CHARS
    abstract_chars: int = MAX_ABSTRACT_CHARS
    authors: int = MAX_AUTHORS
    name_chars: int = MAX_NAME_CHARS

    @classmethod
    def from_settings(cls, settings: Settings) -> RecordLimits:
        return cls(
            title_chars=settings.max_title_chars,
            abstract_chars=settings.max_abstract_chars,
            authors=settings.max_authors,
            name_chars=settings.max_name_chars,
        )


DEFAULT_LIMITS = RecordLimits()


class RecordRefused(ValueError):
    """A record that cannot be stored at all."""


def _width(column: Any) -> int:
    return int(column.type.length)


_ID_CHARS = _width(papers.c.id)
_STAMP_CHARS = _width(papers.c.submitted_at)
_CATEGORY_CHARS = _width(papers.c.primary_category)
_DOI_CHARS = _width(papers.c.doi)
_LICENSE_CHARS = _width(papers.c.license)
_DISCUSSION_CHARS = _width(papers.c.discussion_id)
_USERNAME_CHARS = _width(feature_days.c.submitter_name)


def check_item(
    item: ParsedItem, limits: RecordLimits = DEFAULT_LIMITS
) -> tuple[ParsedItem, list[Refusal]]:
    """``item`` made safe to store, and a note for each part dropped or cut (see the module
    docstring). Raises ``RecordRefused`` for a record that cannot be taken."""
    paper = item.paper
    if not isinstance(paper, PaperRecord):
        raise RecordRefused(f"expected a paper record, got {type(paper).__name__}")
    raw_id = paper.arxiv_id
    if not isinstance(raw_id, str) or not raw_id or len(raw_id) > _ID_CHARS \
            or _UNSAFE.search(raw_id) or raw_id != raw_id.strip():
        raise RecordRefused(f"not a usable paper id: {str(raw_id)[:80]!r}")
    check = _Check(raw_id, limits)
    clean_paper = check.paper(paper)
    feature = item.feature
    if feature is not None:
        if not isinstance(feature, FeatureRecord):
            raise RecordRefused(f"expected a feature record, got {type(feature).__name__}")
        if feature.arxiv_id != raw_id:
            raise RecordRefused(f"the feature names another paper: {str(feature.arxiv_id)[:80]!r}")
        feature = check.feature(feature)
    if clean_paper is paper and feature is item.feature:
        return item, check.notes()
    return ParsedItem(paper=clean_paper, feature=feature, linked=item.linked), check.notes()


class _Check:
    """The checks of one record, collecting its notes (one per field, however often it hit)."""

    def __init__(self, record_id: str, limits: RecordLimits) -> None:
        self.record_id = record_id
        self.limits = limits
        self._notes: dict[str, tuple[str, int]] = {}

    def note(self, where: str, reason: str) -> None:
        first, times = self._notes.get(where, (reason, 0))
        self._notes[where] = (first, times + 1)

    def notes(self) -> list[Refusal]:
        return [
            Refusal(
                reason=reason if times == 1 else f"{reason} (and {times - 1} more like it)",
                record_id=self.record_id,
                position=where,
            )
            for where, (reason, times) in self._notes.items()
        ]

    # -- values --

    def text(self, value: Any, where: str, limit: int | None = OTHER_TEXT_CHARS) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise RecordRefused(f"{where} is a {type(value).__name__}, expected text")
        if _UNSAFE.search(value) is not None:
            value = _UNSAFE.sub(_replace_unsafe, value)
        if limit is not None and len(value) > limit:
            self.note(where, f"cut from {len(value):,} to {limit:,} characters")
            value = cut(value, limit)
        return value

    def fixed(self, value: Any, where: str, width: int) -> str | None:
        """Text of a fixed shape (timestamp, DOI, id, category): dropped rather than cut."""
        value = self.text(value, where, None)
        if value is not None and len(value) > width:
            self.note(where, f"dropped: {len(value):,} characters, at most {width} fit")
            return None
        return value

    def count(self, value: Any, where: str, low: int = 0) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise RecordRefused(f"{where} is a {type(value).__name__}, expected a number")
        if not low <= value <= MAX_COUNT:
            self.note(where, f"dropped: {value if abs(value) < 10**12 else 'a huge number'} "
                             f"is out of range")
            return None
        return value

    def url(self, value: Any, where: str, *, allow_path: bool = False) -> str | None:
        url, reason = check_url(value, allow_path=allow_path)
        if reason:
            self.note(where, f"link dropped: {reason}")
        return url

    def strings(self, values: Any, where: str, limit: int) -> list[str] | None:
        if values is None:
            return None
        if not isinstance(values, list):
            raise RecordRefused(f"{where} is a {type(values).__name__}, expected a list")
        values = self.cap(values, where)
        out = [self.text(v, where, limit) for v in values]
        return out if out != values else values

    def cap(self, values: list[Any], where: str, limit: int = MAX_LIST_ITEMS) -> list[Any]:
        if len(values) > limit:
            self.note(where, f"kept the first {limit:,} of {len(values):,}")
            return values[:limit]
        return values

    # -- records --

    def paper(self, p: PaperRecord) -> PaperRecord:
        lim = self.limits
        title = self.text(p.title, "title", None)
        if title is not None and len(title) > lim.title_chars:
            raise RecordRefused(
                f"title is {len(title):,} characters long, more than {lim.title_chars:,} "
                f"(DAILYPAPERS_MAX_TITLE_CHARS)"
            )
        authors = p.authors
        if authors is not None:
            if not isinstance(authors, list):
                raise RecordRefused(f"authors is a {type(authors).__name__}, expected a list")
            if len(authors) > lim.authors:
                self.note("authors", f"kept the first {lim.authors:,} of {len(authors):,} authors "
                                     f"(DAILYPAPERS_MAX_AUTHORS)")
                authors = authors[:lim.authors]
            checked = [self.author(a) for a in authors]
            checked = [a for a in checked if a is not None]
            authors = p.authors if _same(checked, p.authors) else checked
        media = p.media_urls
        if media is not None:
            if not isinstance(media, list):
                raise RecordRefused(f"media_urls is a {type(media).__name__}, expected a list")
            kept = [u for u in (self.url(u, "media_urls") for u in self.cap(media, "media_urls"))
                    if u is not None]
            media = media if kept == media else kept
        changes = {
            "title": title,
            "abstract": self.text(p.abstract, "abstract", lim.abstract_chars),
            "authors": authors,
            "categories": self.strings(p.categories, "categories", OTHER_TEXT_CHARS),
            "primary_category": self.fixed(p.primary_category, "primary_category",
                                           _CATEGORY_CHARS),
            "version": self.count(p.version, "version", low=1),
            "submitted_at": self.fixed(p.submitted_at, "submitted_at", _STAMP_CHARS),
            "updated_at": self.fixed(p.updated_at, "updated_at", _STAMP_CHARS),
            "hf_published_at": self.fixed(p.hf_published_at, "hf_published_at", _STAMP_CHARS),
            "comments": self.text(p.comments, "comments", lim.abstract_chars),
            "journal_ref": self.text(p.journal_ref, "journal_ref"),
            "doi": self.fixed(p.doi, "doi", _DOI_CHARS),
            "license": self.fixed(p.license, "license", _LICENSE_CHARS),
            "github_repo": self.url(p.github_repo, "github_repo"),
            "github_stars": self.count(p.github_stars, "github_stars"),
            "project_page": self.url(p.project_page, "project_page"),
            "ai_summary": self.text(p.ai_summary, "ai_summary", lim.abstract_chars),
            "ai_keywords": self.strings(p.ai_keywords, "ai_keywords", lim.name_chars),
            "upvotes": self.count(p.upvotes, "upvotes"),
            "num_comments": self.count(p.num_comments, "num_comments"),
            "discussion_id": self.fixed(p.discussion_id, "discussion_id", _DISCUSSION_CHARS),
            "thumbnail": self.url(p.thumbnail, "thumbnail"),
            "media_urls": media,
            "organization": self.organization(p.organization, "organization"),
            "withdrawn_at": self.fixed(p.withdrawn_at, "withdrawn_at", _STAMP_CHARS),
        }
        return _replaced(p, changes)

    def feature(self, f: FeatureRecord) -> FeatureRecord:
        title = self.text(f.title, "feature.title", None)
        if title is not None and len(title) > self.limits.title_chars:
            title = None  # not stored (the paper's title is); nothing for a reader to miss
        changes = {
            "upvotes": self.count(f.upvotes, "feature.upvotes"),
            "num_comments": self.count(f.num_comments, "feature.num_comments"),
            "published_at": self.fixed(f.published_at, "feature.published_at", _STAMP_CHARS),
            "submitted_on_daily_at": self.fixed(
                f.submitted_on_daily_at, "feature.submitted_on_daily_at", _STAMP_CHARS
            ),
            "submitted_by": self.user(f.submitted_by, "submitted_by"),
            "organization": self.organization(f.organization, "feature.organization"),
            "title": title,
        }
        return _replaced(f, changes)

    def author(self, a: Any) -> Author | None:
        if not isinstance(a, Author):
            raise RecordRefused(f"an author is a {type(a).__name__}, expected an author")
        name = self.text(a.name, "authors.name", self.limits.name_chars)
        if not name or name.isspace():
            self.note("authors.name", "an author without a name was left out")
            return None
        # Written out (no dict of changes): it runs for every author of every record.
        hf_id = self.text(a.hf_id, "authors.hf_id")
        status = self.text(a.status, "authors.status")
        changed_at = self.text(a.status_changed_at, "authors.status_changed_at")
        user = self.user(a.user, "authors.user")
        affiliation = self.text(a.affiliation, "authors.affiliation")
        if (name is a.name and hf_id is a.hf_id and status is a.status and user is a.user
                and changed_at is a.status_changed_at and affiliation is a.affiliation):
            return a
        return Author(name=name, hf_id=hf_id, hidden=a.hidden, status=status,
                      status_changed_at=changed_at, user=user, affiliation=affiliation)

    def user(self, u: Any, where: str) -> HubUser | None:
        if u is None:
            return None
        if not isinstance(u, HubUser):
            raise RecordRefused(f"{where} is a {type(u).__name__}, expected an account")
        username = self.text(u.username, where + ".username", None)
        if not username or username.isspace() or len(username) > min(
            _USERNAME_CHARS, self.limits.name_chars
        ):
            self.note(where + ".username", "account dropped: its user name is empty or too long")
            return None
        hf_id = self.text(u.hf_id, where + ".hf_id")
        fullname = self.text(u.fullname, where + ".fullname", self.limits.name_chars)
        avatar = self.url(u.avatar_url, where + ".avatar_url", allow_path=True)
        kind = self.text(u.type, where + ".type")
        if (username is u.username and hf_id is u.hf_id and fullname is u.fullname
                and avatar is u.avatar_url and kind is u.type):
            return u
        return HubUser(username=username, hf_id=hf_id, fullname=fullname, avatar_url=avatar,
                       type=kind, is_pro=u.is_pro, is_hf=u.is_hf, is_hf_admin=u.is_hf_admin,
                       is_mod=u.is_mod, follower_count=u.follower_count)

    def organization(self, o: Any, where: str) -> Organization | None:
        if o is None:
            return None
        if not isinstance(o, Organization):
            raise RecordRefused(f"{where} is a {type(o).__name__}, expected an organization")
        name = self.text(o.name, f"{where}.name", self.limits.name_chars)
        if not name or name.isspace():
            self.note(f"{where}.name", "organization dropped: it has no name")
            return None
        changes = {
            "name": name,
            "hf_id": self.text(o.hf_id, f"{where}.hf_id"),
            "fullname": self.text(o.fullname, f"{where}.fullname", self.limits.name_chars),
            "avatar_url": self.url(o.avatar_url, f"{where}.avatar_url", allow_path=True),
        }
        return _replaced(o, changes)


def _same(new: list[Any], old: list[Any] | None) -> bool:
    return old is not None and len(new) == len(old) and all(a is b for a, b in zip(new, old))


def _replaced(obj: Any, changes: dict[str, Any]) -> Any:
    """``obj`` itself when no value changed (the usual case), else a copy with the changes."""
    changed = {}
    for name, value in changes.items():
        before = getattr(obj, name)
        if value is not before and value != before:
            changed[name] = value
    return dataclasses.replace(obj, **changed) if changed else obj
