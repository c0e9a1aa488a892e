"""digest sending at scale: an index of the outbox rows still to send (claims stop walking past
sent rows), and send_budgets, the throttle all senders share

Revision ID: 0016
Revises: 0014
Create Date: 2026-11-30 13:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0017"
branch_labels = None
depends_on = None

OPEN = "state IN ('pending', 'sending')"


def upgrade() -> None:
    op.create_index("ix_digest_outbox_open", "digest_outbox", ["id"], unique=False,
                    sqlite_where=sa.text(OPEN), postgresql_where=sa.text(OPEN))
    op.create_table(
        "send_budgets",
        sa.Column("name", sa.String(length=16), nullable=False),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_send_budgets")),
    )


def downgrade() -> None:
    op.drop_table("send_budgets")
    op.drop_index("ix_digest_outbox_open", table_name="digest_outbox")
