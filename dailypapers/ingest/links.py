"""Code and project-page links in free text (abstracts, comments).

``find_links`` is deliberately conservative: a GitHub repository is any
``github.com/<owner>/<repo>`` URL (normalised to ``https://github.com/owner/repo``), and a
project page is either a ``*.github.io`` / ``*.gitlab.io`` site or a URL introduced, within a
few words, by a cue such as "project page", "project website", "companion site" or "demo".
Everything else (journal and conference sites, authors' home pages, data sets, videos, files,
DOIs, arXiv links) is left alone rather than guessed at.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

# A URL with a scheme, or a bare GitHub host (``github.com/owner/repo``, ``name.github.io``)
# that is not the tail of some longer word or address. Characters that never belong to a URL
# in running text (and LaTeX braces) end it.
_CANDIDATE = re.compile(
    r"""(?:https?://|(?<![\w@./\\-])"""
    r"""(?=(?:www\.)?github\.com/|[a-z0-9][a-z0-9-]*\.git(?:hub|lab)\.io\b))"""
    r"""[^\s<>"'{}|\\^`\[\]]+""",
    re.IGNORECASE,
)
# Words that announce a project page in the few characters before a URL. Plain "website" or
# "homepage" is not enough (journals, conferences and authors' home pages use it too).
_CUE = re.compile(
    r"(?:project|paper|companion|supporting|accompanying|associated|our|package|software|tool)"
    r"(?:'s)?\s+(?:home\s*page|web\s*page|web\s*site|page|site)\b|\bdemo(?:nstration)?s?\b",
    re.IGNORECASE,
)
_CUE_WINDOW = 40
_TRAILING = ".,;:!?'\"*>"
_OWNER = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")
_REPO = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
# First path segments of github.com that are GitHub's own pages, not accounts.
_NOT_OWNERS = frozenset(
    {
        "about",
        "apps",
        "blog",
        "collections",
        "contact",
        "customer-stories",
        "enterprise",
        "events",
        "explore",
        "features",
        "issues",
        "join",
        "login",
        "marketplace",
        "notifications",
        "orgs",
        "organizations",
        "pricing",
        "pulls",
        "readme",
        "search",
        "security",
        "settings",
        "site",
        "sponsors",
        "topics",
        "trending",
        "users",
    }
)
_GITHUB_HOSTS = frozenset({"github.com", "www.github.com"})
# Never a project page.
_EXCLUDED_HOSTS = (
    "arxiv.org",
    "doi.org",
    "github.com",
    "creativecommons.org",
    "youtube.com",
    "youtu.be",
    "vimeo.com",
    "mail.google.com",
    "drive.google.com",
    "dropbox.com",
    "goo.gl",
    "bit.ly",
)
_PAGES_HOSTS = (".github.io", ".gitlab.io")
# Files, not pages.
_FILE_SUFFIXES = (
    ".pdf",
    ".ps",
    ".gz",
    ".zip",
    ".tar",
    ".tgz",
    ".mp4",
    ".avi",
    ".mov",
    ".mkv",
    ".webm",
    ".gif",
    ".png",
    ".jpg",
    ".jpeg",
    ".csv",
    ".txt",
)


def find_links(abstract: str | None, comments: str | None) -> tuple[str | None, str | None]:
    """Return ``(github_repo, project_page)`` found in the abstract, then the comments."""
    github: str | None = None
    project: str | None = None
    for text in (abstract, comments):
        if not text or ("http" not in text and "github" not in text.lower()):
            continue
        if "\\" in text:  # LaTeX escapes inside URLs: \_ \~ \%
            text = text.replace("\\_", "_").replace("\\~{}", "~").replace("\\~", "~")
            text = text.replace("\\%", "%").replace("\\#", "#").replace("\\&", "&")
        if "git@github.com:" in text:
            text = text.replace("git@github.com:", "github.com/")
        for m in _CANDIDATE.finditer(text):
            url = _trim(m.group(0))
            host, path, full = _split(url)
            if not host:
                continue
            if host in _GITHUB_HOSTS:
                if github is None:
                    github = _github_repo(path)
            elif project is None and _is_project_page(host, path, text, m.start()):
                # GitHub / GitLab Pages serve HTTPS only.
                if full.startswith("http://") and host.endswith(_PAGES_HOSTS):
                    full = "https://" + full[7:]
                project = full
            if github is not None and project is not None:
                return github, project
    return github, project


def normalize_github_repo(url: str | None) -> str | None:
    """``https://github.com/owner/repo`` for any URL inside a GitHub repository, else None."""
    if not url:
        return None
    host, path, _ = _split(_trim(url.strip()))
    if host not in _GITHUB_HOSTS:
        return None
    return _github_repo(path)


def _trim(url: str) -> str:
    while url:
        last = url[-1]
        if last in _TRAILING:
            url = url[:-1]
        elif last == ")" and url.count("(") < url.count(")"):
            url = url[:-1]
        else:
            break
    return url


def _split(url: str) -> tuple[str, str, str]:
    """``(lower-case host, path, url with a scheme)``; host is empty when unusable."""
    full = url if "://" in url else "https://" + url
    try:
        parts = urlsplit(full)
        host = (parts.hostname or "").lower()
    except ValueError:
        return "", "", full
    if "." not in host:
        return "", "", full
    return host, parts.path, full


def _github_repo(path: str) -> str | None:
    segments = [s for s in path.split("/") if s]
    if len(segments) < 2:
        return None
    owner, repo = segments[0], segments[1]
    if repo.lower().endswith(".git"):
        repo = repo[:-4]
    repo = repo.rstrip(".")
    if (
        owner.lower() in _NOT_OWNERS
        or not _OWNER.match(owner)
        or not _REPO.match(repo)
        or repo in {".", ".."}
    ):
        return None
    return f"https://github.com/{owner}/{repo}"


def _is_project_page(host: str, path: str, text: str, start: int) -> bool:
    for excluded in _EXCLUDED_HOSTS:
        if host == excluded or host.endswith("." + excluded):
            return False
    if path.lower().endswith(_FILE_SUFFIXES):
        return False
    if host.endswith(_PAGES_HOSTS):
        return True
    return _CUE.search(text, max(0, start - _CUE_WINDOW), start) is not None
