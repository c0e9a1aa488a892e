"""digest_outbox: a digest per (kind, period), an outbox row per (digest, subscription) with
its delivery state, the senders' pause, and scheduled job slots

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 11:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "digests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_digests")),
        sa.UniqueConstraint("kind", "period", name="uq_digests_kind_period"),
    )
    op.create_table(
        "digest_outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("digest_id", sa.Integer(), nullable=False),
        sa.Column("subscription_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("contents", sa.JSON(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["digest_id"], ["digests.id"],
            name=op.f("fk_digest_outbox_digest_id_digests"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["subscription_id"], ["subscriptions.id"],
            name=op.f("fk_digest_outbox_subscription_id_subscriptions"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_digest_outbox")),
        sa.UniqueConstraint("digest_id", "subscription_id",
                            name="uq_digest_outbox_digest_subscription"),
    )
    op.create_index("ix_digest_outbox_state_lease", "digest_outbox", ["state", "lease_until"],
                    unique=False)
    op.create_index("ix_digest_outbox_subscription_id", "digest_outbox", ["subscription_id"],
                    unique=False)
    op.create_table(
        "delivery_pauses",
        sa.Column("name", sa.String(length=16), nullable=False),
        sa.Column("paused_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_delivery_pauses")),
    )
    op.create_table(
        "job_slots",
        sa.Column("job", sa.String(length=32), nullable=False),
        sa.Column("slot", sa.String(length=40), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("job", "slot", name=op.f("pk_job_slots")),
    )


def downgrade() -> None:
    op.drop_table("job_slots")
    op.drop_table("delivery_pauses")
    op.drop_index("ix_digest_outbox_subscription_id", table_name="digest_outbox")
    op.drop_index("ix_digest_outbox_state_lease", table_name="digest_outbox")
    op.drop_table("digest_outbox")
    op.drop_table("digests")
