"""One paper as Markdown: ``GET /papers/{id}.md``, what ``HfApi.read_paper`` and ``hf papers read``
fetch.

The text fields go out as stored, so LaTeX stays ``$…$`` for whatever renders the Markdown; only
whitespace is tidied (arXiv abstracts are hard-wrapped and indented, which Markdown would read as
code blocks). Links come only from ``http(s)`` URLs and from repo ids that pass
:func:`hub_repo_url`'s pattern: anything else an upstream sent is left out, never linked.
"""

from __future__ import annotations

import re
from typing import Any

from dailypapers.ingest.hf_paper_info import valid_repo_id
from dailypapers.ingest.validate import safe_url
from dailypapers.web.hf_shapes import published_at

HUB = "https://huggingface.co"
_KIND_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
_KIND_TITLE = {"model": "Models", "dataset": "Datasets", "space": "Spaces"}
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")


def hub_repo_url(kind: str, repo_id: str) -> str | None:
    """``https://huggingface.co/<id>`` (models), ``/datasets/<id>``, ``/spaces/<id>``; None for
    an id that is not a Hugging Face repo id."""
    if kind not in _KIND_PREFIX or not valid_repo_id(repo_id):
        return None
    return f"{HUB}/{_KIND_PREFIX[kind]}{repo_id}"


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())


def _paragraphs(text: str | None) -> str:
    parts = [_one_line(p) for p in _PARAGRAPH_BREAK.split((text or "").strip())]
    return "\n\n".join(p for p in parts if p)


def _label(text: str) -> str:
    """Text inside ``[...]``: brackets and backslashes escaped so the link stays one link."""
    return re.sub(r"([\\\[\]])", r"\\\1", _one_line(text))


def _link(text: str, url: str) -> str:
    return f"[{_label(text)}](<{url}>)"


def paper_markdown(
    paper: dict[str, Any], features: list[dict[str, Any]],
    linked: dict[str, Any] | None = None,
) -> str:
    """The Markdown document. ``features`` newest first; ``linked`` as from
    :func:`dailypapers.ingest.linked.linked_of` (None when never imported)."""
    pid = paper["id"]
    lines = [f"# {_one_line(paper['title']) or pid}", ""]
    authors = [_one_line(a["name"]) for a in paper["authors"] if not a.get("hidden")]
    if authors:
        lines.append(f"**Authors:** {', '.join(authors)}")
    published = published_at(paper)
    if published:
        lines.append(f"**Published:** {published[:10]}")
    if features:
        days = ", ".join(f["day"].isoformat() for f in features)
        lines.append(f"**Featured on Daily Papers:** {days}")
        submitter = features[0].get("submitter") or {}
        if submitter.get("username"):
            who = _one_line(submitter.get("fullname")) or submitter["username"]
            lines.append(f"**Submitted by:** {who} ({submitter['username']})")
    lines.append(f"**Upvotes:** {paper['upvotes'] + (paper.get('local_upvotes') or 0)}")
    links = [_link(f"arXiv:{pid}", f"https://arxiv.org/abs/{pid}"),
             _link("PDF", f"https://arxiv.org/pdf/{pid}")]
    github = safe_url(paper.get("github_repo"))
    if github:
        stars = f" ({paper['github_stars']} stars)" if paper.get("github_stars") else ""
        links.append(_link("Code", github) + stars)
    project = safe_url(paper.get("project_page"))
    if project:
        links.append(_link("Project page", project))
    lines.append(f"**Links:** {' · '.join(links)}")
    lines += ["", "## Abstract", "", _paragraphs(paper["abstract"]) or "(no abstract)"]
    if paper.get("ai_summary"):
        lines += ["", "## AI summary", "", _paragraphs(paper["ai_summary"])]
    if paper.get("ai_keywords"):
        lines += ["", f"**Keywords:** {', '.join(_one_line(k) for k in paper['ai_keywords'])}"]
    if linked:
        lines += _linked_sections(linked)
    return "\n".join(lines).rstrip() + "\n"


def linked_sections(linked: dict[str, Any] | None) -> list[dict[str, Any]]:
    """What a reader sees of the linked repos, per kind that has any: a title, the count
    (upstream's total where it gives one) and the repos most liked first, each with its Hub URL.
    Repos whose id cannot make a Hub URL are left out."""
    if not linked:
        return []
    out = []
    for kind in ("model", "dataset", "space"):
        repos = [{**r, "url": hub_repo_url(kind, r["repo_id"])} for r in linked["repos"][kind]]
        repos = sorted((r for r in repos if r["url"]), key=lambda r: (-(r["likes"] or 0),
                                                                     r["repo_id"].lower()))
        total = linked["totals"].get(kind)
        if not repos and not total:
            continue
        out.append({"kind": kind, "title": f"{_KIND_TITLE[kind]} citing this paper",
                    "count": total if total is not None else len(repos), "repos": repos})
    return out


def _linked_sections(linked: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for section in linked_sections(linked):
        out += ["", f"## {section['title']} ({section['count']})", ""]
        for repo in section["repos"]:
            figures = [f"{repo['likes']} likes"] if repo.get("likes") is not None else []
            if repo.get("downloads") is not None:
                figures.append(f"{repo['downloads']} downloads")
            tail = f" · {', '.join(figures)}" if figures else ""
            out.append(f"- {_link(repo['repo_id'], repo['url'])}{tail}")
    return out
