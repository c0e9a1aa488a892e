"""submissions: papers our users put on today's list (with an optional comment, ``note``), and
feature_days.submitter_user_id, the account behind a local feature day

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 10:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "submissions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("paper_id", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
            name=op.f("fk_submissions_user_id_users"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["paper_id"], ["papers.id"],
            name=op.f("fk_submissions_paper_id_papers"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_submissions")),
    )
    op.create_index(op.f("ix_submissions_paper_id"), "submissions", ["paper_id"], unique=False)
    op.create_index("ix_submissions_user_day", "submissions", ["user_id", "day"], unique=False)
    with op.batch_alter_table("feature_days") as batch:
        batch.add_column(sa.Column("submitter_user_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(op.f("fk_feature_days_submitter_user_id_users"), "users",
                                 ["submitter_user_id"], ["id"], ondelete="SET NULL")
        batch.create_index(op.f("ix_feature_days_submitter_user_id"), ["submitter_user_id"],
                           unique=False)


def downgrade() -> None:
    with op.batch_alter_table("feature_days") as batch:
        batch.drop_index(op.f("ix_feature_days_submitter_user_id"))
        batch.drop_constraint(op.f("fk_feature_days_submitter_user_id_users"),
                              type_="foreignkey")
        batch.drop_column("submitter_user_id")
    op.drop_index("ix_submissions_user_day", table_name="submissions")
    op.drop_index(op.f("ix_submissions_paper_id"), table_name="submissions")
    op.drop_table("submissions")
