"""Signed links for subscriptions: confirm, unsubscribe, manage.

A token is ``<subscription id>.<issued, unix seconds>.<signature>`` (ids and times in base 36,
the signature 128 bits of HMAC-SHA256 in URL-safe base64), so a link is short and holds no
address. The signed message names the token's purpose: an unsubscribe token cannot confirm,
a confirmation token cannot open the preferences. Nothing is stored: the link is the credential,
and a subscription row is never deleted, so its id never names another address.

Keys: new tokens are signed with DAILYPAPERS_SECRET_KEY; a token verifies under it or any key of
DAILYPAPERS_SECRET_KEY_PREVIOUS, so links in mails already sent survive a key rotation.
Confirmation tokens expire (DAILYPAPERS_SUBSCRIBE_CONFIRM_HOURS); unsubscribe and manage tokens
do not (RFC 8058: a one-click link in an old mail must still work).

Bounce tokens (:func:`make_bounce_token`) name a digest outbox row in the envelope sender of its
mail (VERP, notify/verp.py): ``<row id in base 36>-<signature in base 32>``, lowercase only,
since mail systems may change the case of an address's local part.
"""

from __future__ import annotations

import base64
import hashlib
import re
import hmac
import time
from collections.abc import Sequence
from typing import NamedTuple

PURPOSES = ("confirm", "unsubscribe", "manage")
MAX_TOKEN_CHARS = 80  # id and time in base 36 plus 22 characters of signature: far below
SIGNATURE_BYTES = 16


class Claims(NamedTuple):
    subscription_id: int
    issued_at: int  # unix seconds


def _b36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if not number:
            return out


def _signature(key: bytes, purpose: str, payload: str) -> str:
    message = f"dailypapers:subscription:{purpose}:{payload}".encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()[:SIGNATURE_BYTES]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def make_token(key: bytes, purpose: str, subscription_id: int, now: float | None = None) -> str:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown token purpose {purpose!r}")
    issued = int(time.time() if now is None else now)
    payload = f"{_b36(subscription_id)}.{_b36(issued)}"
    return f"{payload}.{_signature(key, purpose, payload)}"


LINK_PATHS = {"confirm": "/subscribe/confirm/", "unsubscribe": "/unsubscribe/",
              "manage": "/subscription/"}


def link_path(key: bytes, purpose: str, subscription_id: int) -> str:
    """The site path of a fresh signed link (``/subscribe/confirm/<token>``)."""
    return LINK_PATHS[purpose] + make_token(key, purpose, subscription_id)


def read_token(keys: Sequence[bytes], purpose: str, token: str, *,
               max_age_seconds: float | None = None, now: float | None = None) -> Claims | None:
    """The claims of a token signed for ``purpose`` under one of ``keys``, or None (forged,
    mangled, another purpose's, or older than ``max_age_seconds``)."""
    if not token or len(token) > MAX_TOKEN_CHARS or token.count(".") != 2:
        return None
    id_text, issued_text, signature = token.split(".")
    payload = f"{id_text}.{issued_text}"
    if not any(hmac.compare_digest(signature, _signature(key, purpose, payload)) for key in keys):
        return None
    try:
        claims = Claims(int(id_text, 36), int(issued_text, 36))
    except ValueError:
        return None
    if max_age_seconds is not None:
        age = (time.time() if now is None else now) - claims.issued_at
        if not -300 <= age <= max_age_seconds:  # five minutes of clock skew between servers
            return None
    return claims


# --- bounce tokens (VERP) --------------------------------------------------------------------

_BOUNCE_TOKEN = re.compile(r"([0-9a-z]{1,13})-([a-z2-7]{26})")


def _bounce_signature(key: bytes, id_text: str) -> str:
    message = f"dailypapers:bounce:{id_text}".encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()[:SIGNATURE_BYTES]
    return base64.b32encode(digest).rstrip(b"=").decode().lower()


def make_bounce_token(key: bytes, outbox_id: int) -> str:
    id_text = _b36(outbox_id)
    return f"{id_text}-{_bounce_signature(key, id_text)}"


def read_bounce_token(keys: Sequence[bytes], token: str) -> int | None:
    """The outbox row id a bounce token names, or None (forged, mangled or not one). Case is
    ignored: some relays fold the local part to upper or lower case."""
    match = _BOUNCE_TOKEN.fullmatch(token.lower()) if len(token) <= 40 else None
    if match is None:
        return None
    id_text, signature = match.groups()
    if not any(hmac.compare_digest(signature, _bounce_signature(key, id_text)) for key in keys):
        return None
    return int(id_text, 36)
