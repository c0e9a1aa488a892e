"""A digest as a mail: subject, plain text and HTML from autoescaped Jinja templates
(``notify/templates/``), and the multipart message that carries them.

Two ways to the same message. :func:`build_email` makes an ``EmailMessage`` (one-off mails,
addresses outside ASCII, which need SMTPUTF8). :func:`mail_bytes` writes the bytes the digest
sender hands to the relay: the ``email`` package's header objects and generator cost ~2 ms a
mail (measured: 41% of a sender's time at 154 msg/s), while the bytes need only a few header
lines and two quoted-printable parts (``binascii.b2a_qp``, in C). The result is the same
multipart/alternative message (tests/test_digest_content.py parses both and compares): CRLF line
ends, lines within 78 characters where a break is possible (headers folded at a space,
body lines soft-broken by quoted-printable at 76), UTF-8 as RFC 2047 encoded words in headers.
:class:`Renderer` turns the sender's outbox rows into such mails, rendering what depends only on
a digest's contents once for all the readers who get the same.

Mail clients are not browsers: no remote images (they are trackers), no scripts, no stylesheets
but a few inline styles, and every link absolute — under the site's address, except a paper's own
code repository (http(s) only, checked when the item was built).
"""

from __future__ import annotations

import binascii
import datetime as dt
import email.policy
import secrets
import time
from dataclasses import dataclass
from email import message_from_bytes
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from dailypapers import catalog
from dailypapers.catalog import Period
from dailypapers.ingest.validate import safe_url
from dailypapers.notify import tokens, verp
from dailypapers.notify.digest_content import DigestItem, digest_item
from dailypapers.notify.list_headers import list_headers
from dailypapers.settings import Settings

_ENV = Environment(
    loader=PackageLoader("dailypapers.notify", "templates"),
    # HTML escaped, text not (a plain-text part shows "<" as "<"); both from the same items.
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False,
                                 default=False),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


class HeaderInjection(ValueError):
    """A header value carrying a line break (or NUL), which would start a header of its own."""


def period_title(period: Period) -> str:
    """``Monday, March 2, 2026`` for a day, ``week 2026-W10 (Mar 2 – Mar 8, 2026)`` for a week."""
    if period.kind == "week":
        last = period.last
        return f"week {period.label} ({period.start:%b} {period.start.day} – {last:%b} {last.day}, {last:%Y})"
    day: dt.date = period.start
    return f"{day:%A, %B} {day.day}, {day:%Y}"


def _check_absolute(name: str, url: str, base_url: str) -> None:
    if not url.startswith(base_url.rstrip("/") + "/"):
        raise ValueError(f"{name} must be an absolute URL under {base_url}, got {url[:100]!r}")


def render_digest(items: list[DigestItem], *, period: Period, base_url: str, unsubscribe_url: str,
                  manage_url: str, site_name: str) -> tuple[str, str, str]:
    """``(subject, text, html)`` for a non-empty digest (an empty one is never sent: check
    ``digest_content.is_empty`` first)."""
    if not items:
        raise ValueError("an empty digest is not rendered (digest_content.is_empty)")
    base_url = base_url.rstrip("/")
    _check_absolute("unsubscribe_url", unsubscribe_url, base_url)
    _check_absolute("manage_url", manage_url, base_url)
    for item in items:
        _check_absolute("paper_url", item.paper_url, base_url)
        if item.code_url is not None and safe_url(item.code_url) != item.code_url:
            raise ValueError(f"code_url must be an http(s) URL, got {item.code_url[:100]!r}")
    count = len(items)
    when = period_title(period)
    subject = f"{site_name}: {count} paper{'s' if count != 1 else ''} for {when}"
    context = {"items": items, "period": period, "when": when, "base_url": base_url,
               "unsubscribe_url": unsubscribe_url, "manage_url": manage_url,
               "site_name": site_name, "subject": subject}
    text = _ENV.get_template("digest.txt").render(context)
    html = _ENV.get_template("digest.html").render(context)
    return " ".join(subject.split()), text, html


def _clean_header(name: str, value: str) -> str:
    if any(ch in value for ch in "\r\n\0") or any(ch in name for ch in "\r\n\0: "):
        raise HeaderInjection(f"header {name[:40]!r} holds a line break or NUL")
    return value


def build_email(*, sender: str, to: str, subject: str, text: str, html: str,
                headers: dict[str, str] | None = None) -> EmailMessage:
    """A multipart/alternative message (plain text first, HTML preferred). Any CR, LF or NUL in
    a header value is refused (:class:`HeaderInjection`), never folded or stripped: a value that
    carries one came from somewhere it should not have."""
    message = EmailMessage()
    message["From"] = _clean_header("From", sender)
    message["To"] = _clean_header("To", to)
    message["Subject"] = _clean_header("Subject", subject)
    for name, value in (headers or {}).items():
        message[name] = _clean_header(name, value)
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


# --- the wire format of a digest mail -------------------------------------------------------

LINE_CHARS = 78  # RFC 5322's "SHOULD"; 998 is the hard limit


def header_line(name: str, value: str) -> bytes:
    """``Name: value`` folded for the wire, CRLF-terminated. ASCII that fits, or has no space to
    fold at, is written as is (the long one-click URL goes on a continuation line, as the
    ``email`` package writes it); anything else goes through ``email.policy.SMTP`` (RFC 2047
    encoded words, folding at spaces). CR, LF or NUL in either is refused."""
    value = _clean_header(name, value)
    if value.isascii() and value.isprintable():
        if len(name) + 2 + len(value) <= LINE_CHARS:
            return f"{name}: {value}\r\n".encode("ascii")
        if " " not in value and len(value) < 998 - 1:
            return f"{name}:\r\n {value}\r\n".encode("ascii")
    policy = email.policy.SMTP  # as EmailMessage stores a header, and its generator writes it
    return policy.header_factory(name, value).fold(policy=policy).encode("ascii")


def _quoted_printable(text: str) -> bytes:
    # Line ends as the email package splits them (bytes.splitlines: LF, CR, CRLF), all CRLF.
    lines = text.encode("utf-8").splitlines()
    return binascii.b2a_qp(b"\r\n".join(lines) + b"\r\n", istext=True)


def new_boundary() -> str:
    """A multipart boundary no quoted-printable text can hold: QP never writes "=_"."""
    return f"=_{secrets.token_hex(16)}"


def mail_bytes(headers: list[bytes], text: str, html: str, boundary: str) -> bytes:
    """A multipart/alternative mail (plain text first, HTML preferred) from finished header
    lines (:func:`header_line`) and the two bodies, each quoted-printable UTF-8."""
    if not boundary.startswith("=_"):
        raise ValueError("the boundary must start with '=_' (see new_boundary)")
    # A delimiter owns the line break before it (RFC 2046 5.1.1): each part's last one is extra.
    separator = f"\r\n--{boundary}\r\n".encode("ascii")
    return b"".join([
        *headers,
        b"MIME-Version: 1.0\r\n",
        f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"\r\n'.encode("ascii"),
        separator,
        b'Content-Type: text/plain; charset="utf-8"\r\n'
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n",
        _quoted_printable(text),
        separator,
        b'Content-Type: text/html; charset="utf-8"\r\n'
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n",
        _quoted_printable(html),
        f"\r\n--{boundary}--\r\n".encode("ascii"),
    ])


# --- an outbox row as a mail ------------------------------------------------------------------


@dataclass
class Outgoing:
    """A digest mail ready for the relay: its wire bytes, or (an address outside ASCII, which
    needs SMTPUTF8) an ``EmailMessage`` for ``send_message``."""

    sender: str  # the envelope's MAIL FROM
    to: str
    data: bytes | None = None
    message: EmailMessage | None = None

    def as_email(self) -> EmailMessage:
        if self.message is None:
            return message_from_bytes(self.data or b"", policy=email.policy.default)  # type: ignore[return-value]
        return self.message


class Renderer:
    """Outbox rows as mails. What depends only on a digest's contents (its items, both bodies
    from Jinja, the Subject) is rendered once per distinct contents and period, then reused
    while this sender runs: the bench's 100,000 readers hold ~300 distinct contents, and
    rendering items (TeX to text) and templates cost ~0.5 ms a mail. Per reader only the two
    signed links (substituted for a random slot the cached bodies hold), To, Message-ID and Date
    change. A paper edited while a sender runs may show its older text in that sender's later
    mails; one deleted is dropped (the contents key holds only the papers found)."""

    CACHE_ENTRIES = 2048

    def __init__(self, settings: Settings, key: bytes) -> None:
        self.settings, self.key = settings, key
        self.base_url = settings.base_url.rstrip("/")
        self.envelope_from = parseaddr(settings.mail_from)[1]
        self.boundary = new_boundary()
        slot = secrets.token_hex(12)  # no reader's text can hold it: it is new in each process
        self._unsubscribe_slot, self._manage_slot = f"u{slot}", f"m{slot}"
        self._items: dict[tuple[str, str], DigestItem] = {}
        self._bodies: dict[tuple[Any, ...], tuple[str, str, str]] = {}
        self._lines: dict[tuple[str, str], bytes] = {}
        self._date: tuple[int, bytes] = (-1, b"")

    def _item(self, paper: dict[str, Any], reason: str) -> DigestItem:
        key = (paper["id"], reason)
        if key not in self._items:
            if len(self._items) >= self.CACHE_ENTRIES:
                self._items.clear()
            self._items[key] = digest_item(paper, reason, self.base_url)
        return self._items[key]

    def _bodies_for(self, found: dict[str, dict[str, Any]], key: tuple[Any, ...]
                    ) -> tuple[str, str, str]:
        """(subject, text, html) for these contents, the links holding the slots."""
        if key not in self._bodies:
            kind, label, contents = key
            period = (catalog.day_period(dt.date.fromisoformat(label)) if kind == "daily"
                      else catalog.parse_week(label))
            if len(self._bodies) >= self.CACHE_ENTRIES:
                self._bodies.clear()
            self._bodies[key] = render_digest(
                [self._item(found[pid], reason) for pid, reason in contents], period=period,
                base_url=self.base_url,
                unsubscribe_url=f"{self.base_url}/unsubscribe/{self._unsubscribe_slot}",
                manage_url=f"{self.base_url}/subscription/{self._manage_slot}",
                site_name=self.settings.site_name)
        return self._bodies[key]

    def _line(self, name: str, value: str) -> bytes:
        """A header line whose value recurs (From, Subject, List-Id): folded once."""
        if (name, value) not in self._lines:
            if len(self._lines) >= self.CACHE_ENTRIES:
                self._lines.clear()
            self._lines[name, value] = header_line(name, value)
        return self._lines[name, value]

    def _date_line(self) -> bytes:
        now = time.time()
        if int(now) != self._date[0]:
            stamp = dt.datetime.fromtimestamp(int(now), dt.timezone.utc)
            self._date = (int(now), header_line("Date", format_datetime(stamp)))
        return self._date[1]

    def message(self, found: dict[str, dict[str, Any]], row: Any) -> Outgoing | None:
        """The mail for an outbox row (``found``: the papers of its batch); None when none of
        its papers exists any more."""
        contents = tuple((pid, reason) for pid, reason in row.contents if pid in found)
        if not contents:
            return None
        subject, text, html = self._bodies_for(found, (row.kind, row.period, contents))
        unsubscribe = tokens.make_token(self.key, "unsubscribe", row.subscription_id)
        manage = tokens.make_token(self.key, "manage", row.subscription_id)
        text, html = (body.replace(self._unsubscribe_slot, unsubscribe)
                      .replace(self._manage_slot, manage) for body in (text, html))
        listing = list_headers(self.base_url, self.settings.site_name, row.kind, unsubscribe)
        # VERP (DAILYPAPERS_MAIL_BOUNCE_ADDRESS): each mail's own signed return path, so a bounce
        # names its outbox row; else the From address.
        sender = verp.envelope_sender(self.settings.mail_bounce_address, self.key,
                                      row.id) or self.envelope_from
        if not row.email.isascii():  # SMTPUTF8: the email package knows how
            headers = {"Message-ID": row.message_id,
                       "Date": format_datetime(dt.datetime.now(dt.timezone.utc)),
                       "Auto-Submitted": "auto-generated", **listing}
            return Outgoing(sender, row.email, message=build_email(
                sender=self.settings.mail_from, to=row.email, subject=subject, text=text,
                html=html, headers=headers))
        lines = [self._line("From", self.settings.mail_from), header_line("To", row.email),
                 self._line("Subject", subject), header_line("Message-ID", row.message_id),
                 self._date_line(), self._line("Auto-Submitted", "auto-generated"),
                 header_line("List-Unsubscribe", listing["List-Unsubscribe"]),
                 self._line("List-Unsubscribe-Post", listing["List-Unsubscribe-Post"]),
                 self._line("List-Id", listing["List-Id"])]
        return Outgoing(sender, row.email,
                        data=mail_bytes(lines, text, html, self.boundary))
