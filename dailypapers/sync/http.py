"""A polite HTTP client for the upstreams (Hugging Face, arXiv).

What "polite" means here, in one place:
- at least ``sync_min_interval_seconds`` between the end of one request and the start of the
  next to the same host (arXiv asks for 3 s);
- retries with exponential backoff and full jitter on connection errors, timeouts, 429 and 5xx,
  at most ``sync_max_retries`` times after the first attempt;
- ``Retry-After`` honoured, as delta-seconds or as an HTTP-date; an upstream that asks for a
  longer pause than ``max_retry_after`` fails the fetch instead of blocking the sync for hours;
- a body that arrives cut short or cannot be decoded (Content-Length mismatch, JSON decode
  error, XML syntax error) counts as a failed attempt and is retried like a 503;
- the configured User-Agent on every request;
- every wait is ``stop.wait(...)``, so setting ``stop`` ends the sync within one request;
- URLs in logs and errors go through :func:`safe_url` (no userinfo, credential-like query
  parameters masked).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import random
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import httpx
from lxml import etree

from dailypapers.settings import Settings

T = TypeVar("T")
Log = Callable[[str], None]

MAX_BACKOFF_SECONDS = 60.0
_SECRET_PARAM = re.compile(r"(?i)(pass|secret|token|key|auth|session|sig)")
_KEEP_PARAMS = frozenset({"resumptionToken"})  # OAI paging cursor: public, and useful in logs


class UpstreamError(Exception):
    """A fetch that did not succeed (after retries when the failure was retryable)."""


class Refused(UpstreamError):
    """A fetch that asking again would not fix (4xx, a redirect off http(s), too large)."""


class Stopped(Exception):
    """The ``stop`` event was set: the caller should leave at the next safe point."""


class DeepJSON(ValueError):
    """JSON nested deeper than the decoder goes: asking again brings the same answer, so a
    caller refuses it (as a page) rather than retrying."""


class BadBody(ValueError):
    """A 2xx answer whose body is truncated or cannot be decoded; retried like a 503."""


@dataclass(slots=True)
class Fetched(Generic[T]):
    value: T
    response: httpx.Response
    attempts: int


def safe_url(url: str | httpx.URL) -> str:
    """The URL as it may appear in a log line: no user:password, credential-like params masked."""
    parts = urlsplit(str(url))
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [
                (k, "***" if _SECRET_PARAM.search(k) and k not in _KEEP_PARAMS else v)
                for k, v in pairs
            ],
            safe=":/|",
        )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def parse_retry_after(value: str | None, *, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), None if absent."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    now = now or dt.datetime.now(dt.timezone.utc)
    return max(0.0, (when - now).total_seconds())


def decode_json(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadBody(f"body is not valid JSON ({len(response.content)} bytes): {exc}") from None
    except RecursionError:  # the decoder recurses once per nesting level
        raise DeepJSON(
            f"body is JSON nested more than {sys.getrecursionlimit():,} levels deep "
            f"({len(response.content)} bytes)"
        ) from None


def decode_xml(response: httpx.Response) -> etree._Element:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    try:
        root = etree.fromstring(response.content, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise BadBody(f"body is not well-formed XML ({len(response.content)} bytes): {exc}") from None
    if root is None:
        raise BadBody("body is empty")
    return root


class PoliteClient:
    def __init__(
        self,
        settings: Settings,
        *,
        stop: threading.Event | None = None,
        log: Log | None = None,
        backoff_base: float = 1.0,
        max_retry_after: float = 600.0,
        transport: httpx.BaseTransport | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.min_interval = max(0.0, settings.sync_min_interval_seconds)
        self.max_retries = max(0, settings.sync_max_retries)
        self.backoff_base = max(0.0, backoff_base)
        self.max_retry_after = max_retry_after
        self.stop = stop or threading.Event()
        self.log = log if log is not None else (lambda _msg: None)
        self.requests = 0  # attempts sent, for reports
        self._rng = rng or random.Random()
        self._last: dict[str, float] = {}  # host -> monotonic time the last answer ended
        self._client = httpx.Client(
            headers={"User-Agent": settings.user_agent},
            timeout=httpx.Timeout(settings.sync_timeout_seconds),
            follow_redirects=True,
            transport=transport,
        )

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> PoliteClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- waiting -----------------------------------------------------------------------------

    def check_stop(self) -> None:
        if self.stop.is_set():
            raise Stopped("stop requested")

    def wait(self, seconds: float) -> None:
        if seconds > 0 and self.stop.wait(seconds):
            raise Stopped("stop requested")
        self.check_stop()

    def backoff(self, attempt: int) -> float:
        """Full jitter on an exponential ceiling: uniform(0.5, 1) × base × 2^attempt."""
        ceiling = min(MAX_BACKOFF_SECONDS, self.backoff_base * (2 ** attempt))
        return ceiling * self._rng.uniform(0.5, 1.0)

    def _pace(self, host: str) -> None:
        last = self._last.get(host)
        if last is not None:
            self.wait(last + self.min_interval - time.monotonic())
        self.check_stop()

    # -- fetching ----------------------------------------------------------------------------

    def _with_retries(
        self, request_url: httpx.URL, attempt: Callable[[], T | _Retry], *, narrate: bool,
    ) -> tuple[T, int]:
        """``attempt()``'s result and how many attempts it took, paced and retried as the
        module docstring says. ``attempt`` sends one request and returns its result, a
        :class:`_Retry` for an answer worth asking again, or raises to end the fetch;
        timeouts and connection errors it raises are retried here.

        ``narrate``: log each retry and say why a too-long Retry-After ends the fetch (the
        sync's JSON/XML fetches do; the media stream stays quiet and reports the last problem).
        """
        shown = safe_url(request_url)
        host = request_url.netloc.decode("ascii", "replace")
        attempts = self.max_retries + 1
        problem = "no attempt made"
        for number in range(attempts):
            self._pace(host)
            retry_after: float | None = None
            try:
                self.requests += 1
                outcome = attempt()
            except httpx.TimeoutException as exc:
                problem = f"timed out ({type(exc).__name__})"
            except httpx.TransportError as exc:
                problem = f"connection error ({type(exc).__name__}: {_first_line(exc)})"
            else:
                if not isinstance(outcome, _Retry):
                    return outcome, number + 1
                problem, retry_after = outcome.problem, outcome.retry_after
            finally:
                self._last[host] = time.monotonic()
            if number == attempts - 1:
                break
            delay = self.backoff(number)
            if retry_after is not None:
                if retry_after > self.max_retry_after:
                    if not narrate:
                        break
                    raise UpstreamError(
                        f"GET {shown}: {problem}, upstream asks to retry after "
                        f"{retry_after:.0f} s (more than {self.max_retry_after:.0f} s); giving up"
                    )
                delay = max(delay, retry_after)
            if narrate:
                self.log(f"  {shown}: {problem}; retry {number + 1}/{self.max_retries} "
                         f"in {delay:.1f} s")
            self.wait(delay)
        raise UpstreamError(f"GET {shown} failed after {attempts} attempt(s): {problem}")

    def get(
        self,
        url: str,
        decode: Callable[[httpx.Response], T],
        *,
        params: dict[str, Any] | None = None,
    ) -> Fetched[T]:
        """GET ``url`` and decode its body, retrying what is worth retrying.

        Raises UpstreamError when the upstream keeps failing or answers a non-retryable 4xx,
        Stopped when ``stop`` is set.
        """
        request_url = httpx.URL(url, params=params) if params else httpx.URL(url)
        shown = safe_url(request_url)

        def attempt() -> tuple[T, httpx.Response] | _Retry:
            response = self._client.get(request_url)
            status = response.status_code
            if status == 429 or status >= 500:
                return _busy(response)
            if status >= 400:
                raise UpstreamError(f"GET {shown} answered HTTP {status}: {_snippet(response)}")
            try:
                _check_length(response)
                return decode(response), response
            except BadBody as exc:
                return _Retry(str(exc))

        (value, response), attempts = self._with_retries(request_url, attempt, narrate=True)
        return Fetched(value=value, response=response, attempts=attempts)

    def get_bytes(
        self, url: str, *, max_bytes: int, total_seconds: float, max_redirects: int = 3,
        check_host: Callable[[str], str | None] | None = None,
    ) -> tuple[bytes, str]:
        """The body of ``url`` and its Content-Type, read as a stream and given up past
        ``max_bytes`` or ``total_seconds`` (a slow drip stays under any read timeout).

        Redirects are followed by hand, at most ``max_redirects``, each target checked like a
        link (http(s) only) and by ``check_host`` (the URL → why not, or None). Raises Refused for answers asking again would not change,
        UpstreamError for the rest (after the retries), Stopped when ``stop`` is set."""
        from dailypapers.ingest.validate import check_url

        current = url
        for _hop in range(max_redirects + 1):
            refusal = check_host(current) if check_host is not None else None
            if refusal:
                raise Refused(f"GET {safe_url(current)}: {refusal}")
            location, body, content_type = self._get_stream(current, max_bytes, total_seconds)
            if location is None:
                return body, content_type
            target, reason = check_url(urljoin(current, location))
            if target is None:
                raise Refused(f"redirected to a URL that is not http(s): {reason or 'empty'}")
            current = target
        raise Refused(f"more than {max_redirects} redirects")

    def _get_stream(
        self, url: str, max_bytes: int, total_seconds: float
    ) -> tuple[str | None, bytes, str]:
        """(Location of a redirect or None, body, Content-Type), with retries."""
        request_url = httpx.URL(url)
        shown = safe_url(request_url)

        def attempt() -> tuple[str | None, bytes, str] | _Retry:
            try:
                with self._client.stream("GET", request_url, follow_redirects=False) as response:
                    status = response.status_code
                    if status in (301, 302, 303, 307, 308):
                        location = response.headers.get("Location")
                        if not location:
                            raise Refused(f"GET {shown} answered HTTP {status} without a Location")
                        return location, b"", ""
                    if status == 429 or status >= 500:
                        return _busy(response)
                    if status >= 300:
                        raise Refused(f"GET {shown} answered HTTP {status}")
                    body = _read_capped(response, max_bytes, total_seconds, shown)
                    return None, body, response.headers.get("Content-Type", "")
            except httpx.InvalidURL as exc:  # httpx builds a redirect's target before returning
                raise Refused(f"GET {shown}: redirected to a URL that is not http(s) "
                              f"({_first_line(exc)})") from None

        return self._with_retries(request_url, attempt, narrate=False)[0]


@dataclass(slots=True)
class _Retry:
    """One attempt's answer that is worth asking again: why, and the pause it asked for."""

    problem: str
    retry_after: float | None = None


def _busy(response: httpx.Response) -> _Retry:
    """A 429 or 5xx: retried, after at least the Retry-After it names."""
    return _Retry(f"HTTP {response.status_code}",
                  parse_retry_after(response.headers.get("Retry-After")))


def _read_capped(response: httpx.Response, max_bytes: int, total_seconds: float, shown: str) -> bytes:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise Refused(f"GET {shown}: {int(declared):,} bytes declared, more than the "
                      f"{max_bytes:,} bytes allowed")
    deadline = time.monotonic() + total_seconds
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise Refused(f"GET {shown}: more than the {max_bytes:,} bytes allowed")
        if time.monotonic() > deadline:
            raise httpx.ReadTimeout(f"body not read within {total_seconds:g} s")
        chunks.append(chunk)
    if declared.isdigit() and not response.headers.get("Content-Encoding") and size != int(declared):
        raise httpx.RemoteProtocolError(f"body truncated: {size} of {declared} bytes")
    return b"".join(chunks)


def _check_length(response: httpx.Response) -> None:
    declared = response.headers.get("Content-Length")
    if declared is None or response.headers.get("Content-Encoding"):
        return  # a decoded body has its own length
    try:
        expected = int(declared)
    except ValueError:
        return
    got = len(response.content)
    if got != expected:
        raise BadBody(f"body truncated: {got} of {expected} bytes")


def _snippet(response: httpx.Response, limit: int = 200) -> str:
    try:
        text = response.text
    except Exception:  # noqa: BLE001 - only for an error message
        return ""
    text = " ".join(text.split())
    return text[:limit] + ("…" if len(text) > limit else "")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "no detail"
