"""Security headers on every answer, and the Host header checked against the allowed hosts.

One pure ASGI middleware, wrapped around the whole app (outside Starlette's error middleware, so
its 500s get the headers too): pages, JSON, errors, redirects, static files and HEAD answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit, urlunsplit

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Everything comes from our own origin: KaTeX, Swagger UI and their fonts are vendored under
# /static/vendor/, and no template holds an inline script, an event handler or a style
# attribute. KaTeX and Swagger UI style their nodes through the CSSOM (element.style), which
# CSP does not restrict, so style-src needs no 'unsafe-inline' (the browser tests see no
# violation on pages with math nor on /api/docs). data: images: Swagger UI's stylesheet draws
# its arrows and icons as inline SVG data URLs; an image cannot run script.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",  # frame-ancestors' twin for browsers that predate it
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}

# Cache-Control, unless the route chose one. Static files under a versioned URL (?v=<content
# hash>, web/app.static_url) never change, so browsers keep them a year; unversioned ones (KaTeX fonts named by its CSS)
# an hour. Pages change with every sync: cached but revalidated each time. JSON answers feed
# scripts and mirrors that want the current data: not stored. Errors are never kept.
CACHE_VERSIONED_STATIC = "public, max-age=31536000, immutable"
CACHE_STATIC = "public, max-age=3600"
CACHE_PAGE = "no-cache"
CACHE_API = "no-store"
_SECURITY_RAW = [(n.lower().encode("latin-1"), v.encode("latin-1"))
                 for n, v in SECURITY_HEADERS.items()]
_SECURITY_NAMES = frozenset(n for n, _ in _SECURITY_RAW)


def cache_control(path: str, query_string: bytes, status: int) -> str:
    if status >= 400:
        return CACHE_API
    if path.startswith("/static/"):
        versioned = any(part.startswith(b"v=") for part in query_string.split(b"&"))
        return CACHE_VERSIONED_STATIC if versioned else CACHE_STATIC
    if path.startswith("/api/"):
        return CACHE_API
    return CACHE_PAGE


def host_allowed(host: str, allowed: Sequence[str]) -> bool:
    """``host`` (the Host header, port included or not) against ``allowed`` names: ``*`` is any
    host, ``*.example.org`` any subdomain of example.org; comparisons ignore case and port."""
    name = host.strip().lower()
    if name.startswith("["):  # an IPv6 literal: [::1]:8000
        name = name[1:].split("]", 1)[0]
    elif name.count(":") == 1:
        name = name.split(":", 1)[0]
    for pattern in allowed:
        pattern = pattern.lower()
        if pattern == "*" or pattern == name:
            return True
        if pattern.startswith("*.") and name.endswith(pattern[1:]):
            return True
    return False


class SecurityHeaders:
    """Adds :data:`SECURITY_HEADERS` and a Cache-Control to every HTTP answer; with
    ``allowed_hosts`` set, answers 400 to a request whose Host is not among them."""

    def __init__(self, app: ASGIApp, allowed_hosts: Sequence[str] = ("*",)) -> None:
        self.app = app
        self.allowed_hosts = tuple(allowed_hosts) or ("*",)
        self.any_host = "*" in self.allowed_hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # Ours replace any of the same name: one pass over the raw list (every answer,
                # cached ones included, comes through here).
                message["headers"] = [
                    *((n, v) for n, v in message.get("headers", ())
                      if n.lower() not in _SECURITY_NAMES), *_SECURITY_RAW]
                headers = MutableHeaders(scope=message)
                location = headers.get("location")
                if location:
                    headers["Location"] = _same_host_relative(location, scope)
                if message["status"] >= 400:  # an error is never kept, whatever a route said
                    headers["Cache-Control"] = CACHE_API
                elif "cache-control" not in headers:
                    headers["Cache-Control"] = cache_control(
                        scope["path"], scope.get("query_string", b""), message["status"])
            await send(message)

        if not self.any_host and not self._host_ok(scope):
            await _bad_host(scope, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)

    def _host_ok(self, scope: Scope) -> bool:
        hosts = [value.decode("latin-1") for name, value in scope["headers"] if name == b"host"]
        return len(hosts) == 1 and host_allowed(hosts[0], self.allowed_hosts)


def _same_host_relative(location: str, scope: Scope) -> str:
    """Starlette builds some redirects (a trailing slash added or dropped) from the request's
    Host header: such a Location becomes relative, so a forged Host never comes back."""
    parts = urlsplit(location)
    if not parts.scheme or not parts.netloc:
        return location
    hosts = {value.decode("latin-1").lower() for name, value in scope["headers"] if name == b"host"}
    if parts.netloc.lower() not in hosts:
        return location
    # One leading slash: "//evil.example/x" would be a protocol-relative URL to another host.
    path = "/" + parts.path.lstrip("/")
    return urlunsplit(("", "", path, parts.query, parts.fragment))


async def _bad_host(scope: Scope, send: Send) -> None:
    """A short 400 that does not repeat the Host it refuses."""
    if scope["path"].startswith("/api/"):
        body, content_type = b'{"error":"Host header not allowed"}', b"application/json"
    else:
        body, content_type = b"Bad request: Host header not allowed\n", b"text/plain; charset=utf-8"
    await send({"type": "http.response.start", "status": 400, "headers": [
        (b"content-type", content_type), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body",
                "body": b"" if scope["method"] == "HEAD" else body})
