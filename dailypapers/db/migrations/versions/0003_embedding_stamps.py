"""paper_embeddings.created_at becomes the papers.row_updated_at of the text that was embedded

Vectors were stamped with the embedder's clock and compared with ``row_updated_at >``; an import
whose transaction began before the text was read but committed after could leave a stale vector
for good. From now on a vector carries the paper's own stamp and is stale when they differ. Rows
that were fresh under the old rule get their paper's stamp; stale ones keep theirs (they differ,
so they stay pending).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 22:05:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(sa.text(
        "UPDATE paper_embeddings SET created_at = "
        "(SELECT p.row_updated_at FROM papers p WHERE p.id = paper_embeddings.paper_id) "
        "WHERE created_at >= "
        "(SELECT p.row_updated_at FROM papers p WHERE p.id = paper_embeddings.paper_id)"
    ))


def downgrade() -> None:
    pass  # the old rule (row_updated_at > created_at) reads these stamps correctly too
