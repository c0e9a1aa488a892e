"""Hugging Face paper-info answers (``GET /api/papers/{id}``) → records, the sixth import format.

The answer is the flat paper object of a daily item (the ``paper`` fields at top level) plus the
repos citing the paper: ``linkedModels``, ``numTotalModels``, ``linkedDatasets``,
``numTotalDatasets``, ``linkedSpaces``. The paper fields go through the daily-papers parser, so
the usual merge rules hold (they never overwrite arXiv's text); a feature day comes only from
``submittedOnDailyAt``. The linked lists replace whatever was stored for the paper. A linked
entry that is not a Hugging Face repo (bad id, not an object) is refused on its own, with its
position: the paper and the other entries still land.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from typing import IO, Any

from dailypapers.ingest import hf_daily
from dailypapers.ingest.records import LinkedRepo, LinkedRepos, ParsedItem, Refusal

LISTS = (("linkedModels", "model"), ("linkedDatasets", "dataset"), ("linkedSpaces", "space"))
TOTALS = ("numTotalModels", "numTotalDatasets")
MAX_PER_KIND = 1000  # huggingface.co cuts its lists far shorter; more is not a paper-info answer
MAX_AUTHOR = 128
MAX_STAMP = 40
_ANY_DAY = dt.date(2000, 1, 1)  # lets the daily parser run; the feature is dropped without a day

# Hugging Face repo ids: an optional namespace and a name, letters, digits, "-", "_", "."; neither
# part starts or ends with "-" or "." nor holds "--" or ".."; at most 96 characters each.
_REPO_PART = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_])?"
_REPO_ID = re.compile(rf"^(?:{_REPO_PART}/)?{_REPO_PART}$")


def valid_repo_id(repo_id: Any) -> bool:
    return (isinstance(repo_id, str) and "--" not in repo_id and ".." not in repo_id
            and _REPO_ID.match(repo_id) is not None)


def looks_like(head: bytes) -> bool:
    """One JSON object with a paper's ``id`` and the paper-info keys, not a wrapped daily list."""
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()[:4096].decode("utf-8", "replace")
    if not text.startswith("{") or '"id"' not in text or '"data"' in text:
        return False
    return any(f'"{key}"' in text for key in (*dict(LISTS), *TOTALS, "discussionId", "upvotes"))


def parse(stream: IO[bytes], *, file_label: str | None = None) -> Iterator[ParsedItem | Refusal]:
    try:
        body = json.load(stream)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        yield Refusal(reason=f"not valid JSON: {exc}", position="file", file=file_label)
        return
    yield from parse_answer(body, file_label=file_label)


def parse_answer(body: Any, *, file_label: str | None = None) -> Iterator[ParsedItem | Refusal]:
    """One decoded answer (also what the sync hands over)."""
    if not isinstance(body, dict):
        yield Refusal(reason="expected a paper-info object", position="file", file=file_label)
        return
    item = {"paper": body, "numComments": body.get("numComments"),
            "organization": body.get("organization")}
    parsed = next(iter(hf_daily.parse_items([item], day=_ANY_DAY, file_label=file_label)))
    if isinstance(parsed, Refusal):
        parsed.position = "paper"
        yield parsed
        return
    if not body.get("submittedOnDailyAt"):
        parsed.feature = None  # not featured (or upstream does not say when)
    refusals: list[Refusal] = []
    parsed.linked = _linked(body, parsed.paper.arxiv_id, refusals, file_label)
    yield parsed
    yield from refusals


def _linked(body: dict[str, Any], arxiv_id: str, refusals: list[Refusal],
            file_label: str | None) -> LinkedRepos | None:
    if not any(key in body for key in (*dict(LISTS), *TOTALS)):
        return None  # this answer says nothing about linked repos: keep what we have

    def refuse(position: str, reason: str) -> None:
        refusals.append(Refusal(reason=reason, record_id=arxiv_id, position=position,
                                file=file_label))

    record = LinkedRepos(arxiv_id=arxiv_id, num_models=_count(body.get("numTotalModels")),
                         num_datasets=_count(body.get("numTotalDatasets")))
    for key in TOTALS:
        if body.get(key) is not None and _count(body[key]) is None:
            refuse(key, f"{key} is not a count: {str(body[key])[:40]!r}")
    for key, kind in LISTS:
        entries = body.get(key)
        if entries is None:
            continue
        if not isinstance(entries, list):
            refuse(key, f"{key} is not a list")
            continue
        if len(entries) > MAX_PER_KIND:
            refuse(key, f"{key} has {len(entries)} entries: only the first {MAX_PER_KIND} kept")
        seen: set[str] = set()
        for index, entry in enumerate(entries[:MAX_PER_KIND]):
            where = f"{key}[{index}]"
            if not isinstance(entry, dict):
                refuse(where, f"entry is a {type(entry).__name__}, expected an object")
                continue
            repo_id = entry.get("id")
            if not valid_repo_id(repo_id):
                refuse(where, f"{str(repo_id)[:100]!r} is not a Hugging Face repo id")
                continue
            if repo_id in seen:
                continue  # listed twice: the first one stands
            seen.add(repo_id)
            record.repos.append(LinkedRepo(
                kind=kind, repo_id=repo_id, author=_short(entry.get("author"), MAX_AUTHOR),
                likes=_count(entry.get("likes")), downloads=_count(entry.get("downloads"), 2**53),
                last_modified=_short(entry.get("lastModified"), MAX_STAMP),
            ))
    return record


def _count(value: Any, high: int = 2**31) -> int | None:
    """A non-negative integer that fits its column, else None."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < high:
        return value
    return None


def _short(value: Any, limit: int) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value if value and len(value) <= limit and value.isprintable() else None
