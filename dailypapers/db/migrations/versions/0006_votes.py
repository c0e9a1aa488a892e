"""votes: one row per (user, paper) upvote; papers.local_upvotes (their cached count) and
papers.counts_updated_at (the keyword index's stamp for counts); feature_days.trending_score (the
stored, order-stable trending score, indexed with the day), filled here for existing rows

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 08:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "votes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("paper_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
            name=op.f("fk_votes_user_id_users"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["paper_id"], ["papers.id"],
            name=op.f("fk_votes_paper_id_papers"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_votes")),
        sa.UniqueConstraint("user_id", "paper_id", name="uq_votes_user_paper"),
    )
    op.create_index(op.f("ix_votes_paper_id"), "votes", ["paper_id"], unique=False)
    with op.batch_alter_table("papers") as batch:
        batch.add_column(sa.Column("local_upvotes", sa.Integer(), server_default="0",
                                   nullable=False))
        batch.add_column(sa.Column("counts_updated_at", sa.DateTime(timezone=True),
                                   nullable=True))
    with op.batch_alter_table("feature_days") as batch:
        batch.add_column(sa.Column("trending_score", sa.Double(), server_default="0",
                                   nullable=False))
    op.create_index("ix_feature_days_day_trending", "feature_days", ["day", "trending_score"],
                    unique=False)
    # Existing feature days get their score from db/migrate.upgrade's recount at the head
    # (rank/stored.py is today's code: it needs today's columns).


def downgrade() -> None:
    op.drop_index("ix_feature_days_day_trending", table_name="feature_days")
    with op.batch_alter_table("feature_days") as batch:
        batch.drop_column("trending_score")
    with op.batch_alter_table("papers") as batch:
        batch.drop_column("counts_updated_at")
        batch.drop_column("local_upvotes")
    op.drop_index(op.f("ix_votes_paper_id"), table_name="votes")
    op.drop_table("votes")
