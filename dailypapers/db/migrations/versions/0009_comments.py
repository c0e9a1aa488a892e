"""comments: threaded comments on papers (soft-deleted, with a moderators' hidden_at), their
upvotes (comment_votes, UNIQUE per user and comment), papers.local_comments (their cached count);
(caches and scores are recounted by db/migrate.upgrade at the head)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 10:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "comments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("paper_id", sa.String(length=64), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("depth", sa.Integer(), server_default="0", nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("upvotes", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hidden_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["paper_id"], ["papers.id"],
            name=op.f("fk_comments_paper_id_papers"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["parent_id"], ["comments.id"],
            name=op.f("fk_comments_parent_id_comments"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
            name=op.f("fk_comments_user_id_users"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comments")),
    )
    op.create_index(op.f("ix_comments_paper_id"), "comments", ["paper_id"], unique=False)
    op.create_index(op.f("ix_comments_parent_id"), "comments", ["parent_id"], unique=False)
    op.create_index(op.f("ix_comments_user_id"), "comments", ["user_id"], unique=False)
    op.create_table(
        "comment_votes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("comment_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
            name=op.f("fk_comment_votes_user_id_users"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["comment_id"], ["comments.id"],
            name=op.f("fk_comment_votes_comment_id_comments"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comment_votes")),
        sa.UniqueConstraint("user_id", "comment_id", name="uq_comment_votes_user_comment"),
    )
    op.create_index(op.f("ix_comment_votes_comment_id"), "comment_votes", ["comment_id"],
                    unique=False)
    with op.batch_alter_table("papers") as batch:
        batch.add_column(sa.Column("local_comments", sa.Integer(), server_default="0",
                                   nullable=False))
    # The caches and stored scores are rebuilt from rows by db/migrate.upgrade once at the head.


def downgrade() -> None:
    with op.batch_alter_table("papers") as batch:
        batch.drop_column("local_comments")
    op.drop_index(op.f("ix_comment_votes_comment_id"), table_name="comment_votes")
    op.drop_table("comment_votes")
    op.drop_index(op.f("ix_comments_user_id"), table_name="comments")
    op.drop_index(op.f("ix_comments_parent_id"), table_name="comments")
    op.drop_index(op.f("ix_comments_paper_id"), table_name="comments")
    op.drop_table("comments")
