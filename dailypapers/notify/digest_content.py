"""What a digest holds: the period's papers for each reader, as a pure service over the catalogue.

Three steps, so the work that does not depend on the reader is done once per period:

1. :func:`evaluate_period` (once per period): the period's trending list (featured papers by the
   stored trending score) and every *distinct* topic the subscriptions name, each evaluated once
   (:func:`evaluate_topics`), plus the rows of every paper they found.
2. :func:`build_digest` (once per subscriber, no I/O): merges the reader's sources, drops what
   their previous digest held, applies the diversity rule, caps, and says why each item is there.
3. :func:`dailypapers.notify.digest_render.render_digest` (once per non-empty digest).

A topic matches papers *featured* in the period or *submitted to arXiv* in it. Hugging Face
records carry no arXiv categories, so a category matches only papers an arXiv source described.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dailypapers import catalog
from dailypapers.catalog import Period
from dailypapers.db.schema import feature_days, papers
from dailypapers.index.keyword import SearchFilters
from dailypapers.index.query import QueryError, parse_query
from dailypapers.ingest.validate import safe_url
from dailypapers.web.mathtext import split_math
from dailypapers.web.textex import tex_to_text

TOPIC_KINDS = ("category", "search")
FREQUENCIES = {"daily": "day", "weekly": "week"}  # a subscription's frequency → Period.kind
MAX_ITEMS = 50  # the most a reader may ask for in one mail
MAX_TOPICS = 20  # topics in one subscription
MAX_SEARCH_CHARS = 200  # a saved search (the search box takes 512; a saved one is shorter)
# Matches kept per topic and period, best first: enough for any reader's MAX_ITEMS after the
# previous digest's papers are dropped, without ranking a whole week of arXiv for each topic.
TOPIC_CANDIDATES = 200
# Diversity: when two or more of a reader's sources (trending, each topic) have papers, none
# fills more than this share of the mail (rounded up): at most ceil(max_items / 2) items.
MAX_SOURCE_SHARE = 0.5
AUTHORS_SHOWN = 3  # then "et al."
ABSTRACT_CHARS = 280
ABSTRACT_SENTENCES = 2

_CATEGORY = re.compile(r"^[a-z][a-z\-]*(\.[a-z][a-z\-]*)?\Z")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[$\\])")
_RFC_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class BadTopic(ValueError):
    """A topic that cannot be saved; the message is fit to show the reader (a form error)."""


def canonical_category(text: str) -> str:
    """``cs.cl`` → ``cs.CL``: arXiv's two-letter subject classes are upper case (cs.CL, math.AP,
    q-bio.NC), longer ones lower case (cond-mat.stat-mech); an archive alone (``cs``) stays."""
    value = (text or "").strip().lower()
    if len(value) > 32 or not _CATEGORY.match(value):
        raise BadTopic(f"invalid arXiv category {text[:40]!r}: expected e.g. cs.CL or hep-th")
    archive, _, subject = value.partition(".")
    if subject and len(subject) == 2 and subject.isalpha():
        subject = subject.upper()
    return f"{archive}.{subject}" if subject else archive


@dataclass(frozen=True)
class Topic:
    """One thing a reader follows: an arXiv category, or a saved search in the site's syntax.

    Built normalised (``Topic("category", "cs.cl") == Topic("category", "cs.CL")``, a search's
    spaces collapsed), so equal topics of different subscribers are evaluated once."""

    kind: str  # "category" | "search"
    value: str

    def __post_init__(self) -> None:
        if self.kind not in TOPIC_KINDS:
            raise BadTopic(f"unknown topic kind {self.kind!r}; use one of {', '.join(TOPIC_KINDS)}")
        if self.kind == "category":
            object.__setattr__(self, "value", canonical_category(self.value))
            return
        text = " ".join((self.value or "").split())
        if not text:
            raise BadTopic("a saved search cannot be empty")
        if len(text) > MAX_SEARCH_CHARS:
            raise BadTopic(f"a saved search is at most {MAX_SEARCH_CHARS} characters")
        try:  # the parser /api/v1/search uses, strict: an unknown filter is refused, not guessed
            parse_query(text, strict=True)
        except QueryError as exc:
            raise BadTopic(str(exc)) from None
        object.__setattr__(self, "value", text)

    @property
    def reason(self) -> str:
        """Why a paper it matched is in the mail."""
        return f"cat:{self.value}" if self.kind == "category" else f"your search '{self.value}'"


@dataclass(frozen=True)
class DigestSpec:
    """What one subscriber asked for (the subscription row's contents)."""

    trending: bool
    topics: tuple[Topic, ...] = ()
    max_items: int = 10

    def __post_init__(self) -> None:
        if not 1 <= self.max_items <= MAX_ITEMS:
            raise ValueError(f"max_items must be 1 to {MAX_ITEMS}, got {self.max_items}")
        if len(self.topics) > MAX_TOPICS:
            raise ValueError(f"at most {MAX_TOPICS} topics, got {len(self.topics)}")
        if not self.trending and not self.topics:
            raise ValueError("a digest needs trending papers or at least one topic")
        object.__setattr__(self, "topics", tuple(dict.fromkeys(self.topics)))  # repeats: once


def period_for(frequency: str, day: dt.date) -> Period:
    """The period a digest of ``frequency`` covers for ``day``: that feature day (daily) or the
    ISO week holding it (weekly)."""
    if frequency not in FREQUENCIES:
        raise ValueError(f"unknown frequency {frequency!r}; use daily or weekly")
    return catalog.day_period(day) if frequency == "daily" else catalog.week_period(day)


def topics_of(specs: Iterable[DigestSpec]) -> set[Topic]:
    """The distinct topics of many subscriptions: what :func:`evaluate_topics` takes."""
    return {topic for spec in specs for topic in spec.topics}


class Searcher(Protocol):
    """What digests need of ``index.search.SearchService`` (the service the API uses)."""

    def search(self, query: str, *, limit: int = ..., offset: int = ...,  # noqa: D102
               filters: SearchFilters | None = ..., sort: str = ..., mode: str = ...,
               strict: bool = ...) -> Any: ...


# --- once per period ------------------------------------------------------------------------

def trending_in(conn: Connection, period: Period) -> list[str]:
    """Papers featured in the period, best stored trending score first (a paper featured on two
    days of a week counts at its better one)."""
    entries = catalog.entries_in(conn, period.start, period.end, sort="trending")
    return list(dict.fromkeys(e.paper["id"] for e in entries))


def submitted_day(stamp: str | None) -> dt.date | None:
    """The day of an arXiv submission stamp as sources give it: ISO (OAI, Atom) or RFC 2822
    (Kaggle snapshot, RSS)."""
    if not stamp:
        return None
    try:
        return dt.date.fromisoformat(stamp[:10])
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(stamp)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed.date() if parsed else None


def _days(period: Period) -> list[dt.date]:
    return [period.start + dt.timedelta(days=n) for n in range((period.end - period.start).days)]


def _submitted_in(period: Period) -> sa.ColumnElement[bool]:
    """``submitted_at`` in the period, for both stamp shapes (ISO by range, RFC 2822 by day).
    No index serves it: one scan of ``papers`` per period, never per subscriber."""
    iso = sa.and_(papers.c.submitted_at >= period.start.isoformat(),
                  papers.c.submitted_at < period.end.isoformat())
    rfc = [papers.c.submitted_at.like(f"%, {d:%d} {_RFC_MONTHS[d.month - 1]} {d.year} %")
           for d in _days(period)]
    rfc += [papers.c.submitted_at.like(f"%, {d.day} {_RFC_MONTHS[d.month - 1]} {d.year} %")
            for d in _days(period) if d.day < 10]
    return sa.or_(iso, *rfc)


@dataclass
class _Candidate:
    paper_id: str
    categories: list[str]
    submitted: dt.date | None
    featured: bool


def _candidates(conn: Connection, period: Period, featured: list[str]) -> dict[str, _Candidate]:
    """Every paper a topic may match: featured in the period, or submitted to arXiv in it."""
    in_period = sa.select(feature_days.c.paper_id).where(
        feature_days.c.day >= period.start, feature_days.c.day < period.end)
    rows = conn.execute(
        sa.select(papers.c.id, papers.c.categories, papers.c.submitted_at)
        .where(sa.or_(papers.c.id.in_(in_period), _submitted_in(period)),
               catalog.VISIBLE_PAPER)  # a paper a moderator hid is in no digest
    )
    shown = set(featured)
    return {pid: _Candidate(pid, list(categories or []), submitted_day(stamp), pid in shown)
            for pid, categories, stamp in rows}


def _category_matches(value: str, categories: list[str]) -> bool:
    if "." in value or value not in {c.partition(".")[0] for c in categories}:
        return value.lower() in {c.lower() for c in categories}
    return True  # an archive alone (cs) matches any of its categories (cs.CL), as cat:cs does


def evaluate_topics(conn: Connection, period: Period, topics: set[Topic], search: Searcher | None,
                    *, featured: list[str] | None = None,
                    warnings: list[str] | None = None) -> dict[Topic, list[str]]:
    """Each distinct topic's papers in the period, best first (rank = position + 1).
    ``featured``: the period's trending list if the caller has it (:func:`trending_in`
    otherwise); ``warnings`` receives what was cut short (a search past its time budget).

    Categories: featured papers by stored trending score, then papers only submitted in the
    period, newest first. Searches: through ``search`` (the API's service, keyword ranking,
    within its budget) restricted to the period's papers, most relevant first. The keyword
    index should be caught up first (``SearchService.catch_up``)."""
    featured = trending_in(conn, period) if featured is None else featured
    candidates = _candidates(conn, period, featured)
    trend_rank = {pid: n for n, pid in enumerate(featured)}
    by_category_order = sorted(
        candidates.values(),
        key=lambda c: (0, trend_rank[c.paper_id], "") if c.featured
        else (1, -(c.submitted.toordinal() if c.submitted else 0), c.paper_id))
    results: dict[Topic, list[str]] = {}
    warnings = [] if warnings is None else warnings
    for topic in sorted(topics, key=lambda t: (t.kind, t.value)):
        if topic.kind == "category":
            results[topic] = [c.paper_id for c in by_category_order
                              if _category_matches(topic.value, c.categories)][:TOPIC_CANDIDATES]
            continue
        if not candidates or search is None:
            results[topic] = []
            if search is None:
                warnings.append(f"{topic.reason}: no search service, skipped")
            continue
        found = search.search(topic.value, limit=TOPIC_CANDIDATES, mode="keyword",
                              filters=SearchFilters(paper_ids=frozenset(candidates)), strict=True)
        if getattr(found, "partial", False):
            warnings.append(f"{topic.reason}: {'; '.join(found.warnings)}")
        results[topic] = [h.paper_id for h in found.hits if h.paper_id in candidates]
    return results


@dataclass
class PeriodResults:
    """Everything :func:`build_digest` reads, computed once per period for all subscribers."""

    period: Period
    trending: list[str]  # featured papers, best stored trending score first
    topics: dict[Topic, list[str]]
    papers: dict[str, dict[str, Any]]  # the rows of every paper above
    warnings: list[str] = field(default_factory=list)
    _items: dict[tuple[str, str, str], DigestItem] = field(default_factory=dict, repr=False,
                                                           compare=False)

    def item(self, paper_id: str, reason: str, base_url: str) -> DigestItem:
        """The paper as a digest item, made once per period and reason however many readers
        get it: TeX to text for each reader's copy was 97% of building 20,000 digests."""
        key = (paper_id, reason, base_url)
        if key not in self._items:
            self._items[key] = digest_item(self.papers[paper_id], reason, base_url)
        return self._items[key]


def evaluate_period(conn: Connection, period: Period, topics: Iterable[Topic],
                    search: Searcher | None) -> PeriodResults:
    """The trending list and each distinct topic's matches, once for every subscriber."""
    featured = trending_in(conn, period)
    warnings: list[str] = []
    found = evaluate_topics(conn, period, set(topics), search, featured=featured, warnings=warnings)
    ids = list(dict.fromkeys(featured + [pid for hits in found.values() for pid in hits]))
    rows: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), 500):
        rows.update(catalog.papers_by_ids(conn, ids[start:start + 500]))
    return PeriodResults(period, [p for p in featured if p in rows],
                         {t: [p for p in hits if p in rows] for t, hits in found.items()},
                         rows, warnings)


# --- once per subscriber --------------------------------------------------------------------

@dataclass(frozen=True)
class DigestItem:
    paper_id: str
    title: str
    authors: str  # the first AUTHORS_SHOWN, then "et al."
    abstract: str  # about two sentences, TeX converted for display
    upvotes: int  # Hugging Face's plus ours
    code_url: str | None  # http(s) only
    paper_url: str  # absolute, under DAILYPAPERS_BASE_URL
    reason: str  # "#3 trending", "cat:cs.CL", "your search 'lora merging'"


def is_empty(items: list[DigestItem]) -> bool:
    """An empty digest is not sent (and never rendered)."""
    return not items


def source_cap(max_items: int) -> int:
    """The most items one source (trending, or one topic) may give a mail others also feed."""
    return math.ceil(max_items * MAX_SOURCE_SHARE)


def build_digest(spec: DigestSpec, results: PeriodResults, previously_sent: set[str], *,
                 base_url: str) -> list[DigestItem]:
    """One subscriber's items. Sources are trending (if asked) then the topics in the order the
    reader listed them; they are taken from in rounds, one paper from each source per round, so
    a paper several sources found is listed once, with the reason of the source that reached
    it first. Papers in ``previously_sent`` (what the reader's last digest held) are left out;
    when two or more sources have papers, none gives more than :func:`source_cap` items."""
    sources: list[list[tuple[str, str]]] = []  # per source: (paper id, reason), best first
    if spec.trending:
        sources.append([(pid, f"#{rank} trending")
                        for rank, pid in enumerate(results.trending, 1)])
    for topic in spec.topics:
        sources.append([(pid, topic.reason) for pid in results.topics.get(topic, [])])
    sources = [[(p, r) for p, r in src if p not in previously_sent] for src in sources]
    feeding = sum(1 for src in sources if src)
    cap = source_cap(spec.max_items) if feeding > 1 else spec.max_items
    taken: dict[str, str] = {}
    used = [0] * len(sources)
    positions = [0] * len(sources)
    while len(taken) < spec.max_items:
        progressed = False
        for n, src in enumerate(sources):
            if len(taken) >= spec.max_items or used[n] >= cap:
                continue
            while positions[n] < len(src) and src[positions[n]][0] in taken:
                positions[n] += 1
            if positions[n] < len(src):
                pid, reason = src[positions[n]]
                taken[pid] = reason
                used[n] += 1
                positions[n] += 1
                progressed = True
        if not progressed:
            break
    return [results.item(pid, reason, base_url) for pid, reason in taken.items()]


def display_text(text: str | None) -> str:
    """TeX as a reader sees it in plain text: text commands converted, math kept as written."""
    out = []
    for kind, content in split_math(" ".join((text or "").split())):
        if kind == "text":
            out.append(tex_to_text(content))
        elif kind == "display":
            out.append(f"$${content}$$")
        else:
            out.append(f"${content}$")
    return " ".join("".join(out).split())


def short_abstract(text: str | None) -> str:
    """The first ABSTRACT_SENTENCES sentences, cut at a word near ABSTRACT_CHARS."""
    plain = display_text(text)
    short = " ".join(_SENTENCE_END.split(plain)[:ABSTRACT_SENTENCES])
    if len(short) <= ABSTRACT_CHARS:
        return short
    return short[:ABSTRACT_CHARS].rsplit(" ", 1)[0].rstrip(",;:") + " …"


def author_line(authors: list[dict[str, Any]] | None) -> str:
    names = [" ".join(str(a["name"]).split()) for a in authors or []
             if not a.get("hidden") and a.get("name")]
    if len(names) <= AUTHORS_SHOWN:
        return ", ".join(names)
    return ", ".join(names[:AUTHORS_SHOWN]) + " et al."


def paper_url(base_url: str, paper_id: str) -> str:
    return f"{base_url.rstrip('/')}/papers/{quote(paper_id, safe='/')}"


def digest_item(paper: dict[str, Any], reason: str, base_url: str) -> DigestItem:
    return DigestItem(
        paper_id=paper["id"], title=display_text(paper.get("title")) or paper["id"],
        authors=author_line(paper.get("authors")), abstract=short_abstract(paper.get("abstract")),
        upvotes=catalog.total_upvotes(paper), code_url=safe_url(paper.get("github_repo")),
        paper_url=paper_url(base_url, paper["id"]), reason=reason)
