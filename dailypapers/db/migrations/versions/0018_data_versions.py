"""data_versions: the counter web processes key their caches of anonymous answers on

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-30 13:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "data_versions",
        sa.Column("shard", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("shard", name=op.f("pk_data_versions")),
    )


def downgrade() -> None:
    op.drop_table("data_versions")
