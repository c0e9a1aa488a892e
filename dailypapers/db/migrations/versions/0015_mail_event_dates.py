"""mail_events.occurred_at: when a bounce happened by its own date (the soft-bounce window
judges by it), filled with received_at for the events recorded before

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 13:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mail_events") as batch:
        batch.add_column(sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE mail_events SET occurred_at = received_at")
    with op.batch_alter_table("mail_events") as batch:
        batch.alter_column("occurred_at", existing_type=sa.DateTime(timezone=True),
                           nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("mail_events") as batch:
        batch.drop_column("occurred_at")
