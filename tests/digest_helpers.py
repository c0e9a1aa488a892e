"""A small catalogue and subscribers for digest delivery tests, and an SMTP server that can be
told to answer 4xx or 5xx to chosen recipients."""

from __future__ import annotations

import datetime as dt
import email
import email.message
import email.policy
import os
import threading
from collections import defaultdict
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from dailypapers.db.engine import write_transaction
from dailypapers.db.schema import feature_days, subscription_topics, subscriptions
from tests.conftest import REPO, TEST_SECRET_KEY
from tests.helpers import hf_item, parse_hf_file, store, write_json

BASE = "https://papers.example.org"


def feature(engine: Engine, tmp_path: Path, day: str, papers: dict[str, float]) -> None:
    """Papers featured on ``day`` with these stored trending scores."""
    items = [hf_item(pid, title=f"Paper {pid}", upvotes=1, day=day) for pid in papers]
    parsed, refused = parse_hf_file(write_json(tmp_path / f"daily-{day}.json", items))
    assert not refused
    store(engine, parsed)
    with write_transaction(engine) as conn:
        for pid, score in papers.items():
            conn.execute(feature_days.update().where(feature_days.c.paper_id == pid,
                                                     feature_days.c.day == dt.date.fromisoformat(day))
                         .values(trending_score=score))


def subscribe(engine: Engine, address: str, state: str = "confirmed", *, frequency: str = "daily",
              trending: bool = True, max_items: int = 2, categories: tuple[str, ...] = ()) -> int:
    now = dt.datetime.now(dt.timezone.utc)
    with write_transaction(engine) as conn:
        sid = conn.execute(subscriptions.insert().values(
            email=address, email_key=address.lower(), state=state, frequency=frequency,
            trending=trending, max_items=max_items, created_at=now, updated_at=now,
            state_changed_at=now).returning(subscriptions.c.id)).scalar_one()
        for cat in categories:
            conn.execute(subscription_topics.insert().values(
                subscription_id=sid, kind="category", value=cat))
    return sid


def subscribe_many(engine: Engine, addresses: list[str], **kwargs) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    with write_transaction(engine) as conn:
        conn.execute(subscriptions.insert(), [dict(
            email=a, email_key=a.lower(), state="confirmed", frequency="daily", trending=True,
            max_items=2, created_at=now, updated_at=now, state_changed_at=now, **kwargs)
            for a in addresses])


class ScriptedInbox:
    """Receives mail; answers a recipient with the codes queued for it first (``script``),
    250 after. Keeps every message and every answer given."""

    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []
        self.script: dict[str, list[str]] = defaultdict(list)
        self.refuse_all: str | None = None
        self.answers: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        rcpt = envelope.rcpt_tos[0]
        with self.lock:
            if self.refuse_all:
                answer = self.refuse_all
            elif self.script.get(rcpt):
                answer = self.script[rcpt].pop(0)
            else:
                answer = "250 OK"
                self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
            self.answers.append((rcpt, answer))
        return answer

    def to(self, address: str) -> list[email.message.Message]:
        with self.lock:
            return [m for m in self.messages if m["To"] == address]


def smtp_settings(settings, port: int, **extra):
    return settings.model_copy(update={
        "mail_backend": "smtp", "mail_smtp_host": "127.0.0.1", "mail_smtp_port": port,
        "mail_smtp_security": "none", "mail_from": "Daily Papers <digest@papers.example.org>",
        "base_url": BASE, "digest_rate_per_second": 0.0, "digest_retry_seconds": 0.05,
        "mail_smtp_timeout_seconds": 5.0, **extra,
    })


def sender_env(db_url: str, data_dir: Path, smtp_port: int, **settings: str) -> dict[str, str]:
    """The environment of a real `dailypapers digest send` process mailing the SMTP server on
    ``smtp_port``; ``settings``: more DAILYPAPERS_* values (``DIGEST_RATE_PER_SECOND="0"``)."""
    return {**os.environ, "PYTHONPATH": str(REPO), "DAILYPAPERS_DATABASE_URL": db_url,
            "DAILYPAPERS_DATA_DIR": str(data_dir), "DAILYPAPERS_SECRET_KEY": TEST_SECRET_KEY,
            "DAILYPAPERS_BASE_URL": BASE, "DAILYPAPERS_MAIL_BACKEND": "smtp",
            "DAILYPAPERS_MAIL_SMTP_HOST": "127.0.0.1", "DAILYPAPERS_MAIL_SMTP_PORT": str(smtp_port),
            "DAILYPAPERS_MAIL_SMTP_SECURITY": "none",
            "DAILYPAPERS_MAIL_FROM": "Daily Papers <digest@papers.example.org>",
            **{f"DAILYPAPERS_{name}": value for name, value in settings.items()}}


def outbox_rows(engine: Engine) -> list[dict]:
    from dailypapers.db.schema import digest_outbox

    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(
            sa.select(digest_outbox, subscriptions.c.email)
            .join(subscriptions, subscriptions.c.id == digest_outbox.c.subscription_id)
            .order_by(digest_outbox.c.id)).mappings()]
