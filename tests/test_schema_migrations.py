"""The migrations build exactly the tables db/schema.py declares, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from dailypapers.db.migrate import current_revision, head_revision
from dailypapers.db.schema import metadata


def test_migrated_schema_matches_schema_module(engine: sa.Engine) -> None:
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)
    assert differences == []


def test_comparison_sees_a_missing_column(engine: sa.Engine) -> None:
    """The check above can fail: a column declared but never migrated is reported."""
    extended = sa.MetaData()
    for table in metadata.sorted_tables:
        table.to_metadata(extended)
    sa.Table("users", extended, sa.Column("not_migrated", sa.Integer), extend_existing=True)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, extended)
    assert [d[0] for d in differences] == ["add_column"]
    assert differences[0][3].name == "not_migrated"
