"""The normalised records every parser produces and the store consumes.

Parsers are pure: bytes or text in, ``PaperRecord`` / ``FeatureRecord`` / ``Refusal`` out. Field
names are ours (snake case); the HF-compatible API rebuilds Hugging Face's shapes from the stored
columns. Timestamps from upstreams are kept as the exact strings received.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

# Where a record came from. arXiv sources win bibliographic fields; Hugging Face wins upvotes,
# links and its ai_* fields.
SOURCE_HF = "hf"
SOURCE_OAI = "arxiv-oai"
SOURCE_ATOM = "arxiv-atom"
SOURCE_RSS = "arxiv-rss"
SOURCE_KAGGLE = "kaggle"
ARXIV_SOURCES = frozenset({SOURCE_OAI, SOURCE_ATOM, SOURCE_RSS, SOURCE_KAGGLE})


@dataclass(slots=True)
class HubUser:
    """A Hugging Face account as it appears in submittedBy / authors[].user."""

    username: str
    hf_id: str | None = None
    fullname: str | None = None
    avatar_url: str | None = None
    type: str | None = None
    is_pro: bool | None = None
    # Passed back as received (isHf, isHfAdmin, isMod, followerCount); the viewer-relative
    # isUserFollowing is not kept: it describes whoever asked upstream, not this account.
    is_hf: bool | None = None
    is_hf_admin: bool | None = None
    is_mod: bool | None = None
    follower_count: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in _asdict(self).items() if v is not None}


@dataclass(slots=True)
class Author:
    name: str
    hf_id: str | None = None
    hidden: bool | None = None
    status: str | None = None
    status_changed_at: str | None = None
    user: HubUser | None = None
    affiliation: str | None = None

    def to_json(self) -> dict[str, Any]:
        # Written out by hand: it runs once per author on every import (hundreds of thousands).
        out: dict[str, Any] = {"name": self.name}
        if self.hf_id is not None:
            out["hf_id"] = self.hf_id
        if self.hidden is not None:
            out["hidden"] = self.hidden
        if self.status is not None:
            out["status"] = self.status
        if self.status_changed_at is not None:
            out["status_changed_at"] = self.status_changed_at
        if self.affiliation is not None:
            out["affiliation"] = self.affiliation
        if self.user is not None:
            out["user"] = self.user.to_json()
        return out


@dataclass(slots=True)
class Organization:
    name: str
    hf_id: str | None = None
    fullname: str | None = None
    avatar_url: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in _asdict(self).items() if v is not None}


@dataclass(slots=True)
class PaperRecord:
    """One paper as one upstream describes it. ``None`` means "this source does not say"."""

    arxiv_id: str  # canonical, without version (see dailypapers.ids)
    source: str
    version: int | None = None
    title: str | None = None
    abstract: str | None = None
    authors: list[Author] | None = None
    categories: list[str] | None = None
    primary_category: str | None = None
    submitted_at: str | None = None  # first version (arXiv) as received
    updated_at: str | None = None  # latest version (arXiv) as received
    hf_published_at: str | None = None  # Hugging Face paper.publishedAt as received
    comments: str | None = None
    journal_ref: str | None = None
    doi: str | None = None
    license: str | None = None
    github_repo: str | None = None
    github_stars: int | None = None
    project_page: str | None = None
    ai_summary: str | None = None
    ai_keywords: list[str] | None = None
    upvotes: int | None = None
    num_comments: int | None = None
    discussion_id: str | None = None
    thumbnail: str | None = None
    media_urls: list[str] | None = None
    organization: Organization | None = None
    withdrawn_at: str | None = None


@dataclass(slots=True)
class FeatureRecord:
    """A paper featured on a day's list (Hugging Face daily papers or a local curator)."""

    arxiv_id: str
    day: dt.date
    source: str
    upvotes: int | None = None
    num_comments: int | None = None
    published_at: str | None = None  # outer publishedAt as received (not the feature day)
    submitted_on_daily_at: str | None = None
    submitted_by: HubUser | None = None
    organization: Organization | None = None
    is_author_participating: bool | None = None
    title: str | None = None  # outer title, as shown on the day's list


@dataclass(slots=True)
class Refusal:
    """A record that could not be taken, with enough to find it again."""

    reason: str
    record_id: str | None = None
    position: str | None = None  # e.g. "item 3" or "record 17" or "line 42"
    file: str | None = None

    def describe(self) -> str:
        """One printable line: a refusal may quote what was refused (controls, escape sequences
        that would drive a terminal, lone surrogates that cannot be printed at all)."""
        where = ":".join(p for p in (self.file, self.position) if p)
        who = f" [{self.record_id}]" if self.record_id else ""
        line = f"{where}{who}: {self.reason}" if where else f"{who.strip()} {self.reason}".strip()
        if line.isprintable():
            return line
        return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in line)


@dataclass(slots=True)
class LinkedRepo:
    """A Hugging Face model, dataset or Space citing a paper (an entry of linkedModels, …)."""

    kind: str  # "model" | "dataset" | "space"
    repo_id: str
    author: str | None = None
    likes: int | None = None
    downloads: int | None = None
    last_modified: str | None = None  # as received


@dataclass(slots=True)
class LinkedRepos:
    """Everything a paper-info answer says cites the paper: replaces what was stored before."""

    arxiv_id: str
    repos: list[LinkedRepo] = field(default_factory=list)
    num_models: int | None = None  # upstream's totals: its lists may be cut short
    num_datasets: int | None = None


@dataclass(slots=True)
class ParsedItem:
    paper: PaperRecord
    feature: FeatureRecord | None = None
    linked: LinkedRepos | None = None  # only from a Hugging Face paper-info answer


@dataclass(slots=True)
class ParseResult:
    """What a parser hands back for one file or answer body."""

    items: list[ParsedItem] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    next_token: str | None = None  # OAI-PMH resumptionToken, when the page has one


def _fast_pickle(cls: type) -> type:
    """Pickle as (class, field values): the importer ships records between processes, and this
    halves the cost of unpickling them compared with the dataclass default."""
    names = cls.__slots__

    def __reduce__(self: Any) -> tuple[type, tuple[Any, ...]]:
        return cls, tuple([getattr(self, name) for name in names])

    cls.__reduce__ = __reduce__  # type: ignore[method-assign,assignment]
    return cls


for _cls in (HubUser, Author, Organization, PaperRecord, FeatureRecord, Refusal, ParsedItem,
             LinkedRepo, LinkedRepos):
    _fast_pickle(_cls)


def _asdict(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__slots__}
