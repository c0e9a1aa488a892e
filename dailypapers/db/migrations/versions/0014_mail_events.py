"""mail_events: bounces and complaints per subscription, why a subscription was suppressed, and
an index to find an outbox row by the Message-ID a bounce quotes

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 11:55:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subscriptions") as batch:
        batch.add_column(sa.Column("suppressed_reason", sa.String(length=200), nullable=True))
    op.create_index("ix_digest_outbox_message_id", "digest_outbox", ["message_id"], unique=False)
    op.create_table(
        "mail_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subscription_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=True),
        sa.Column("message_id", sa.String(length=255), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["subscription_id"], ["subscriptions.id"],
            name=op.f("fk_mail_events_subscription_id_subscriptions"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_events")),
    )
    op.create_index("ix_mail_events_subscription_received", "mail_events",
                    ["subscription_id", "received_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_mail_events_subscription_received", table_name="mail_events")
    op.drop_table("mail_events")
    op.drop_index("ix_digest_outbox_message_id", table_name="digest_outbox")
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_column("suppressed_reason")
