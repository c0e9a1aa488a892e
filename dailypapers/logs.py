"""Log lines: plain text on a terminal, one JSON object per line otherwise; every line of a request
carries its request id; credentials and addresses never reach a log.

``DAILYPAPERS_LOG_FORMAT`` picks ``text`` or ``json`` (``auto``: text when stderr is a terminal, so a
developer reads lines and a service manager or container runtime gets JSON to ship). The request
id lives in a context variable set by web/observability.py: it follows the request into the
threadpool (anyio copies the context) and into every logger, ours and uvicorn's, through
:class:`RequestContext`, a filter on the handler.

What is redacted, in the message and in a traceback alike (:func:`redact`):
- the credential segment of links that are credentials: ``/reset/<token>``,
  ``/subscribe/confirm/<token>``, ``/unsubscribe/<token>``, ``/subscription/<token>``;
- values of query parameters and ``key=value`` pairs named like a secret (token, password, key,
  secret, session, csrf, code, signature, auth), and ``Bearer`` credentials;
- the user's part of e-mail addresses beyond its first letter: ``a***@example.org`` (the domain
  stays: "the relay refuses example.org" is what an operator needs);
- the password in a URL's ``user:password@host``.
Cookies and the Authorization header are never logged in the first place (the access line has
method, path, status, duration and client address only).
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import logging.config
import re
import sys
from typing import Any

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("dailypapers_request_id",
                                                                 default="")

FORMATS = ("auto", "text", "json")

# Secret-bearing path segments: the rest of the segment is the credential (routes_account.py,
# routes_subscribe.py).
_TOKEN_PATHS = re.compile(
    r"(/reset/|/subscribe/confirm/|/unsubscribe/|/subscription/)[^/?#\s\"']+")
# A parameter whose name is, or ends in, one of these words ("token", "reset_token", "api-key";
# not "author" nor "keywords").
_SECRET_WORDS = r"(?:[\w.-]*[_.-])?(?:token|password|passwd|secret|session|sessionid|csrf|" \
                r"api_?key|key|signature)"
# name=value in a query string, a form body or a "k=v" log line; "name": "value" in JSON.
_SECRET_PAIRS = re.compile(rf"(?i)((?<![\w.-]){_SECRET_WORDS}=)[^&\s\"',;]+")
_SECRET_JSON = re.compile(rf"(?i)(\"{_SECRET_WORDS}\"\s*:\s*\")[^\"]*")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]+")
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]+:)[^@/\s]+@")
_EMAIL = re.compile(r"\b([A-Za-z0-9])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})\b")
# Something above might be there: one search instead of six substitutions for the usual line
# (an access line cost 25 us in redaction alone; this check is ~1 us).
_MAYBE = re.compile(r"(?i)@|/reset/|/subscri|/unsubscribe/|bearer|token|passw|secret|session|"
                    r"csrf|key|signature")


def redact(text: str) -> str:
    """``text`` without the credentials and full addresses listed in the module docstring."""
    if not text or not _MAYBE.search(text):
        return text
    text = _TOKEN_PATHS.sub(r"\1…", text)
    text = _URL_PASSWORD.sub(r"\1***@", text)
    text = _SECRET_PAIRS.sub(r"\1***", text)
    text = _SECRET_JSON.sub(r"\1***", text)
    text = _BEARER.sub(r"\1***", text)
    return _EMAIL.sub(r"\1***@\2", text)


# --- request ids -----------------------------------------------------------------------------

MAX_REQUEST_ID = 128
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,%d}" % MAX_REQUEST_ID)


def sane_request_id(value: str | None) -> str | None:
    """An incoming X-Request-ID we keep: 1-128 of ``A-Z a-z 0-9 . _ : -`` (a UUID, a proxy's
    hex id). Anything else (spaces, quotes, newlines that would forge a log line, a novel) is
    replaced by one of ours."""
    if value and _SANE_REQUEST_ID.fullmatch(value):
        return value
    return None


# --- handler pieces --------------------------------------------------------------------------


class RequestContext(logging.Filter):
    """Gives every record ``request_id`` (empty outside a request) and redacts its message."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        if getattr(record, "redacted", False):  # built from redacted parts (the access line)
            return True
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string: keep what logging would show
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, request_id, and
    the exception's traceback (redacted) when there is one. A few lines of our own rather than a
    dependency: the redaction must run on exactly what is written."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc)
            .isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "") or None,
        }
        for key in ("method", "route", "path", "status", "duration_ms", "client"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exception"] = redact(record.exc_text)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``time level logger [request id] message``, with a redacted traceback."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(request_part)s%(message)s")

    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", "")
        record.request_part = f"[{request_id}] " if request_id else ""
        return super().format(record)

    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's name
        return redact(super().formatException(ei))


def effective_format(log_format: str, stream: Any = None) -> str:
    if log_format != "auto":
        return log_format
    stream = stream if stream is not None else sys.stderr
    return "text" if getattr(stream, "isatty", lambda: False)() else "json"


def logging_config(log_format: str, level: str = "INFO") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` dictionary: one stderr handler on the root logger that
    every logger (ours, uvicorn's, SQLAlchemy's) reaches. uvicorn takes it as ``log_config`` and
    applies it in each worker process it starts; :func:`configure` applies it in other commands."""
    formatter = {"()": f"{__name__}.JsonFormatter"} if effective_format(log_format) == "json" \
        else {"()": f"{__name__}.TextFormatter"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request": {"()": f"{__name__}.RequestContext"}},
        "formatters": {"line": formatter},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr",
                                "formatter": "line", "filters": ["request"]}},
        "root": {"handlers": ["stderr"], "level": level},
        # uvicorn's own loggers propagate to the root instead of their handlers; its access log
        # is replaced by ours (web/observability.py: with the route and the request id).
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True, "level": level},
            "uvicorn.error": {"handlers": [], "propagate": True, "level": level},
            "uvicorn.access": {"handlers": [], "propagate": False, "level": "WARNING"},
        },
    }


def configure(log_format: str, level: str = "INFO") -> None:
    logging.config.dictConfig(logging_config(log_format, level))
