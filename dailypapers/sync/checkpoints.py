"""Read and write rows of ``sync_checkpoints`` inside the caller's transaction.

Values are JSON. ``load(..., for_update=True)`` locks the row on PostgreSQL so two syncs running
at once (``serve`` and a cron ``dailypapers sync``) apply their page updates one after the other;
SQLite already serialises writers (BEGIN IMMEDIATE).
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dailypapers.db.schema import sync_checkpoints
from dailypapers.ingest.service import utcnow


def load(conn: Connection, key: str, *, for_update: bool = False) -> Any | None:
    query = sa.select(sync_checkpoints.c.value).where(sync_checkpoints.c.key == key)
    if for_update and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    value = conn.execute(query).scalar_one_or_none()
    if value is None:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return value  # a hand-written plain value


def save(conn: Connection, key: str, value: Any) -> None:
    row = {"key": key, "value": json.dumps(value, sort_keys=True), "updated_at": utcnow()}
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    stmt = insert(sync_checkpoints).values(**row)
    stmt = stmt.on_conflict_do_update(
        index_elements=[sync_checkpoints.c.key],
        set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at},
    )
    conn.execute(stmt)


def delete(conn: Connection, key: str) -> None:
    conn.execute(sync_checkpoints.delete().where(sync_checkpoints.c.key == key))


def load_all(conn: Connection, prefix: str = "") -> dict[str, Any]:
    rows = conn.execute(
        sa.select(sync_checkpoints.c.key, sync_checkpoints.c.value)
        .where(sync_checkpoints.c.key.startswith(prefix, autoescape=True))
        .order_by(sync_checkpoints.c.key)
    )
    out: dict[str, Any] = {}
    for key, value in rows:
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out
