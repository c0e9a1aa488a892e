"""Headers of a digest mail that lets its reader leave: RFC 8058 one-click unsubscribe, List-Id.

For the digest sender (later work): ``apply(message, list_headers(...))``. Text that came from
a user or a setting (a saved search in a subject, the site's name in List-Id) goes through
:func:`header_text` first: no CR, LF or other control or line-separator character survives, so
no value can end its header and start another (``email.policy.SMTP`` would refuse it anyway;
we would rather send the mail).
"""

from __future__ import annotations

import re
import unicodedata
from email.message import EmailMessage
from urllib.parse import urlsplit

_TOKEN = re.compile(r"[0-9a-z]+\.[0-9a-z]+\.[A-Za-z0-9_-]+")  # notify/tokens.py's shape
_PHRASE_UNSAFE = str.maketrans({c: " " for c in '"\\<>'})


def header_text(value: str, max_chars: int = 200) -> str:
    """One line of plain text fit for a header: control characters (C*), line and paragraph
    separators (Zl, Zp) become spaces, runs of spaces one, cut to ``max_chars``."""
    cleaned = "".join(" " if unicodedata.category(c)[0] == "C" or unicodedata.category(c)
                      in ("Zl", "Zp") else c for c in value)
    return " ".join(cleaned.split())[:max_chars]


def _base(base_url: str) -> str:
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname \
            or any(c.isspace() or not c.isprintable() for c in base_url):
        raise ValueError(f"not a base URL for mail links: {base_url[:100]!r}")
    return base_url.rstrip("/")


def list_id(base_url: str, site_name: str, frequency: str) -> str:
    """``"Daily Papers daily digest" <daily-digest.papers.example.org>`` (RFC 2919)."""
    host = urlsplit(_base(base_url)).hostname or "localhost"
    label = re.sub(r"[^a-z0-9-]", "-", frequency.lower())[:20] or "digest"
    phrase = header_text(site_name.translate(_PHRASE_UNSAFE), 100)
    return f'"{phrase} {label} digest" <{label}-digest.{host}>'


def list_headers(base_url: str, site_name: str, frequency: str,
                 unsubscribe_token: str) -> dict[str, str]:
    """List-Unsubscribe (the one-click URL), List-Unsubscribe-Post, List-Id."""
    if not _TOKEN.fullmatch(unsubscribe_token):
        raise ValueError("not an unsubscribe token")
    return {
        "List-Unsubscribe": f"<{_base(base_url)}/unsubscribe/{unsubscribe_token}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "List-Id": list_id(base_url, site_name, frequency),
    }


def apply(message: EmailMessage, headers: dict[str, str]) -> EmailMessage:
    for name, value in headers.items():
        del message[name]
        message[name] = value
    return message
