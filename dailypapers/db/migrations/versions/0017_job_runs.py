"""job_slots records each slot's run (started, finished, outcome, who, lease) for the task queue
and `dailypapers jobs`; embed_claims lets several workers embed different papers at once

Revision ID: 0017
Revises: 0014
Create Date: 2026-11-30 13:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("job_slots") as batch:
        batch.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("started_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("outcome", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("error", sa.Text(), nullable=True))
        batch.add_column(sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("runner", sa.String(length=80), nullable=True))
    op.create_index("ix_job_slots_finished_lease", "job_slots", ["finished_at", "lease_until"],
                    unique=False)
    op.create_index("ix_job_slots_job_started", "job_slots", ["job", "started_at"], unique=False)
    op.create_table(
        "embed_claims",
        sa.Column("paper_id", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["paper_id"], ["papers.id"],
                                name=op.f("fk_embed_claims_paper_id_papers"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("paper_id", "model", name=op.f("pk_embed_claims")),
    )


def downgrade() -> None:
    op.drop_table("embed_claims")
    op.drop_index("ix_job_slots_job_started", table_name="job_slots")
    op.drop_index("ix_job_slots_finished_lease", table_name="job_slots")
    with op.batch_alter_table("job_slots") as batch:
        for column in ("runner", "attempts", "error", "outcome", "finished_at", "started_at",
                       "lease_until"):
            batch.drop_column(column)
