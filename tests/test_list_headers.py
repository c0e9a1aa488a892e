"""A future digest mail's leaving headers (RFC 8058, RFC 2919) and what user text cannot do to
them: serialised with email.policy.SMTP and read back, no CR/LF in any field adds a header."""

from __future__ import annotations

import email
import logging
from email import policy
from email.message import EmailMessage

import pytest

from dailypapers.notify import tokens
from dailypapers.notify.list_headers import apply, header_text, list_headers
from dailypapers.notify.subscriptions import SubscriptionError, normalise_address
from dailypapers.web.app import redact_reset_links_in_access_log

KEY = b"k" * 40
HOSTILE = ["lora\r\nBcc: victim@example.org", "x\nX-Evil: 1", "y\rSubject: spam",
           "z\u2028Bcc: a@b.org", "w\x85Bcc: a@b.org", "\r\n\r\n<html>body</html>"]


def test_headers_of_a_digest_mail_survive_hostile_fields() -> None:
    token = tokens.make_token(KEY, "unsubscribe", 42)
    for hostile in HOSTILE:
        to, _ = normalise_address("reader@example.org")
        message = EmailMessage(policy=policy.SMTP)
        message["From"] = "Papers <papers@example.org>"
        message["To"] = to
        message["Subject"] = f"Your digest: your search '{header_text(hostile)}'"
        apply(message, list_headers("https://papers.example.org", f"Papers{hostile}",
                                    f"daily{hostile}", token))
        message.set_content("text")
        raw = message.as_bytes(policy=policy.SMTP)
        head = raw.split(b"\r\n\r\n", 1)[0]
        names = [line.split(b":", 1)[0] for line in head.split(b"\r\n")
                 if line and not line[:1].isspace()]  # continuation lines start with space
        assert names == [b"From", b"To", b"Subject", b"List-Unsubscribe",
                         b"List-Unsubscribe-Post", b"List-Id", b"Content-Type",
                         b"Content-Transfer-Encoding", b"MIME-Version"], hostile
        parsed = email.message_from_bytes(raw, policy=policy.default)
        assert parsed["List-Unsubscribe"].strip() == (  # folded when long: legal
            f"<https://papers.example.org/unsubscribe/{token}>")
        assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert parsed["List-Id"].endswith("-digest.papers.example.org>")
        assert parsed["Bcc"] is None and parsed["X-Evil"] is None
        assert parsed.get_content().strip() == "text"


def test_what_could_inject_is_refused_or_cleaned() -> None:
    for hostile in HOSTILE:
        assert not any(c in header_text(hostile) for c in "\r\n\x85\u2028")
        with pytest.raises(SubscriptionError):
            normalise_address(f"reader@example.org{hostile}")
        with pytest.raises(ValueError):
            list_headers("https://papers.example.org", "Papers", "daily", f"1.2.abc{hostile}")
        with pytest.raises(ValueError):
            list_headers(f"https://papers.example.org{hostile}", "Papers", "daily",
                         tokens.make_token(KEY, "unsubscribe", 1))
    assert header_text("  lora \t merging  ") == "lora merging"


def test_subscription_links_are_redacted_in_the_access_log() -> None:
    redact_reset_links_in_access_log()
    access = logging.getLogger("uvicorn.access")
    token = tokens.make_token(KEY, "unsubscribe", 7)
    for path in (f"/unsubscribe/{token}", f"/subscription/{token}",
                 f"/subscribe/confirm/{token}", "/reset/secret-token"):
        record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1,
                                   '%s - "%s %s HTTP/%s" %d', ("127.0.0.1", "POST", path, "1.1",
                                                               200), None)
        for log_filter in access.filters:
            log_filter.filter(record)
        line = record.getMessage()
        assert token not in line and "secret-token" not in line and "/…" in line, line
