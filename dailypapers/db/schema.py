"""The tables. Rows are the one source of truth; everything derived can be rebuilt from them.

Upstream timestamps are stored as the exact strings received (``*_at`` text columns); times we
make ourselves are real ``DateTime`` columns in UTC.
"""

from __future__ import annotations

import sqlalchemy as sa

# Re-exported: every table is importable from here (the notify ones live in schema_notify.py).
from dailypapers.db.metadata import metadata as metadata
from dailypapers.db.schema_notify import (  # noqa: F401
    delivery_pauses,
    digest_outbox,
    digests,
    mail_events,
    queued_mail,
    send_budgets,
    sent_mail,
    subscription_topics,
    subscriptions,
)

papers = sa.Table(
    "papers",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),  # canonical arXiv id, no version
    sa.Column("version", sa.Integer),
    sa.Column("title", sa.Text, nullable=False, server_default=""),
    sa.Column("abstract", sa.Text, nullable=False, server_default=""),
    sa.Column("authors", sa.JSON(none_as_null=True), nullable=False),  # ordered list of author objects (our keys)
    sa.Column("categories", sa.JSON(none_as_null=True), nullable=False),  # ordered list of category codes
    sa.Column("primary_category", sa.String(32)),
    sa.Column("submitted_at", sa.String(40)),  # first arXiv version, as received
    sa.Column("updated_at", sa.String(40)),  # latest arXiv version, as received
    sa.Column("hf_published_at", sa.String(40)),  # Hugging Face paper.publishedAt, as received
    sa.Column("comments", sa.Text),
    sa.Column("journal_ref", sa.Text),
    sa.Column("doi", sa.String(255)),
    sa.Column("license", sa.String(255)),
    sa.Column("github_repo", sa.Text),
    sa.Column("github_stars", sa.Integer),
    sa.Column("project_page", sa.Text),
    sa.Column("ai_summary", sa.Text),
    sa.Column("ai_keywords", sa.JSON(none_as_null=True)),
    sa.Column("upvotes", sa.Integer, nullable=False, server_default="0"),  # imported (Hugging Face)
    sa.Column("num_comments", sa.Integer, nullable=False, server_default="0"),  # imported
    # Cache of COUNT(votes) for this paper, kept in each vote's transaction (`db recount`
    # rebuilds it). Shown counts are upvotes + local_upvotes.
    sa.Column("local_upvotes", sa.Integer, nullable=False, server_default="0"),
    # Likewise COUNT of this paper's comments that count (not deleted), kept in each comment's
    # transaction; shown numComments is num_comments + local_comments.
    sa.Column("local_comments", sa.Integer, nullable=False, server_default="0"),
    # When a count of ours last changed: the keyword index reads it (sort=upvotes sees a vote),
    # the embedder does not (it compares row_updated_at), so a vote never looks like new text.
    sa.Column("counts_updated_at", sa.DateTime(timezone=True)),
    sa.Column("discussion_id", sa.String(64)),
    sa.Column("thumbnail", sa.Text),
    sa.Column("media_urls", sa.JSON(none_as_null=True)),
    sa.Column("organization", sa.JSON(none_as_null=True)),
    sa.Column("withdrawn_at", sa.String(40)),
    # Which source last set the bibliographic fields: arXiv sources win over Hugging Face.
    sa.Column("bib_source", sa.String(16), nullable=False),
    sa.Column("sources", sa.String(128), nullable=False),  # sorted, comma-separated
    sa.Column("is_demo", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("row_updated_at", sa.DateTime(timezone=True), nullable=False),
    # Set by a moderator (community/moderation.py): the paper leaves every list, search and API
    # (catalog.VISIBLE_PAPER); NULL for nearly every row, so the index stays small in use.
    sa.Column("hidden_at", sa.DateTime(timezone=True), index=True),
    # Set by a moderator: the paper's thread takes no new comments, replies or edits.
    sa.Column("comments_locked_at", sa.DateTime(timezone=True)),
)

feature_days = sa.Table(
    "feature_days",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "paper_id", sa.String(64), sa.ForeignKey("papers.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("day", sa.Date, nullable=False, index=True),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("upvotes", sa.Integer, nullable=False, server_default="0"),
    sa.Column("num_comments", sa.Integer, nullable=False, server_default="0"),
    sa.Column("published_at", sa.String(40)),  # outer publishedAt as received
    sa.Column("submitted_on_daily_at", sa.String(40)),
    sa.Column("submitter_name", sa.String(128), index=True),
    sa.Column("submitter", sa.JSON(none_as_null=True)),  # the submitting account (our keys)
    # A local submission's account (source "local"): the name above is the one it had then, the
    # id follows renames and suspension. NULL for Hugging Face's submitters.
    sa.Column(
        "submitter_user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL"),
        index=True,
    ),
    sa.Column("organization", sa.JSON(none_as_null=True)),
    sa.Column("is_author_participating", sa.Boolean),
    sa.Column("is_demo", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("row_updated_at", sa.DateTime(timezone=True), nullable=False),
    # rank/trending.py's order-stable score, written with every change of its inputs (a vote, an
    # import changing upvotes or comments); `db recount` rewrites all of them.
    sa.Column("trending_score", sa.Double(), nullable=False, server_default="0"),
    sa.UniqueConstraint("paper_id", "day", name="uq_feature_days_paper_day"),
    sa.Index("ix_feature_days_day_trending", "day", "trending_score"),
)

ingest_runs = sa.Table(
    "ingest_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source", sa.String(32), nullable=False),  # "import", "sync:hf", "sync:arxiv", "demo"
    sa.Column("detail", sa.Text),
    sa.Column("status", sa.String(16), nullable=False),  # running, ok, failed, interrupted
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("inserted", sa.Integer, nullable=False, server_default="0"),
    sa.Column("updated", sa.Integer, nullable=False, server_default="0"),
    sa.Column("unchanged", sa.Integer, nullable=False, server_default="0"),
    sa.Column("refused", sa.Integer, nullable=False, server_default="0"),
    sa.Column("error", sa.Text),
    # Who runs it, for telling a live run from one whose process is gone (ingest/runs.py).
    sa.Column("pid", sa.Integer),
    sa.Column("host", sa.String(255)),
    sa.Column("heartbeat_at", sa.DateTime(timezone=True)),  # start, then every committed batch
)

refusals = sa.Table(
    "refusals",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "run_id", sa.Integer, sa.ForeignKey("ingest_runs.id", ondelete="CASCADE"), nullable=False,
        index=True,
    ),
    sa.Column("file", sa.Text),
    sa.Column("position", sa.String(64)),
    sa.Column("record_id", sa.String(128)),
    sa.Column("reason", sa.Text, nullable=False),
)

# Resumable progress of live syncs: one row per key (e.g. "hf:day:2026-03-31" → "done").
sync_checkpoints = sa.Table(
    "sync_checkpoints",
    metadata,
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

# One vector per paper and embedding model, for the text it was computed from. Derived data kept
# in the database so every web node (and a rebuild) can load vectors without embedding again.
paper_embeddings = sa.Table(
    "paper_embeddings",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),  # watermark for catch-up
    sa.Column(
        "paper_id", sa.String(64), sa.ForeignKey("papers.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("model", sa.String(128), nullable=False),
    sa.Column("dim", sa.Integer, nullable=False),
    sa.Column("text_hash", sa.String(64), nullable=False),  # sha256 of the embedded text
    sa.Column("vector", sa.LargeBinary, nullable=False),  # float16, little-endian
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("paper_id", "model", name="uq_paper_embeddings_paper_model"),
)

# Hugging Face models, datasets and Spaces that cite a paper (its paper-info answer), replaced
# wholesale per paper on each import; ``position`` keeps upstream's order.
linked_repos = sa.Table(
    "linked_repos",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "paper_id", sa.String(64), sa.ForeignKey("papers.id", ondelete="CASCADE"), nullable=False,
        index=True,
    ),
    sa.Column("kind", sa.String(8), nullable=False),  # model | dataset | space
    sa.Column("repo_id", sa.String(200), nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("author", sa.String(128)),
    sa.Column("likes", sa.Integer),
    sa.Column("downloads", sa.BigInteger),
    sa.Column("last_modified", sa.String(40)),  # as received
    sa.UniqueConstraint("paper_id", "kind", "repo_id", name="uq_linked_repos_paper_kind_repo"),
)

# One row per paper whose paper-info was imported: upstream's totals (its lists may be cut short)
# and, by existing, "the linked repos of this paper are known" (even when there are none).
linked_repo_totals = sa.Table(
    "linked_repo_totals",
    metadata,
    sa.Column(
        "paper_id", sa.String(64), sa.ForeignKey("papers.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("num_models", sa.Integer),
    sa.Column("num_datasets", sa.Integer),
    sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),  # last answer stored
)

# --- accounts (dailypapers/community/) --------------------------------------------------------

# ``username`` keeps the letters as typed; ``username_key`` (lowercase) makes names unique
# ignoring case, so "Alice" and "alice" can never be two people.
users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(32), nullable=False),
    sa.Column("username_key", sa.String(32), nullable=False, unique=True),
    sa.Column("email", sa.String(320)),
    sa.Column("email_key", sa.String(320), unique=True),  # lowercase; NULLs do not clash
    sa.Column("password_hash", sa.String(255), nullable=False),  # argon2id, PHC string
    sa.Column("is_admin", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("is_moderator", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("suspended_at", sa.DateTime(timezone=True)),
)

# Server-side sessions: the cookie holds a random token, the table only its SHA-256, so a copy
# of the database signs nobody in. ``csrf_secret`` is the session's synchronizer token.
user_sessions = sa.Table(
    "user_sessions",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column(
        "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False,
        index=True,
    ),
    sa.Column("csrf_secret", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False, index=True),
)

# Personal API tokens for /api/v1 writes (Authorization: Bearer), shown once, stored as SHA-256:
# they are random, so a fast digest is enough (argon2 is for passwords people choose).
api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False,
        index=True,
    ),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_used_at", sa.DateTime(timezone=True)),
)

# One row per (user, paper) upvote; papers.local_upvotes caches their count (community/votes.py).
votes = sa.Table(
    "votes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False,
    ),
    sa.Column(
        "paper_id", sa.String(64), sa.ForeignKey("papers.id", ondelete="CASCADE"), nullable=False,
        index=True,
    ),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("user_id", "paper_id", name="uq_votes_user_paper"),
)

# Password reset links: the mail holds the token, the table its SHA-256; a used or expired row
# opens nothing.
password_resets = sa.Table(
    "password_resets",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column(
        "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False,
        index=True,
    ),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("used_at", sa.DateTime(timezone=True)),
)

# --- collections (dailypapers/community/collections.py) --------------------------------------

# Named lists of papers a user keeps, public (anyone may read) or private (a 404 to others).
# Name and description lengths are community/collections.py's NAME_MAX and DESCRIPTION_MAX.
collections = sa.Table(
    "collections",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False,
        index=True,
    ),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("description", sa.String(500), nullable=False, server_default=""),
    sa.Column("is_public", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

# One row per (collection, paper); pages list them newest first (the index with added_at).
collection_items = sa.Table(
    "collection_items",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "collection_id", sa.Integer, sa.ForeignKey("collections.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column(
        "paper_id", sa.String(64), sa.ForeignKey("papers.id", ondelete="CASCADE"), nullable=False,
        index=True,
    ),
    sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("collection_id", "paper_id", name="uq_collection_items_collection_paper"),
    sa.Index("ix_collection_items_collection_added", "collection_id", "added_at"),
)

# Papers our users put on a day's list (community/submissions.py): who, which paper, which day,
# and the optional comment they sent with it (``note``, plain text). The list entry itself is the
# feature_days row (source "local") that the submission made.
submissions = sa.Table(
    "submissions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False,
    ),
    sa.Column(
        "paper_id", sa.String(64), sa.ForeignKey("papers.id", ondelete="CASCADE"), nullable=False,
        index=True,
    ),
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("note", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_submissions_user_day", "user_id", "day"),
)

# --- comments (dailypapers/community/comments.py) ----------------------------------------------

# Threaded comments on a paper. ``body`` is the Markdown as written (rendered and sanitised when
# shown). A deleted comment keeps its row, emptied, so its replies keep their place; ``hidden_at``
# is for moderators. ``upvotes`` caches COUNT(comment_votes); papers.local_comments counts the
# paper's comments that are not deleted (rank/stored.counted_comment says which count).
comments = sa.Table(
    "comments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "paper_id", sa.String(64), sa.ForeignKey("papers.id", ondelete="CASCADE"), nullable=False,
        index=True,
    ),
    sa.Column(
        "parent_id", sa.Integer, sa.ForeignKey("comments.id", ondelete="CASCADE"), index=True,
    ),
    # SET NULL: an account's removal must not take other people's replies with it.
    sa.Column(
        "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL"), index=True,
    ),
    sa.Column("depth", sa.Integer, nullable=False, server_default="0"),  # 0: top level
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("upvotes", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("edited_at", sa.DateTime(timezone=True)),
    sa.Column("deleted_at", sa.DateTime(timezone=True)),
    sa.Column("hidden_at", sa.DateTime(timezone=True)),
)

# One row per (user, comment) upvote; comments.upvotes caches their count.
comment_votes = sa.Table(
    "comment_votes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False,
    ),
    sa.Column(
        "comment_id", sa.Integer, sa.ForeignKey("comments.id", ondelete="CASCADE"),
        nullable=False, index=True,
    ),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("user_id", "comment_id", name="uq_comment_votes_user_comment"),
)

# Thumbnails and organisation avatars fetched once into <data_dir>/media/ (ingest/media.py), one
# row per source URL: the file it became (content-addressed: sha256 + extension) or why not.
# Keyed by the URL's sha256: a URL may be longer than PostgreSQL indexes a text value.
media = sa.Table(
    "media",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("url_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # ok | refused | failed (retried later)
    sa.Column("sha256", sa.String(64)),  # ok: the file is <sha256>.<ext>
    sa.Column("ext", sa.String(8)),
    sa.Column("width", sa.Integer),
    sa.Column("height", sa.Integer),
    sa.Column("size_bytes", sa.Integer),
    sa.Column("reason", sa.Text),  # refused | failed: why, for `dailypapers media` and logs
    sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
)

# --- moderation (dailypapers/community/moderation.py) -----------------------------------------

# Append-only: one row per moderator action, shown on the public /moderation page. The code has
# no function that updates or deletes a row (tests/test_moderation.py checks every route).
# ``target_id`` is text: a paper's arXiv id, a user's or comment's numeric id.
moderation_log = sa.Table(
    "moderation_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("moderator_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False, index=True),
    sa.Column("action", sa.String(32), nullable=False),  # hide_paper, suspend_user, ...
    sa.Column("target_type", sa.String(16), nullable=False),  # paper | user | comment
    sa.Column("target_id", sa.String(64), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_moderation_log_target", "target_type", "target_id"),
)

# A user's report that something needs a moderator's look. Open while ``resolved_at`` is NULL;
# one open flag per (user, target), kept by a partial unique index on both databases.
flags = sa.Table(
    "flags",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False,
        index=True,
    ),
    sa.Column("target_type", sa.String(16), nullable=False),
    sa.Column("target_id", sa.String(64), nullable=False),
    sa.Column("reason", sa.String(32), nullable=False),  # one of moderation.FLAG_REASONS
    sa.Column("detail", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("resolved_at", sa.DateTime(timezone=True)),
    sa.Column("resolved_by", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL")),
    sa.Column("resolution", sa.String(32)),  # dismissed | hidden | suspended
    sa.Index("ix_flags_target", "target_type", "target_id"),
    sa.Index("uq_flags_open", "user_id", "target_type", "target_id", unique=True,
             sqlite_where=sa.text("resolved_at IS NULL"),
             postgresql_where=sa.text("resolved_at IS NULL")),
)

# Scheduled job slots (dailypapers/jobs.py, job_runs.py): the first process to insert (job, slot)
# runs that slot's job (or enqueues it); others running the same job list skip it. A slot is done
# when ``finished_at`` is set; one unfinished past ``lease_until`` is enqueued again.
job_slots = sa.Table(
    "job_slots",
    metadata,
    sa.Column("job", sa.String(32), primary_key=True),
    sa.Column("slot", sa.String(40), primary_key=True),  # the scheduled time, UTC ISO
    sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("lease_until", sa.DateTime(timezone=True)),  # renewed while its job runs
    sa.Column("started_at", sa.DateTime(timezone=True)),  # of the latest attempt
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("outcome", sa.String(16)),  # ok | failed (of the latest attempt); None: not ended
    sa.Column("error", sa.Text),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("runner", sa.String(80)),  # host:pid of the latest attempt
    sa.Index("ix_job_slots_finished_lease", "finished_at", "lease_until"),
    sa.Index("ix_job_slots_job_started", "job", "started_at"),  # each job's last run
)

# Papers a worker is embedding now (index/vectors.py): others skip them until the lease ends.
embed_claims = sa.Table(
    "embed_claims",
    metadata,
    sa.Column("paper_id", sa.String(64), sa.ForeignKey("papers.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("model", sa.String(128), primary_key=True),
    sa.Column("lease_until", sa.DateTime(timezone=True), nullable=False),
)

# What anonymous answers were computed from (dailypapers/db/data_version.py): every write
# transaction that may change a public page adds 1 to one shard's row before it commits; the
# sum over the rows is the data version the web processes' response caches key on.
data_versions = sa.Table(
    "data_versions",
    metadata,
    sa.Column("shard", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column("version", sa.BigInteger, nullable=False),
)
