"""subscriptions: digest subscriptions (one row per normalised address, its state) and their
topics (arXiv categories, saved searches), one row each

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 10:50:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("email_key", sa.String(length=320), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("frequency", sa.String(length=8), nullable=False),
        sa.Column("trending", sa.Boolean(), nullable=False),
        sa.Column("max_items", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("state_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
            name=op.f("fk_subscriptions_user_id_users"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
        sa.UniqueConstraint("email_key", name=op.f("uq_subscriptions_email_key")),
    )
    op.create_index(op.f("ix_subscriptions_user_id"), "subscriptions", ["user_id"], unique=False)
    op.create_index("ix_subscriptions_state_frequency", "subscriptions", ["state", "frequency"],
                    unique=False)
    op.create_table(
        "subscription_topics",
        sa.Column("subscription_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("value", sa.String(length=512), nullable=False),
        sa.ForeignKeyConstraint(["subscription_id"], ["subscriptions.id"],
            name=op.f("fk_subscription_topics_subscription_id_subscriptions"),
            ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("subscription_id", "kind", "value",
                                name=op.f("pk_subscription_topics")),
    )
    op.create_index("ix_subscription_topics_kind_value", "subscription_topics", ["kind", "value"],
                    unique=False)


def downgrade() -> None:
    op.drop_index("ix_subscription_topics_kind_value", table_name="subscription_topics")
    op.drop_table("subscription_topics")
    op.drop_index("ix_subscriptions_state_frequency", table_name="subscriptions")
    op.drop_index(op.f("ix_subscriptions_user_id"), table_name="subscriptions")
    op.drop_table("subscriptions")
