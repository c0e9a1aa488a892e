"""Importing the OAI-PMH corpus (103 pages, 102,538 papers): SQLite and PostgreSQL against parsing.

In one process: (1) parse every page without storing (the baseline), (2) import into a fresh
SQLite file, (3) import into a fresh PostgreSQL database, (4) import into SQLite again (all
unchanged). Targets: each import ≤ 2× the parse-only time, and ≥ 5,000 papers/s into SQLite.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import uuid
from pathlib import Path

from _util import SHARED_DATA, Timer, headline, throwaway_database

from dailypapers.db.engine import make_engine
from dailypapers.db.migrate import upgrade
from dailypapers.ingest.files import expand_paths, iter_file
from dailypapers.ingest.files import import_paths
from dailypapers.ingest.records import Refusal

PG_ADMIN = os.environ.get("DAILYPAPERS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
TARGET_RATE = 5000.0
TARGET_RATIO = 2.0


def parse_only(paths: list[Path]) -> tuple[int, int]:
    items = refused = 0
    for path in paths:
        for parsed in iter_file(path, "arxiv-oai"):
            if isinstance(parsed, Refusal):
                refused += 1
            else:
                items += 1
    return items, refused


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=str(SHARED_DATA / "arxiv" / "oai-pmh-cs-2016"))
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    paths = expand_paths([args.data])

    with Timer() as t_parse:
        items, refused = parse_only(paths)
    print(f"parse only:        {t_parse.seconds:6.2f} s  {items} records, {refused} refused "
          f"({items / t_parse.seconds:,.0f}/s)")

    workdir = Path(tempfile.mkdtemp(prefix="dp-import-speed-"))
    sqlite = make_engine(f"sqlite:///{workdir / 'oai.sqlite3'}")
    upgrade(sqlite)
    with Timer() as t_sqlite:
        _, counts = import_paths(sqlite, paths)
    rate = counts.inserted / t_sqlite.seconds
    sqlite_ratio = t_sqlite.seconds / t_parse.seconds
    print(f"SQLite import:     {t_sqlite.seconds:6.2f} s  {counts.inserted} inserted, "
          f"{counts.refused} refused ({rate:,.0f} papers/s, {sqlite_ratio:.2f}× parse)")
    with Timer() as t_again:
        _, again = import_paths(sqlite, paths)
    print(f"SQLite re-import:  {t_again.seconds:6.2f} s  {again.unchanged} unchanged, "
          f"{again.inserted} inserted, {again.updated} updated")

    pg_ratio = None
    if not args.no_postgres:
        with throwaway_database(PG_ADMIN, f"dp_bench_{uuid.uuid4().hex[:8]}") as url:
            pg = make_engine(url)
            upgrade(pg)
            with Timer() as t_pg:
                _, pg_counts = import_paths(pg, paths)
            pg_ratio = t_pg.seconds / t_parse.seconds
            print(f"PostgreSQL import: {t_pg.seconds:6.2f} s  {pg_counts.inserted} inserted "
                  f"({pg_counts.inserted / t_pg.seconds:,.0f} papers/s, {pg_ratio:.2f}× parse)")
            pg.dispose()

    ok = (rate >= TARGET_RATE and sqlite_ratio <= TARGET_RATIO
          and (pg_ratio is None or pg_ratio <= TARGET_RATIO) and again.unchanged == items)
    pg_text = f", PostgreSQL {pg_ratio:.2f}× parse" if pg_ratio is not None else ""
    headline(
        "import_speed", rate, f"papers/s into SQLite ({sqlite_ratio:.2f}× parse{pg_text})",
        f"≥ {TARGET_RATE:,.0f} papers/s and ≤ {TARGET_RATIO:g}× parse on both databases", ok,
    )


if __name__ == "__main__":
    main()
