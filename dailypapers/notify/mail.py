"""Mail: one small interface, three backends, a row per mail handed to a backend.

``DAILYPAPERS_MAIL_BACKEND`` picks the backend:

- ``smtp``: ``DAILYPAPERS_MAIL_SMTP_HOST``/``_PORT``, ``_SECURITY`` (``starttls``: plain
  connection upgraded with STARTTLS, the usual port 587; ``tls``: TLS from the first byte, port
  465; ``none``: plain, only for a relay on loopback), ``_USERNAME``/``_PASSWORD`` when the relay
  wants a login. TLS certificates are verified.
- ``file`` (the default): one ``.eml`` file per mail in ``DAILYPAPERS_MAIL_FILE_DIR``
  (``<data_dir>/mail``), readable by the owner only: a single-machine install needs no relay,
  and links that are credentials (password resets) never land in a log.
- ``console``: the whole mail on standard error, for development. It prints reset links, so
  never use it where logs are kept.

Callers send *after* their transaction commits (a rolled-back request must not mail anyone, and
a slow relay must not hold a database transaction open): web routes hand :func:`deliver` to
FastAPI's ``BackgroundTasks`` (with DAILYPAPERS_QUEUE_URL set, a queue worker sends them instead:
notify/queued_mail.py). :func:`deliver` records every attempt in ``sent_mail`` (who, what
kind, subject, backend, sent or failed and why; never the body) in a transaction of its own, and
never raises: a mail that could not be sent is a ``failed`` row and a log line.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import smtplib
import ssl
import sys
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Protocol, TextIO

from sqlalchemy.engine import Engine

from dailypapers.db.engine import db_now, write_transaction
from dailypapers.db.schema import sent_mail
from dailypapers.settings import Settings

log = logging.getLogger(__name__)

BACKENDS = ("smtp", "file", "console")
SMTP_SECURITY = ("starttls", "tls", "none")


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str
    kind: str  # what it is for: password_reset, digest, …
    user_id: int | None = None


class MailBackend(Protocol):
    """``envelope_from``: the envelope sender (SMTP MAIL FROM, where bounces go); None takes
    the From header's address."""

    name: str

    def send(self, message: EmailMessage, envelope_from: str | None = None) -> None: ...


class SmtpBackend:
    name = "smtp"

    def __init__(self, host: str, port: int, security: str, username: str | None = None,
                 password: str | None = None, timeout: float = 30.0) -> None:
        if security not in SMTP_SECURITY:
            raise ValueError(f"DAILYPAPERS_MAIL_SMTP_SECURITY must be one of "
                             f"{', '.join(SMTP_SECURITY)}, got {security!r}")
        self.host, self.port, self.security = host, port, security
        self.username, self.password, self.timeout = username, password, timeout

    def connect(self) -> smtplib.SMTP:
        """A connection ready to send (TLS and login done): the digest sender keeps one open
        for many mails; close it with ``quit()`` or a ``with`` block."""
        context = ssl.create_default_context()
        if self.security == "tls":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                                  context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            if self.security == "starttls":
                smtp.starttls(context=context)
            if self.username:
                smtp.login(self.username, self.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, message: EmailMessage, envelope_from: str | None = None) -> None:
        with self.connect() as smtp:
            smtp.send_message(message, from_addr=envelope_from)


class FileBackend:
    name = "file"

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def send(self, message: EmailMessage, envelope_from: str | None = None) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        name = f"{stamp}-{os.getpid()}-{time.monotonic_ns()}.eml"
        fd = os.open(self.directory / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            if envelope_from:  # as a final delivery agent records it
                handle.write(f"Return-Path: <{envelope_from}>\n".encode())
            handle.write(message.as_bytes())


class ConsoleBackend:
    name = "console"

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    def send(self, message: EmailMessage, envelope_from: str | None = None) -> None:
        stream = self.stream or sys.stderr
        returned = f"Return-Path: <{envelope_from}>\n" if envelope_from else ""
        stream.write(f"--- mail ---\n{returned}{message.as_string()}\n--- end of mail ---\n")
        stream.flush()


def backend_from_settings(settings: Settings) -> MailBackend:
    if settings.mail_backend == "smtp":
        return SmtpBackend(settings.mail_smtp_host, settings.mail_smtp_port,
                           settings.mail_smtp_security, settings.mail_smtp_username or None,
                           settings.mail_smtp_password.get_secret_value() or None,
                           settings.mail_smtp_timeout_seconds)
    if settings.mail_backend == "console":
        return ConsoleBackend()
    return FileBackend(Path(settings.mail_file_dir) if settings.mail_file_dir
                       else settings.data_dir / "mail")


def build_message(mail: Mail, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Date"] = format_datetime(dt.datetime.now(dt.timezone.utc))
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2].strip(">") or None)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
    message.set_content(mail.text)
    return message


def deliver(engine: Engine, backend: MailBackend, sender: str, mail: Mail) -> bool:
    """Send one mail and record it in ``sent_mail``; True when the backend took it."""
    return send_and_record(engine, backend, sender, mail) is None


def send_and_record(engine: Engine, backend: MailBackend, sender: str, mail: Mail) -> str | None:
    """:func:`deliver`, answering why it failed (None: the backend took it), for a caller
    that retries (the queue's workers, notify/queued_mail.py)."""
    error = None
    try:
        backend.send(build_message(mail, sender))
    except Exception as exc:  # a relay's every failure mode: logged and recorded, never raised
        text = str(exc).strip()
        error = type(exc).__name__ + (f": {text.splitlines()[0]}" if text else "")
        log.warning("mail %s to user %s via %s failed: %s", mail.kind, mail.user_id,
                    backend.name, error)
    try:
        with write_transaction(engine, changes=None) as conn:
            conn.execute(sent_mail.insert().values(
                kind=mail.kind, recipient=mail.to, subject=mail.subject, backend=backend.name,
                status="failed" if error else "sent", error=error, user_id=mail.user_id,
                created_at=db_now(conn)))
    except Exception as exc:  # the mail is out (or not) either way; the log keeps the trace
        log.warning("could not record mail %s: %s", mail.kind, exc)
    return error
