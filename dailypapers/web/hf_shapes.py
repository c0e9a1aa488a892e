"""Hugging Face's JSON shapes, rebuilt from our normalised columns (never a stored answer).

Key names follow huggingface.co exactly, including its inconsistencies: ``submittedBy`` names the
account with ``name``, while ``authors[].user`` and ``submittedOnDailyBy`` use ``user``.

Every upstream URL goes through ``validate.safe_url`` on the way out, even though the store checks
them on the way in: rows stored before that check existed must not hand a client a
``javascript:`` link. A refused URL is left out, as when upstream gives none.
"""

from __future__ import annotations

import re
from typing import Any

from dailypapers.catalog import Entry, total_comments, total_upvotes
from dailypapers.ingest.validate import safe_url

_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def iso_timestamp(value: str | None) -> str | None:
    """HF writes ``2024-05-27T00:00:00.000Z``; arXiv dates without a time get midnight UTC."""
    if not value:
        return None
    if _DATE_ONLY.match(value):
        return f"{value}T00:00:00.000Z"
    return value


def published_at(paper: dict[str, Any]) -> str | None:
    return paper["hf_published_at"] or iso_timestamp(paper["submitted_at"])


# Account fields kept as received and answered back under Hugging Face's names.
_PASSTHROUGH_USER_KEYS = (
    ("is_hf", "isHf"), ("is_hf_admin", "isHfAdmin"), ("is_mod", "isMod"),
    ("follower_count", "followerCount"),
)


def _user_keys(user: dict[str, Any] | None, *, username_key: str) -> dict[str, Any] | None:
    if not user:
        return None
    out: dict[str, Any] = {}
    if user.get("hf_id"):
        out["_id"] = user["hf_id"]
    avatar = safe_url(user.get("avatar_url"), allow_path=True)
    if avatar is not None:
        out["avatarUrl"] = avatar
    if user.get("is_pro") is not None:
        out["isPro"] = user["is_pro"]
    if user.get("fullname") is not None:
        out["fullname"] = user["fullname"]
    out[username_key] = user["username"]
    if user.get("type") is not None:
        out["type"] = user["type"]
    for ours, theirs in _PASSTHROUGH_USER_KEYS:
        if user.get(ours) is not None:
            out[theirs] = user[ours]
    return out


def author_json(author: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if author.get("hf_id"):
        out["_id"] = author["hf_id"]
    out["name"] = author["name"]
    if author.get("user"):
        out["user"] = _user_keys(author["user"], username_key="user")
    if author.get("status"):
        out["status"] = author["status"]
    if author.get("status_changed_at"):
        out["statusLastChangedAt"] = author["status_changed_at"]
    out["hidden"] = bool(author.get("hidden", False))
    return out


def organization_json(org: dict[str, Any] | None) -> dict[str, Any] | None:
    if not org:
        return None
    out: dict[str, Any] = {}
    if org.get("hf_id"):
        out["_id"] = org["hf_id"]
    out["name"] = org["name"]
    if org.get("fullname") is not None:
        out["fullname"] = org["fullname"]
    avatar = safe_url(org.get("avatar_url"), allow_path=True)
    if avatar is not None:
        out["avatar"] = avatar
    return out


def media_urls(paper: dict[str, Any]) -> list[str] | None:
    if not isinstance(paper["media_urls"], list):
        return None
    return [url for url in map(safe_url, paper["media_urls"]) if url is not None]


def paper_json(paper: dict[str, Any], feature: dict[str, Any] | None) -> dict[str, Any]:
    """The ``paper`` object of a daily item, and the body of ``/api/papers/{id}``."""
    out: dict[str, Any] = {
        "id": paper["id"],
        "authors": [author_json(a) for a in paper["authors"]],
        "publishedAt": published_at(paper),
    }
    if feature:
        if feature.get("submitted_on_daily_at"):
            out["submittedOnDailyAt"] = feature["submitted_on_daily_at"]
        by = _user_keys(feature.get("submitter"), username_key="user")
        if by:
            by["name"] = by["user"]
            out["submittedOnDailyBy"] = by
    out["title"] = paper["title"]
    out["summary"] = paper["abstract"]
    out["upvotes"] = total_upvotes(paper)  # Hugging Face's + ours
    if paper["discussion_id"]:
        out["discussionId"] = paper["discussion_id"]
    optional = {
        "githubRepo": safe_url(paper["github_repo"]),
        "githubStars": paper["github_stars"],
        "projectPage": safe_url(paper["project_page"]),
        "ai_summary": paper["ai_summary"],
        "ai_keywords": paper["ai_keywords"],
        "organization": organization_json(paper["organization"]),
        "mediaUrls": media_urls(paper),
        "withdrawnAt": paper["withdrawn_at"],
    }
    out.update({k: v for k, v in optional.items() if v is not None})
    return out


def daily_item_json(entry: Entry) -> dict[str, Any]:
    return item_json(entry.paper, entry.feature)


def paper_info_json(paper: dict[str, Any], features: list[dict[str, Any]],
                    linked: dict[str, Any] | None = None) -> dict[str, Any]:
    """``GET /api/papers/{id}``: the flat paper, as of its most recent feature day, with the
    repos citing it (``linked`` from :func:`dailypapers.ingest.linked.linked_of`)."""
    out = paper_json(paper, features[0] if features else None)
    out["numComments"] = total_comments(paper["num_comments"], paper)
    repos = linked["repos"] if linked else {"model": [], "dataset": [], "space": []}
    totals = linked["totals"] if linked else {}
    out.update(
        linkedModels=[linked_repo_json(r) for r in repos["model"]],
        numTotalModels=_total(totals.get("model"), repos["model"]),
        linkedDatasets=[linked_repo_json(r) for r in repos["dataset"]],
        numTotalDatasets=_total(totals.get("dataset"), repos["dataset"]),
        linkedSpaces=[linked_repo_json(r) for r in repos["space"]],
    )
    return out


def _total(total: int | None, repos: list[dict[str, Any]]) -> int:
    return total if total is not None else len(repos)


def linked_repo_json(repo: dict[str, Any]) -> dict[str, Any]:
    """One entry of ``linkedModels`` / ``linkedDatasets`` / ``linkedSpaces``: what we keep of it,
    under Hugging Face's keys (what ``ModelInfo`` / ``DatasetInfo`` / ``SpaceInfo`` read)."""
    out: dict[str, Any] = {"id": repo["repo_id"]}
    optional = {"author": repo["author"], "likes": repo["likes"],
                "downloads": repo["downloads"], "lastModified": repo["last_modified"]}
    out.update({k: v for k, v in optional.items() if v is not None})
    return out


def item_json(paper: dict[str, Any], feature: dict[str, Any] | None) -> dict[str, Any]:
    """A daily item (``/api/daily_papers``), also the shape of ``/api/papers/search`` results,
    where a paper may never have been featured."""
    item: dict[str, Any] = {
        "paper": paper_json(paper, feature),
        "publishedAt": (feature or {}).get("published_at") or published_at(paper),
        "title": paper["title"],
        "summary": paper["abstract"],
        "thumbnail": safe_url(paper["thumbnail"]),
        "numComments": total_comments((feature or {}).get("num_comments", paper["num_comments"]),
                                      paper),
    }
    media = media_urls(paper)
    if media is not None:
        item["mediaUrls"] = media
    if feature:
        submitter = _user_keys(feature.get("submitter"), username_key="name")
        if submitter:
            item["submittedBy"] = submitter
    org = organization_json((feature or {}).get("organization") or paper["organization"])
    if org:
        item["organization"] = org
    item["isAuthorParticipating"] = bool((feature or {}).get("is_author_participating"))
    return item
