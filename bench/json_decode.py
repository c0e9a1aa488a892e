"""Decoding JSON columns: db/jsoncodec.py's ``loads_json`` (orjson, falling back to the standard
library) against ``json.loads``, which decoded every value before.

    python bench/json_decode.py [--repeat 200]

Set-up: a fresh PostgreSQL database (DAILYPAPERS_BENCH_PG's server, default
postgresql://postgres@127.0.0.1:5432/test; created here and dropped after) holding hf-daily/,
imported as ``dailypapers import`` does.

Figures: (1) every stored value of every JSON column (papers' authors, categories, ai_keywords,
media_urls, organization; feature days' submitter and organization), as the bytes psycopg hands
its loader: µs per value, best of 5 passes, old and new (authors alone too), and how many took
the fallback; both must decode every value to the same thing. (2) End to end: the busiest day's
``catalog.entries_in`` (the day page's and the day API's query) ``--repeat`` times on an engine
that decodes with ``json.loads`` and on ``make_engine``'s, in alternating rounds (the median
round's time per query, and this process's CPU time). Target: the
day query at least 3 % faster (the decoder's share of it), the same entries from both.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import time
from unittest import mock

from _util import SHARED_DATA, Timer, headline, throwaway_database

import sqlalchemy as sa

from dailypapers import catalog
from dailypapers.db import engine as engine_module
from dailypapers.db import jsoncodec
from dailypapers.db.engine import make_engine, read_transaction
from dailypapers.db.migrate import upgrade
from dailypapers.db.schema import feature_days, papers
from dailypapers.ingest.files import import_paths

PG = os.environ.get("DAILYPAPERS_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
HF_DAILY = SHARED_DATA / "hf-daily"
JSON_COLUMNS = [papers.c.authors, papers.c.categories, papers.c.ai_keywords, papers.c.media_urls,
                papers.c.organization, feature_days.c.submitter, feature_days.c.organization]
ROUNDS = 20
WARM_UP = 20
TARGET_SPEEDUP = 1.03


def stored_texts(engine: sa.Engine) -> dict[str, list[bytes]]:
    """Each JSON column's stored text, as the bytes psycopg's JSON loader is given."""
    out = {}
    with engine.connect() as conn:
        for column in JSON_COLUMNS:
            text = sa.cast(column, sa.Text)
            rows = conn.execute(sa.select(text).where(column.is_not(None))).scalars()
            out[f"{column.table.name}.{column.name}"] = [value.encode() for value in rows]
    return out


def per_value_us(decode, values: list[bytes]) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for value in values:
            decode(value)
        best = min(best, time.perf_counter() - start)
    return best / len(values) * 1e6


def count_fallbacks(values: list[bytes]) -> int:
    calls = 0

    def counted(data):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        return json.loads(data)

    with mock.patch.object(jsoncodec, "_json_loads", counted):
        for value in values:
            jsoncodec.loads_json(value)
    return calls


def decode_figures(engine: sa.Engine) -> None:
    texts = stored_texts(engine)
    every = [value for values in texts.values() for value in values]
    for value in every:
        old, new = json.loads(value), jsoncodec.loads_json(value)
        assert repr(old) == repr(new), value[:200]
    print(f"{len(every)} stored JSON values, {sum(map(len, every)) / len(every):.0f} bytes on "
          f"average; {count_fallbacks(every)} decoded by the standard library (fallback)")
    for name, values in [("every JSON column", every), ("papers.authors", texts["papers.authors"])]:
        old = per_value_us(json.loads, values)
        new = per_value_us(jsoncodec.loads_json, values)
        bare = per_value_us(jsoncodec._orjson_loads, values)
        print(f"  {name}: json.loads {old:.2f} µs/value, loads_json {new:.2f} µs/value "
              f"(bare orjson {bare:.2f}): {old / new:.2f}x")


def busiest_day(engine: sa.Engine) -> dt.date:
    with engine.connect() as conn:
        return conn.execute(sa.select(feature_days.c.day).group_by(feature_days.c.day)
                            .order_by(sa.func.count().desc(), feature_days.c.day)
                            .limit(1)).scalar_one()


def day_query_seconds(engine: sa.Engine, day: dt.date, times: int) -> tuple[float, float]:
    """Wall-clock and this process's CPU seconds (the decoding is ours, not the server's)."""
    cpu = time.process_time()
    with Timer() as t:
        for _ in range(times):
            with read_transaction(engine) as conn:
                catalog.entries_in(conn, day, day + dt.timedelta(days=1))
    return t.seconds, time.process_time() - cpu


def end_to_end(url: str, repeat: int) -> float:
    with mock.patch.object(engine_module, "loads_json", json.loads):
        old_engine = make_engine(url)  # what every engine was: psycopg's default loader
    new_engine = make_engine(url)
    day = busiest_day(new_engine)
    entries = {}
    for name, engine in [("old", old_engine), ("new", new_engine)]:
        with read_transaction(engine) as conn:
            entries[name] = catalog.entries_in(conn, day, day + dt.timedelta(days=1))
    assert entries["old"] == entries["new"], "the two engines read different entries"
    engines = [("old", old_engine), ("new", new_engine)]
    for _name, engine in engines:  # warm: pools filled, statements cached
        day_query_seconds(engine, day, WARM_UP)
    wall: dict[str, list[float]] = {"old": [], "new": []}
    cpu: dict[str, float] = {"old": 0.0, "new": 0.0}
    per_round = max(1, repeat // ROUNDS)
    for number in range(ROUNDS):  # alternating, so a busy moment on the machine hits both
        for name, engine in engines if number % 2 else engines[::-1]:
            seconds, cpu_seconds = day_query_seconds(engine, day, per_round)
            wall[name].append(seconds / per_round * 1e3)
            cpu[name] += cpu_seconds / (per_round * ROUNDS) * 1e3
    old_ms, new_ms = statistics.median(wall["old"]), statistics.median(wall["new"])
    print(f"day query ({day}, {len(entries['new'])} papers) x{per_round * ROUNDS} on each, "
          f"median of {ROUNDS} alternating rounds: json.loads {old_ms:.2f} ms, loads_json "
          f"{new_ms:.2f} ms per query ({old_ms / new_ms:.3f}x; means "
          f"{sum(wall['old']) / ROUNDS:.2f} and {sum(wall['new']) / ROUNDS:.2f} ms); this "
          f"process's CPU {cpu['old']:.2f} and {cpu['new']:.2f} ms per query "
          f"({cpu['old'] / cpu['new']:.3f}x)")
    old_engine.dispose()
    new_engine.dispose()
    return old_ms / new_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    with throwaway_database(PG, f"dailypapers_jsonload_{os.getpid()}") as url:
        engine = make_engine(url)
        upgrade(engine)
        with Timer() as t:
            _, counts = import_paths(engine, [HF_DAILY])
        print(f"hf-daily: {counts.total} records in {t.seconds:.0f} s")
        decode_figures(engine)
        engine.dispose()
        speedup = end_to_end(url, args.repeat)
    headline("json_decode_day_query_speedup", speedup, "x", f"≥ {TARGET_SPEEDUP}",
             speedup >= TARGET_SPEEDUP)


if __name__ == "__main__":
    main()
