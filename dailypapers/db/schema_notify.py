"""The notify tables: mail sent, digest subscriptions and digest delivery
(dailypapers/notify/).

Their own module to keep db/schema.py readable; they sit on the one ``metadata`` like every
other table (Alembic and ``create_all`` see them), and db/schema.py re-exports them, so
``from dailypapers.db.schema import subscriptions`` is the way to import them.
"""

from __future__ import annotations

import sqlalchemy as sa

from dailypapers.db.metadata import metadata

# Every mail handed to a backend (dailypapers/notify/mail.py): who, what kind, when, and how it
# went. Never the body: a reset mail's body is a credential.
sent_mail = sa.Table(
    "sent_mail",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(32), nullable=False),  # password_reset, ...
    sa.Column("recipient", sa.String(320), nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("backend", sa.String(16), nullable=False),  # smtp | console | file
    sa.Column("status", sa.String(16), nullable=False),  # sent | failed
    sa.Column("error", sa.Text),
    sa.Column(
        "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL"), index=True,
    ),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

# Digest subscriptions (dailypapers/notify/subscriptions.py): one row per normalised address, so
# subscribing again updates it. Who gets mail is one condition on ``state``
# (``subscriptions.deliverable()``): unconfirmed (double opt-in pending), confirmed,
# unsubscribed, suppressed (bounces, complaints: only the bounce handling lifts it).
subscriptions = sa.Table(
    "subscriptions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("email", sa.String(320), nullable=False),  # as validated: the mail goes here
    sa.Column("email_key", sa.String(320), nullable=False, unique=True),  # all lowercase
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL"), index=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("frequency", sa.String(8), nullable=False),  # daily | weekly
    sa.Column("trending", sa.Boolean, nullable=False),  # the period's trending papers overall
    sa.Column("max_items", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("confirmed_at", sa.DateTime(timezone=True)),
    sa.Column("state_changed_at", sa.DateTime(timezone=True), nullable=False),
    # Why mail stopped ("hard bounce 5.1.1", "complaint abuse"), set with state "suppressed".
    sa.Column("suppressed_reason", sa.String(200)),
    sa.Index("ix_subscriptions_state_frequency", "state", "frequency"),
)

# A subscription's topics, one row each: the digest builder evaluates each distinct (kind,
# value) of deliverable subscriptions once per period (the index), then hands the result to
# every subscription holding it. ``value``: a canonical arXiv category (cs.CL) or a saved
# search's cleaned text in the site's query syntax.
subscription_topics = sa.Table(
    "subscription_topics",
    metadata,
    sa.Column(
        "subscription_id", sa.Integer, sa.ForeignKey("subscriptions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("kind", sa.String(8), primary_key=True),  # category | search
    sa.Column("value", sa.String(512), primary_key=True),
    sa.Index("ix_subscription_topics_kind_value", "kind", "value"),
)

# --- digest delivery (dailypapers/notify/outbox.py, notify/delivery.py) ------------------------

# One digest per (kind, period): made once, in the transaction that makes its outbox rows, so
# a period's mail is either wholly planned or not at all. ``period``: 2026-03-02 or 2026-W10.
digests = sa.Table(
    "digests",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(8), nullable=False),  # daily | weekly
    sa.Column("period", sa.String(16), nullable=False),
    sa.Column("built_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # built (rows made) | done (none left)
    sa.UniqueConstraint("kind", "period", name="uq_digests_kind_period"),
)

# One row per (digest, subscription): the mail's content (``contents``: paper ids and why, chosen
# when the digest was built, so a resend renders the same mail) and its delivery state:
# pending → sending (claimed under ``lease_until``) → sent | failed; skipped: empty, or the
# subscription stopped before its turn. A pending row waits until ``lease_until`` (backoff).
# ``message_id`` is fixed here: a mail sent twice after a crash carries the same one.
digest_outbox = sa.Table(
    "digest_outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("digest_id", sa.Integer, sa.ForeignKey("digests.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("subscription_id", sa.Integer,
              sa.ForeignKey("subscriptions.id", ondelete="CASCADE"), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("last_error", sa.Text),
    sa.Column("message_id", sa.String(255), nullable=False),
    sa.Column("lease_until", sa.DateTime(timezone=True)),
    sa.Column("contents", sa.JSON, nullable=False),  # [[paper id, reason], ...]
    sa.Column("sent_at", sa.DateTime(timezone=True)),
    sa.UniqueConstraint("digest_id", "subscription_id", name="uq_digest_outbox_digest_subscription"),
    sa.Index("ix_digest_outbox_state_lease", "state", "lease_until"),
    sa.Index("ix_digest_outbox_subscription_id", "subscription_id"),
    sa.Index("ix_digest_outbox_message_id", "message_id"),  # a bounce names the Message-ID
    # The rows a sender may claim, in claim order: without it each claim walked the primary key
    # past every row already sent (40 ms a claim with 16,000 sent, growing with the outbox).
    sa.Index("ix_digest_outbox_open", "id",
             sqlite_where=sa.text("state IN ('pending', 'sending')"),
             postgresql_where=sa.text("state IN ('pending', 'sending')")),
)

# Every bounce and complaint `dailypapers mail bounce` applied, one row each: what stopped an
# address, and the soft-bounce rule (two within 7 days) as one query.
mail_events = sa.Table(
    "mail_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("subscription_id", sa.Integer,
              sa.ForeignKey("subscriptions.id", ondelete="CASCADE"), nullable=False),
    # hard | soft | complaint | delayed (a warning, never a bounce) | lifted (a suppression
    # lifted by an administrator: soft bounces before it no longer count)
    sa.Column("kind", sa.String(16), nullable=False),
    # enhanced status code (5.1.1), feedback type (abuse), or who lifted ("admin:ada")
    sa.Column("status", sa.String(32)),
    sa.Column("message_id", sa.String(255)),  # the returned message's, when it had one
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),  # when we read it
    # When it happened, by the report's own Arrival-Date or Date (never after received_at):
    # the soft-bounce window judges by this, so a mailbox piped days late still counts right.
    sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_mail_events_subscription_received", "subscription_id", "received_at"),
)

# The senders' shared brake: after DAILYPAPERS_DIGEST_PAUSE_AFTER consecutive failures no sender
# claims rows until ``paused_until`` (one row, ``name`` = "smtp").
delivery_pauses = sa.Table(
    "delivery_pauses",
    metadata,
    sa.Column("name", sa.String(16), primary_key=True),
    sa.Column("paused_until", sa.DateTime(timezone=True)),
    sa.Column("reason", sa.Text),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

# The digest throttle every sender shares (DAILYPAPERS_DIGEST_RATE_PER_SECOND): a sender reserves
# its next send slots by moving ``next_at`` (the first free slot, on the database's clock) forward
# in one short transaction, so the rate holds across all senders and processes (one row, ``name``
# = "digest").
send_budgets = sa.Table(
    "send_budgets",
    metadata,
    sa.Column("name", sa.String(16), primary_key=True),
    sa.Column("next_at", sa.DateTime(timezone=True), nullable=False),
)

# One-off mails a queue worker sends (dailypapers/notify/queued_mail.py), with
# DAILYPAPERS_QUEUE_URL set: what to send and to whom by id, never a token or a link (the worker
# makes those when it sends). pending → sent | skipped (nobody to send to any more) | failed
# (attempts spent). A worker holds a row under ``lease_until``; the scheduler's sweep enqueues a
# pending row again once ``due_at`` passed (its enqueue failed, or its worker died).
queued_mail = sa.Table(
    "queued_mail",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(32), nullable=False),  # password_reset, subscription_confirm, …
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE")),
    sa.Column("subscription_id", sa.Integer,
              sa.ForeignKey("subscriptions.id", ondelete="CASCADE")),
    sa.Column("base_url", sa.String(255), nullable=False),  # the site's address for the links
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("lease_until", sa.DateTime(timezone=True)),
    sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("error", sa.Text),
    sa.Index("ix_queued_mail_state_due", "state", "due_at"),
)
