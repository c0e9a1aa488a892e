"""The digest outbox: which period a digest covers, building it once, and the rows senders claim.

A digest is built once per (kind, period), in ONE transaction with every outbox row it needs, so
a period's mail is wholly planned or not at all: a builder killed halfway leaves nothing, and a
second builder finds the digest and builds nothing (UNIQUE (kind, period)).

Each reader's content is chosen at build time and stored on the row (``contents``: paper ids and
why each is there); the sender renders from those ids. So a mail sent again after a crash says
the same thing, under the same Message-ID (also fixed here), and the next digest of the same
reader leaves out what this one held. A reader with nothing new gets a ``skipped`` row, never
a mail.

Row states: pending → sending (claimed under a lease) → sent | failed; skipped. Services take a
connection and never commit.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from dailypapers import catalog
from dailypapers.catalog import Period
from dailypapers.db.engine import db_now
from dailypapers.db.schema import (
    delivery_pauses, digest_outbox, digests, feature_days, subscription_topics, subscriptions,
)
from dailypapers.ingest.service import insert_rows
from dailypapers.notify.digest_content import (
    BadTopic, DigestSpec, Searcher, Topic, build_digest, evaluate_period, topics_of,
)
from dailypapers.notify.subscriptions import deliverable

log = logging.getLogger(__name__)

KINDS = ("daily", "weekly")
STATES = ("pending", "sending", "sent", "failed", "skipped")
# Rows a mail may still come from: what a reader's next digest must not repeat.
HELD = ("pending", "sending", "sent")


class NotReady(ValueError):
    """The period asked for has not ended yet (or there is none): nothing to build."""


def target_period(conn: Connection, kind: str, day: dt.date | None, today: dt.date) -> Period:
    """The period ``digest send`` delivers. Daily: the feature day ``day`` (default: the latest
    feature day before ``today``); weekly: the ISO week holding ``day`` (default: the last
    complete week). Only a period that has ended before ``today`` is ready."""
    if kind not in KINDS:
        raise ValueError(f"unknown digest kind {kind!r}; use daily or weekly")
    if kind == "daily":
        if day is None:
            day = conn.execute(sa.select(sa.func.max(feature_days.c.day))
                               .where(feature_days.c.day < today)).scalar()
            if day is None:
                raise NotReady("no complete feature day yet")
        period = catalog.day_period(day)
    else:
        period = catalog.week_period(day if day is not None
                                     else today - dt.timedelta(days=today.isoweekday()))
    if period.end > today:
        raise NotReady(f"{period.label} has not ended yet (today is {today.isoformat()})")
    return period


@dataclass
class Built:
    digest_id: int
    created: bool  # False: it existed already, nothing was made
    pending: int = 0
    skipped: int = 0


def find(conn: Connection, kind: str, period: Period) -> int | None:
    return conn.execute(sa.select(digests.c.id).where(
        digests.c.kind == kind, digests.c.period == period.label)).scalar()


def _specs(conn: Connection, kind: str) -> dict[int, DigestSpec]:
    """Every deliverable subscription of this frequency and what it asked for."""
    subs = conn.execute(sa.select(subscriptions.c.id, subscriptions.c.trending,
                                  subscriptions.c.max_items)
                        .where(deliverable(), subscriptions.c.frequency == kind)
                        .order_by(subscriptions.c.id)).all()
    topics: dict[int, list[Topic]] = defaultdict(list)
    rows = conn.execute(sa.select(subscription_topics.c.subscription_id, subscription_topics.c.kind,
                                  subscription_topics.c.value)
                        .join(subscriptions,
                              subscriptions.c.id == subscription_topics.c.subscription_id)
                        .where(deliverable(), subscriptions.c.frequency == kind)
                        .order_by(subscription_topics.c.subscription_id,
                                  subscription_topics.c.kind, subscription_topics.c.value))
    for sid, topic_kind, value in rows:
        try:
            topics[sid].append(Topic(topic_kind, value))
        except BadTopic as exc:  # saved under older rules: the rest of the mail still goes
            log.warning("subscription %s: topic skipped: %s", sid, exc)
    specs = {}
    for sid, trending, max_items in subs:
        try:
            specs[sid] = DigestSpec(bool(trending), tuple(topics[sid]), max_items)
        except ValueError as exc:
            log.warning("subscription %s: no digest: %s", sid, exc)
    return specs


def _previously_held(conn: Connection, kind: str, period: Period) -> dict[int, set[str]]:
    """Per subscription, the papers its previous digest of this kind held (if it went out)."""
    previous = conn.execute(sa.select(digests.c.id).where(
        digests.c.kind == kind, digests.c.period < period.label)
        .order_by(digests.c.period.desc()).limit(1)).scalar()
    if previous is None:
        return {}
    rows = conn.execute(sa.select(digest_outbox.c.subscription_id, digest_outbox.c.contents).where(
        digest_outbox.c.digest_id == previous, digest_outbox.c.state.in_(HELD)))
    return {sid: {pid for pid, _reason in items or []} for sid, items in rows}


def build(conn: Connection, kind: str, period: Period, *, base_url: str, sender_domain: str,
          search: Searcher | None) -> Built | None:
    """Make the period's digest and every outbox row, unless it exists. None: no deliverable
    subscription of this frequency (nothing is made, a later subscriber still gets this one)."""
    existing = find(conn, kind, period)
    if existing is not None:
        return Built(existing, False)
    specs = _specs(conn, kind)
    if not specs:
        return None
    results = evaluate_period(conn, period, topics_of(specs.values()), search)
    for warning in results.warnings:
        log.warning("digest %s %s: %s", kind, period.label, warning)
    held = _previously_held(conn, kind, period)
    now = db_now(conn)
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    # Two builders racing: the second waits for the first's commit, inserts nothing, builds
    # nothing (on SQLite the write lock already serialises them).
    made = conn.execute(dialect.insert(digests).values(
        kind=kind, period=period.label, built_at=now, state="built",
    ).on_conflict_do_nothing(index_elements=["kind", "period"]).returning(digests.c.id)).scalar()
    if made is None:
        return Built(find(conn, kind, period), False)  # type: ignore[arg-type]
    built = Built(made, True)
    rows: list[dict[str, Any]] = []
    for sid, spec in specs.items():
        items = build_digest(spec, results, held.get(sid, set()), base_url=base_url)
        state = "pending" if items else "skipped"
        built.pending += state == "pending"
        built.skipped += state == "skipped"
        rows.append({
            "digest_id": made, "subscription_id": sid, "state": state, "attempts": 0,
            "last_error": None, "lease_until": None, "sent_at": None,
            "message_id": f"<{uuid.uuid4().hex}.digest{made}@{sender_domain}>",
            "contents": [[item.paper_id, item.reason] for item in items],
        })
    insert_rows(conn, digest_outbox, rows)
    return built


# --- what `dailypapers status` shows ---------------------------------------------------------


def outbox_counts(conn: Connection) -> dict[str, int]:
    rows = conn.execute(sa.select(digest_outbox.c.state, sa.func.count())
                        .group_by(digest_outbox.c.state)).all()
    return {state: n for state, n in rows}


def current_pause(conn: Connection, now: dt.datetime | None = None) -> tuple[dt.datetime, str] | None:
    row = conn.execute(sa.select(delivery_pauses.c.paused_until, delivery_pauses.c.reason)
                       .where(delivery_pauses.c.name == "smtp")).first()
    now = now or db_now(conn)
    if row is None or row.paused_until is None or _aware(row.paused_until) <= now:
        return None
    return _aware(row.paused_until), row.reason or ""


def _aware(stamp: dt.datetime) -> dt.datetime:
    """SQLite gives naive datetimes back: they were stored in UTC."""
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.timezone.utc)


def status_lines(conn: Connection) -> list[str]:
    counts = outbox_counts(conn)
    shown = ", ".join(f"{counts.get(s, 0)} {s}" for s in STATES)
    latest = conn.execute(sa.select(digests.c.kind, digests.c.period)
                          .order_by(digests.c.id.desc()).limit(1)).first()
    lines = [f"Digest outbox: {shown}"
             + (f" (latest digest: {latest.kind} {latest.period})" if latest else "")]
    pause = current_pause(conn)
    if pause:
        lines.append(f"  senders paused until {pause[0]:%Y-%m-%d %H:%M:%S} UTC: {pause[1]}")
    return lines
