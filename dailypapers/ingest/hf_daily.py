"""Hugging Face daily-papers answers (``/api/daily_papers?date=D``) → records.

Real answers, as recorded, come with quirks this parser takes on purpose:
- a plain JSON list of items, or ``{"status", "date", "count", "data": [...]}`` around it;
- items that are Python-repr strings instead of JSON objects (late 2024);
- ``mediaUrl`` instead of ``mediaUrls`` (before mid-2024), items without ``submittedBy``;
- older items without ``paper.submittedOnDailyAt``: their feature day is the day asked for
  (the file name, or the wrapper's ``date``). The outer ``publishedAt`` is never the feature day.
"""

from __future__ import annotations

import ast
import datetime as dt
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from dailypapers.ids import InvalidArxivId, split_arxiv_id
from dailypapers.ingest.links import find_links
from dailypapers.ingest.records import (
    SOURCE_HF,
    Author,
    FeatureRecord,
    HubUser,
    Organization,
    PaperRecord,
    ParsedItem,
    Refusal,
)

_DAY_IN_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})")


def day_from_filename(path: str | Path) -> dt.date | None:
    m = _DAY_IN_NAME.search(Path(path).name)
    if not m:
        return None
    try:
        return dt.date.fromisoformat(m.group(1))
    except ValueError:
        return None


def looks_like(head: bytes) -> bool:
    """A JSON list of items (or the wrapper around one) whose items carry a ``paper`` object."""
    text = head.lstrip()[:4096].decode("utf-8", "replace")
    if text.startswith("["):
        return '"paper"' in text or "'paper'" in text
    return text.startswith("{") and '"data"' in text and ("'paper'" in text or '"paper"' in text)


def parse(
    stream: IO[bytes], *, file_label: str | None = None, day: dt.date | None = None
) -> Iterator[ParsedItem | Refusal]:
    """Parse one recorded or live answer. ``day`` is the ``date=`` it answered, if known."""
    if day is None and file_label:
        day = day_from_filename(file_label)
    try:
        body = json.load(stream)
    except (ValueError, UnicodeDecodeError) as exc:
        yield Refusal(reason=f"not valid JSON: {exc}", position="file", file=file_label)
        return
    except RecursionError:
        # The decoder recurses once per nesting level: 100,000 "[" end here, not in a traceback.
        yield Refusal(
            reason=f"not readable: JSON nested deeper than {sys.getrecursionlimit():,} levels",
            position="file", file=file_label,
        )
        return
    items, day = unwrap(body, day)
    if items is None:
        yield Refusal(reason="expected a list of daily items", position="file", file=file_label)
        return
    yield from parse_items(items, day=day, file_label=file_label)


def unwrap(body: Any, day: dt.date | None) -> tuple[list[Any] | None, dt.date | None]:
    """The list of items in an answer, and its day: ``{"date", "data": [...]}`` names its own."""
    if isinstance(body, dict):
        if isinstance(body.get("date"), str):
            try:
                day = dt.date.fromisoformat(body["date"][:10])
            except ValueError:
                pass
        body = body.get("data")
    return (body if isinstance(body, list) else None), day


def parse_items(
    items: list[Any], *, day: dt.date | None, file_label: str | None = None
) -> Iterator[ParsedItem | Refusal]:
    for index, raw in enumerate(items):
        position = f"item {index}"
        try:
            item = _coerce_item(raw)
            yield _parse_item(item, day)
        except _Refused as exc:
            yield Refusal(
                reason=str(exc), record_id=exc.record_id, position=position, file=file_label
            )
        except Exception as exc:  # noqa: BLE001 - one item's surprise must not sink its file
            yield Refusal(
                reason=f"could not be read: {type(exc).__name__}: {str(exc)[:300]}",
                record_id=_id_of(raw), position=position, file=file_label,
            )


def _id_of(raw: Any) -> str | None:
    """The paper id of a raw item, if it plainly has one (for a refusal)."""
    paper = raw.get("paper") if isinstance(raw, dict) else None
    raw_id = paper.get("id") if isinstance(paper, dict) else None
    return raw_id[:64] if isinstance(raw_id, str) else None


class _Refused(Exception):
    def __init__(self, reason: str, record_id: str | None = None):
        super().__init__(reason)
        self.record_id = record_id


def _coerce_item(raw: Any) -> dict[str, Any]:
    if isinstance(raw, str):
        try:
            raw = ast.literal_eval(raw)
        except (ValueError, SyntaxError, MemoryError, RecursionError) as exc:
            raise _Refused(f"item is a string that is not a Python literal: {exc}") from None
    if not isinstance(raw, dict):
        raise _Refused(f"item is a {type(raw).__name__}, expected an object")
    return raw


def _parse_item(item: dict[str, Any], request_day: dt.date | None) -> ParsedItem:
    paper = item.get("paper")
    if not isinstance(paper, dict):
        raise _Refused("item has no 'paper' object")
    raw_id = paper.get("id")
    if not isinstance(raw_id, str) or not raw_id:
        raise _Refused("paper has no id")
    try:
        arxiv_id, version = split_arxiv_id(raw_id)
    except InvalidArxivId as exc:
        raise _Refused(str(exc), raw_id) from None
    title = _text(paper.get("title")) or _text(item.get("title"))
    if not title:
        raise _Refused("paper has no title", arxiv_id)
    abstract = _text(paper.get("summary")) or _text(item.get("summary")) or ""
    authors_raw = paper.get("authors")
    if authors_raw is not None and not isinstance(authors_raw, list):
        raise _Refused("authors is not a list", arxiv_id)
    authors = [_author(a, arxiv_id) for a in authors_raw or []]

    submitted_on = _text(paper.get("submittedOnDailyAt"))
    day = _utc_day(submitted_on, arxiv_id) if submitted_on else request_day
    if day is None:
        raise _Refused("no feature day: no submittedOnDailyAt and no date asked for", arxiv_id)

    github, project = _text(paper.get("githubRepo")), _text(paper.get("projectPage"))
    if not github and not project:
        # Hugging Face gives no links: look for them where authors usually put them.
        github, project = find_links(abstract, None)
    media = item.get("mediaUrls", paper.get("mediaUrls"))
    # Answers before mid-2024 carry one ``mediaUrl`` string: the social thumbnail.
    legacy_media = item.get("mediaUrl")
    organization = _organization(item.get("organization") or paper.get("organization"))
    upvotes = _int(paper.get("upvotes"), "upvotes", arxiv_id)
    num_comments = _int(item.get("numComments"), "numComments", arxiv_id)
    keywords = paper.get("ai_keywords")

    record = PaperRecord(
        arxiv_id=arxiv_id,
        source=SOURCE_HF,
        version=version,
        title=title,
        abstract=abstract,
        authors=authors,
        hf_published_at=_text(paper.get("publishedAt")),
        github_repo=github,
        github_stars=_int(paper.get("githubStars"), "githubStars", arxiv_id),
        project_page=project,
        ai_summary=_text(paper.get("ai_summary")),
        ai_keywords=[str(k) for k in keywords] if isinstance(keywords, list) else None,
        upvotes=upvotes if upvotes is not None else 0,
        num_comments=num_comments,
        discussion_id=_text(paper.get("discussionId")),
        thumbnail=_text(item.get("thumbnail")) or _text(legacy_media),
        media_urls=[str(u) for u in media] if isinstance(media, list) else None,
        organization=organization,
        withdrawn_at=_text(paper.get("withdrawnAt")),
    )
    feature = FeatureRecord(
        arxiv_id=arxiv_id,
        day=day,
        source=SOURCE_HF,
        upvotes=record.upvotes,
        num_comments=num_comments if num_comments is not None else 0,
        published_at=_text(item.get("publishedAt")),
        submitted_on_daily_at=submitted_on,
        submitted_by=_user(item.get("submittedBy") or paper.get("submittedOnDailyBy")),
        organization=organization,
        is_author_participating=_bool(item.get("isAuthorParticipating")),
        title=_text(item.get("title")),
    )
    return ParsedItem(paper=record, feature=feature)


def _author(raw: Any, arxiv_id: str) -> Author:
    if isinstance(raw, str):
        return Author(name=raw.strip())
    if not isinstance(raw, dict) or not _text(raw.get("name")):
        raise _Refused("an author has no name", arxiv_id)
    return Author(
        name=_text(raw["name"]) or "",
        hf_id=_text(raw.get("_id")),
        hidden=_bool(raw.get("hidden")),
        status=_text(raw.get("status")),
        status_changed_at=_text(raw.get("statusLastChangedAt")),
        user=_user(raw.get("user")),
    )


def _user(raw: Any) -> HubUser | None:
    if not isinstance(raw, dict):
        return None
    username = _text(raw.get("user")) or _text(raw.get("name"))
    if not username:
        return None
    return HubUser(
        username=username,
        hf_id=_text(raw.get("_id")),
        fullname=_text(raw.get("fullname")),
        avatar_url=_text(raw.get("avatarUrl")),
        type=_text(raw.get("type")),
        is_pro=_bool(raw.get("isPro")),
        is_hf=_bool(raw.get("isHf")),
        is_hf_admin=_bool(raw.get("isHfAdmin")),
        is_mod=_bool(raw.get("isMod")),
        follower_count=_count(raw.get("followerCount")),
    )


def _organization(raw: Any) -> Organization | None:
    if not isinstance(raw, dict) or not _text(raw.get("name")):
        return None
    return Organization(
        name=_text(raw["name"]) or "",
        hf_id=_text(raw.get("_id")),
        fullname=_text(raw.get("fullname")),
        avatar_url=_text(raw.get("avatar")) or _text(raw.get("avatarUrl")),
    )


def _utc_day(stamp: str, arxiv_id: str) -> dt.date:
    try:
        parsed = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        raise _Refused(f"submittedOnDailyAt is not a timestamp: {stamp!r}", arxiv_id) from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.timezone.utc)
    return parsed.date()


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


def _int(value: Any, name: str, arxiv_id: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise _Refused(f"{name} is not a number: {value!r}", arxiv_id)
    try:
        return int(value)
    except ValueError:
        raise _Refused(f"{name} is not a number: {value!r}", arxiv_id) from None


def _count(value: Any) -> int | None:
    """A non-negative integer as received, else None (a passthrough field never refuses)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None
