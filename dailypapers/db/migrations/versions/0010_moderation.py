"""moderation: papers.hidden_at and comments_locked_at, the append-only moderation_log, and
users' flags

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 10:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("papers") as batch:
        batch.add_column(sa.Column("hidden_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("comments_locked_at", sa.DateTime(timezone=True),
                                   nullable=True))
    op.create_index(op.f("ix_papers_hidden_at"), "papers", ["hidden_at"], unique=False)
    op.create_table(
        "moderation_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("moderator_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("target_type", sa.String(length=16), nullable=False),
        sa.Column("target_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["moderator_id"], ["users.id"],
                                name=op.f("fk_moderation_log_moderator_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_moderation_log")),
    )
    op.create_index(op.f("ix_moderation_log_moderator_id"), "moderation_log", ["moderator_id"],
                    unique=False)
    op.create_index("ix_moderation_log_target", "moderation_log", ["target_type", "target_id"],
                    unique=False)
    op.create_table(
        "flags",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("target_type", sa.String(length=16), nullable=False),
        sa.Column("target_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.Integer(), nullable=True),
        sa.Column("resolution", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_flags_user_id_users"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["resolved_by"], ["users.id"],
                                name=op.f("fk_flags_resolved_by_users"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flags")),
    )
    op.create_index(op.f("ix_flags_user_id"), "flags", ["user_id"], unique=False)
    op.create_index("ix_flags_target", "flags", ["target_type", "target_id"], unique=False)
    op.create_index("uq_flags_open", "flags", ["user_id", "target_type", "target_id"],
                    unique=True, sqlite_where=sa.text("resolved_at IS NULL"),
                    postgresql_where=sa.text("resolved_at IS NULL"))


def downgrade() -> None:
    op.drop_index("uq_flags_open", table_name="flags")
    op.drop_index("ix_flags_target", table_name="flags")
    op.drop_index(op.f("ix_flags_user_id"), table_name="flags")
    op.drop_table("flags")
    op.drop_index("ix_moderation_log_target", table_name="moderation_log")
    op.drop_index(op.f("ix_moderation_log_moderator_id"), table_name="moderation_log")
    op.drop_table("moderation_log")
    op.drop_index(op.f("ix_papers_hidden_at"), table_name="papers")
    with op.batch_alter_table("papers") as batch:
        batch.drop_column("comments_locked_at")
        batch.drop_column("hidden_at")
