"""What an answer's headers tell a client: a 200 or a 304 by its validators (RFC 9110 §13), and
the private ``Cache-Control`` and ``Vary`` of an answer nobody may keep (web/cache.py)."""

from __future__ import annotations

import email.utils

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import Message, Send

PRIVATE = "private, no-store"


async def answer(headers: list[tuple[bytes, bytes]], body: bytes, etag: bytes,
                 request_headers: Headers, send: Send) -> None:
    """A 200 with ``body``, or a 304 when the client already has it."""
    if not_modified(request_headers, etag, headers):
        kept = [(n, v) for n, v in headers if n not in (b"content-type", b"content-length")]
        await send({"type": "http.response.start", "status": 304, "headers": kept})
        await send({"type": "http.response.body", "body": b""})
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [*headers, (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def not_modified(request_headers: Headers, etag: bytes,
                 headers: list[tuple[bytes, bytes]]) -> bool:
    """RFC 9110 §13.2.2: If-None-Match decides when sent (weak comparison, ``*`` matches any);
    else If-Modified-Since against the answer's Last-Modified (the feeds'), if both read."""
    if_none_match = request_headers.get("if-none-match")
    if if_none_match is not None:
        tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
        return "*" in tags or etag.decode("latin-1").removeprefix("W/") in tags
    since = request_headers.get("if-modified-since")
    modified = next((v.decode("latin-1") for n, v in headers if n == b"last-modified"), None)
    if not since or not modified:
        return False
    try:
        since_at = email.utils.parsedate_to_datetime(since)
        modified_at = email.utils.parsedate_to_datetime(modified)
    except (TypeError, ValueError, IndexError):
        return False
    if since_at is None or since_at.tzinfo is None or modified_at.tzinfo is None:
        return False
    return modified_at <= since_at


def private(send: Send, vary: bytes) -> Send:
    async def send_private(message: Message) -> None:
        if message["type"] == "http.response.start":
            make_private(MutableHeaders(scope=message), vary)
        await send(message)
    return send_private


def make_private(headers: MutableHeaders, vary: bytes) -> None:
    if "no-store" not in headers.get("cache-control", ""):  # a route's own no-store is enough
        headers["Cache-Control"] = PRIVATE
    add_vary(headers, vary)


def add_vary(headers: MutableHeaders, vary: bytes) -> None:
    have = {v.strip().lower() for v in headers.get("vary", "").split(",") if v.strip()}
    for name in vary.decode().split(", "):
        if name.lower() not in have:
            headers.add_vary_header(name)
