"""The data version: one number that moves whenever a write that may change a public answer
commits, read by every web process (web/cache.py keys its cached anonymous answers on it).

Every ``write_transaction`` adds 1 to one row of ``data_versions`` as its last statement, in the
same transaction, so the bump commits or rolls back with the write; the version is the sum over
the rows. Visibility only grows (a snapshot taken later sees every commit an earlier one saw),
and each commit adds at least 1, so a reader that sees version V has seen every write counted in
V: an answer computed after reading V is at least as new as V. Writes that cannot change a public
answer (mail delivery's outbox rows) opt out (``write_transaction(engine, public=False)``).

Why shards: one counter row would be locked by each write from its bump to its commit, so on
PostgreSQL all writes (votes above all) would queue behind one another. Each write picks one of
:data:`PG_SHARDS` rows at random, which keeps concurrent writes apart; the reader sums 16 tiny
rows. SQLite has one writer at a time anyway: one row.
"""

from __future__ import annotations

import random

import sqlalchemy as sa
from sqlalchemy.engine import Connection

PG_SHARDS = 16

# An upsert, so the rows need no seeding (and a table emptied by a restore or a test starts over).
_BUMP = sa.text(
    "INSERT INTO data_versions (shard, version) VALUES (:shard, 1) "
    "ON CONFLICT (shard) DO UPDATE SET version = data_versions.version + 1")
_READ = sa.text("SELECT COALESCE(SUM(version), 0) FROM data_versions")


def bump(conn: Connection) -> None:
    """Count this transaction's write: call last, just before it commits."""
    shard = random.randrange(PG_SHARDS) if conn.dialect.name == "postgresql" else 0
    conn.execute(_BUMP, {"shard": shard})


def read(conn: Connection) -> int:
    return int(conn.execute(_READ).scalar_one())
