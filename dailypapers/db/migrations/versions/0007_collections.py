"""collections: named lists of papers per user (public or private) and their items

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 10:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "collections",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=500), server_default="", nullable=False),
        sa.Column("is_public", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
            name=op.f("fk_collections_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collections")),
    )
    op.create_index(op.f("ix_collections_user_id"), "collections", ["user_id"], unique=False)
    op.create_table(
        "collection_items",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("collection_id", sa.Integer(), nullable=False),
        sa.Column("paper_id", sa.String(length=64), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["collection_id"], ["collections.id"],
            name=op.f("fk_collection_items_collection_id_collections"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["paper_id"], ["papers.id"],
            name=op.f("fk_collection_items_paper_id_papers"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collection_items")),
        sa.UniqueConstraint("collection_id", "paper_id",
                            name="uq_collection_items_collection_paper"),
    )
    op.create_index(op.f("ix_collection_items_paper_id"), "collection_items", ["paper_id"],
                    unique=False)
    op.create_index("ix_collection_items_collection_added", "collection_items",
                    ["collection_id", "added_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_collection_items_collection_added", table_name="collection_items")
    op.drop_index(op.f("ix_collection_items_paper_id"), table_name="collection_items")
    op.drop_table("collection_items")
    op.drop_index(op.f("ix_collections_user_id"), table_name="collections")
    op.drop_table("collections")
