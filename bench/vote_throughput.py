"""Votes per second through the API of a real `dailypapers serve`, against two ceilings.

Per database (a fresh SQLite file, a fresh PostgreSQL database): 2,000 papers, 20,000 users with
API tokens and 100,000 votes stored; `dailypapers serve --no-sync` on loopback; Debian's `wrk`
(compiled, so the client is not the limit) with a Lua script: CONNECTIONS clients toggle random
(user, paper) votes through POST/DELETE /api/v1/papers/{id}/vote for SECONDS. Baselines from the
same run: the same server answering a static file (the HTTP ceiling) and bare vote INSERTs, one
transaction each, on one connection (the database ceiling). Afterwards `db recount` must find
no drift (counts equal rows). The vote limits stay on (the limiter's cost is part of a vote), the
per-address one lifted since every client is 127.0.0.1.

    python bench/vote_throughput.py [--seconds 30] [--connections 32] [--only sqlite|postgresql]

Needs `wrk` (apt-get install -y wrk) and PostgreSQL at DAILYPAPERS_BENCH_PG (default
postgresql://postgres@127.0.0.1:5432/test; its server creates and drops a database). Ends with
`vote_throughput: R % of static (target ≥ 40 %)` for the slower database; exits non-zero on a
miss, on any error, or on drift.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _util import throwaway_database  # noqa: E402

import sqlalchemy as sa  # noqa: E402
from sqlalchemy.dialects import postgresql, sqlite  # noqa: E402

from dailypapers.community.sessions import hash_token  # noqa: E402
from dailypapers.db.engine import make_engine, write_transaction  # noqa: E402
from dailypapers.db.migrate import upgrade  # noqa: E402
from dailypapers.db.schema import api_tokens, feature_days, papers, users, votes  # noqa: E402
from dailypapers.ingest.service import insert_rows  # noqa: E402
from dailypapers.rank.stored import recount  # noqa: E402
from dailypapers.rank.trending import TrendingParams  # noqa: E402

PAPERS, USERS, VOTES = 2000, 20_000, 100_000
TARGET = 40.0  # % of the static-file rate
PG = os.environ.get("DAILYPAPERS_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
TOKEN_TAIL = "t" * 32  # token of user n: dp_bench<n>_<tail> (the Lua script builds the same)

LUA = """
math.randomseed(os.time())
local users, papers = %(users)d, %(papers)d
request = function()
  local u = math.random(1, users)
  local p = math.random(1, papers)
  local method = "POST"
  if math.random() < 0.5 then method = "DELETE" end
  return wrk.format(method, string.format("/api/v1/papers/2601.%%05d/vote", p),
                    {["Authorization"] = "Bearer dp_bench" .. u .. "_%(tail)s"})
end
done = function(summary, latency, requests)
  io.write(string.format("JSON {\\"requests\\": %%d, \\"seconds\\": %%f, \\"p50\\": %%f, \\"p99\\": %%f, \\"non2xx\\": %%d, \\"errors\\": %%d}\\n",
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3,
    latency:percentile(99) / 1e3, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


def paper_id(n: int) -> str:
    return f"2601.{n:05d}"


def fill(engine: sa.Engine) -> None:
    rng = random.Random(7)
    with write_transaction(engine) as conn:
        now = dt.datetime.now(dt.timezone.utc)
        insert_rows(conn, papers, [
            {"id": paper_id(n), "title": f"Paper {n}", "abstract": "Abstract.", "authors": [],
             "categories": ["cs.LG"], "upvotes": n % 50, "num_comments": 0, "local_upvotes": 0,
             "bib_source": "hf", "sources": "hf", "is_demo": False, "first_seen_at": now,
             "row_updated_at": now}
            for n in range(1, PAPERS + 1)])
        insert_rows(conn, feature_days, [
            {"paper_id": paper_id(n), "day": dt.date(2026, 1, 1) + dt.timedelta(days=n % 30),
             "source": "hf", "upvotes": n % 50, "num_comments": 0, "is_demo": False,
             "first_seen_at": now, "row_updated_at": now, "trending_score": 0.0}
            for n in range(1, PAPERS + 1)])
        insert_rows(conn, users, [
            {"id": n, "username": f"bench{n}", "username_key": f"bench{n}", "password_hash": "!",
             "is_admin": False, "is_moderator": False, "created_at": now,
             "password_changed_at": now}
            for n in range(1, USERS + 1)])
        insert_rows(conn, api_tokens, [
            {"user_id": n, "token_hash": hash_token(f"dp_bench{n}_{TOKEN_TAIL}"), "name": "bench",
             "created_at": now, "last_used_at": now}
            for n in range(1, USERS + 1)])
        pairs: set[tuple[int, int]] = set()
        while len(pairs) < VOTES:
            pairs.add((rng.randint(1, USERS), rng.randint(1, PAPERS)))
        insert_rows(conn, votes, [
            {"user_id": u, "paper_id": paper_id(p), "created_at": now} for u, p in sorted(pairs)])
        if conn.dialect.name == "postgresql":  # ids given explicitly: move the sequence on
            conn.exec_driver_sql("SELECT setval('users_id_seq', (SELECT max(id) FROM users))")
        recount(conn, TrendingParams())


def bare_inserts(engine: sa.Engine, seconds: float) -> float:
    """Vote INSERTs, one committed transaction each, on one connection (run after the counts
    were checked; the database is thrown away)."""
    insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
    done, start = 0, time.perf_counter()
    with engine.connect() as conn:
        conn = conn.execution_options(sqlite_immediate=True)
        while time.perf_counter() - start < seconds:
            with conn.begin():
                conn.execute(insert(votes).values(
                    user_id=1 + done % USERS, paper_id=paper_id(1 + (done * 7919) % PAPERS),
                    created_at=dt.datetime.now(dt.timezone.utc)).on_conflict_do_nothing())
            done += 1
        return done / (time.perf_counter() - start)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wrk(url: str, seconds: int, connections: int, script: Path | None) -> dict[str, float]:
    args = ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--latency"]
    if script is not None:
        args += ["-s", str(script)]
    out = subprocess.run(args + [url], capture_output=True, text=True, check=True).stdout
    found = re.search(r"^JSON (.*)$", out, re.M)
    if found:
        data = json.loads(found.group(1))
        data["rate"] = data["requests"] / data["seconds"]
        return data
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rate": rate, "non2xx": int(non2xx.group(1)) if non2xx else 0, "errors": 0}


def run(name: str, url: str, folder: Path, args: argparse.Namespace) -> tuple[float, bool]:
    engine = make_engine(url)
    upgrade(engine)
    started = time.perf_counter()
    fill(engine)
    print(f"[{name}] stored {PAPERS} papers, {USERS} users with tokens, {VOTES} votes in "
          f"{time.perf_counter() - started:.1f} s")
    port = free_port()
    env = {**os.environ, "DAILYPAPERS_DATABASE_URL": url, "DAILYPAPERS_DATA_DIR": str(folder),
           "DAILYPAPERS_SECRET_KEY": "b" * 64, "DAILYPAPERS_EMBED_IN_BACKGROUND": "false",
           # Every client is 127.0.0.1: lift the per-address limit, keep the per-account one.
           "DAILYPAPERS_RATELIMIT_VOTE_PER_IP": "100000000/minute"}
    log = (folder / f"{name}-server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "dailypapers", "serve", "--no-sync", "--no-demo", "--port",
         str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(f"[{name}] the server did not start") from None
                time.sleep(0.2)
        time.sleep(2)  # the keyword index builds at start: let it finish
        static = wrk(f"{base}/static/favicon.svg", args.seconds, args.connections, None)
        script = folder / "vote.lua"
        script.write_text(LUA % {"users": USERS, "papers": PAPERS, "tail": TOKEN_TAIL})
        voted = wrk(f"{base}/", args.seconds, args.connections, script)
    finally:
        server.terminate()
        server.wait(30)
        log.close()
    with write_transaction(engine) as conn:
        report = recount(conn, TrendingParams())
    bare = bare_inserts(engine, min(args.seconds, 10))
    engine.dispose()
    text = (folder / f"{name}-server.log").read_text()
    failures = [line for line in text.splitlines()
                if re.search(r'" (5\d\d|4\d\d) ', line) or "Error" in line][:5]
    for line in failures:
        print(f"[{name}] server: {line[:200]}")
    ratio = 100 * voted["rate"] / static["rate"]
    errors = int(voted["non2xx"] + voted["errors"] + static.get("non2xx", 0))
    print(f"[{name}] static file: {static['rate']:.0f} req/s (HTTP ceiling)")
    print(f"[{name}] bare INSERTs, one connection: {bare:.0f} /s (database ceiling)")
    print(f"[{name}] votes: {voted['rate']:.0f} /s, p50 {voted['p50']:.1f} ms, "
          f"p99 {voted['p99']:.1f} ms, errors {errors}, {ratio:.1f} % of static")
    print(f"[{name}] after: recount drift {report.vote_drift_total} counts, "
          f"{report.scores_fixed} scores")
    return ratio, errors == 0 and not report.drift


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk not found: apt-get install -y wrk")
        return 2
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.only in (None, "sqlite"):
            results["sqlite"] = run("sqlite", f"sqlite:///{folder}/bench.sqlite3", folder, args)
        if args.only in (None, "postgresql"):
            with throwaway_database(PG, f"dailypapers_votes_{uuid.uuid4().hex[:8]}") as url:
                results["postgresql"] = run("postgresql", url, folder, args)
    slowest = min(results, key=lambda k: results[k][0])
    ratio, clean = results[slowest]
    ok = ratio >= TARGET and all(c for _r, c in results.values())
    print(f"vote_throughput: {ratio:.1f} % of static (target ≥ {TARGET:.0f} %){'' if ok else ' MISSED'}"
          f" [{slowest}]")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
