"""linked repos: the Hugging Face models, datasets and Spaces citing a paper, and their totals

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 07:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "linked_repos",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("paper_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("repo_id", sa.String(length=200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("author", sa.String(length=128), nullable=True),
        sa.Column("likes", sa.Integer(), nullable=True),
        sa.Column("downloads", sa.BigInteger(), nullable=True),
        sa.Column("last_modified", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(
            ["paper_id"], ["papers.id"], name=op.f("fk_linked_repos_paper_id_papers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_linked_repos")),
        sa.UniqueConstraint("paper_id", "kind", "repo_id", name="uq_linked_repos_paper_kind_repo"),
    )
    op.create_index(op.f("ix_linked_repos_paper_id"), "linked_repos", ["paper_id"], unique=False)
    op.create_table(
        "linked_repo_totals",
        sa.Column("paper_id", sa.String(length=64), nullable=False),
        sa.Column("num_models", sa.Integer(), nullable=True),
        sa.Column("num_datasets", sa.Integer(), nullable=True),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["paper_id"], ["papers.id"], name=op.f("fk_linked_repo_totals_paper_id_papers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("paper_id", name=op.f("pk_linked_repo_totals")),
    )


def downgrade() -> None:
    op.drop_table("linked_repo_totals")
    op.drop_index(op.f("ix_linked_repos_paper_id"), table_name="linked_repos")
    op.drop_table("linked_repos")
