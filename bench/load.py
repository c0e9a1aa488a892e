"""The whole site under load: a production-like server on loopback, against a static file served
by the same server in the same run (the ceiling).

    python bench/load.py [--seconds 60] [--connections 64] [--keep]

Set-up: a fresh PostgreSQL database (DAILYPAPERS_BENCH_PG's server, default
postgresql://postgres@127.0.0.1:5432/test; created here and dropped after) holding hf-daily/ and
the OAI pages with their precomputed vectors (bench/search_latency.py's ``load_oai``: nothing is
embedded), its keyword index built once; 2,000 users with API tokens, who vote in turn; the rate
limiter's storage in Redis (DAILYPAPERS_BENCH_REDIS, default redis://127.0.0.1:6379/15, emptied
first), every client being
127.0.0.1 the per-address vote limit lifted. Production's shape: ``dailypapers serve --workers 2
--no-sync`` (``start_web``) with the task queue in Redis (DAILYPAPERS_BENCH_QUEUE, default
redis://127.0.0.1:6379/14) and one ``dailypapers worker`` (``start_worker``), both stopped with
SIGTERM at the end; no scheduler, so nothing syncs. The web processes share the answers they make
through Redis (DAILYPAPERS_BENCH_SHARED, default redis://127.0.0.1:6379/13, emptied first), as
deploy/ runs them.

Load: Debian's ``wrk`` (compiled: installed with apt-get when missing), WRK_THREADS threads
sharing the connections; each request carries its own ``X-Request-ID``, which the server returns,
so the Lua script knows which request each answer belongs to and times it (LuaJIT's ffi reads
CLOCK_MONOTONIC). One thread per connection (64 threads on 2 cores) cost the clients' own
scheduling delays in every figure, the static file's p99 included. A fixed, seeded mix (SEED) of MIX_SIZE requests, each thread starting at
its own offset: day pages, paper pages, the search page, the search APIs, the HF API, and 5%
signed-in votes (POST or DELETE /api/v1/papers/{id}/vote with a user's token). Days (and the
papers of a day) are drawn newest-first with weight 1/rank^1.5 (the latest lists are the
busiest), queries from the first 400 of bench/queries/latency.jsonl with weight 1/rank. After a warm-up of the same mix, and once the web
processes are idle again (``wait_until_quiet``: what the warm-up left queued would slow it), the static file
(``/static/favicon.svg``) for STATIC_SECONDS, then the mix for ``--seconds``.

Figures: requests/s, p50/p95/p99 and errors (a status ≥ 400, or a socket error/timeout) per
kind and in all; CPU used by wrk, by the web processes and by PostgreSQL; what the response
cache did per second during the mix (its /metrics counts by outcome, scraped just before and
after) and how long its renders took on average. Ends with
``load_ratio: R % of static (target ≥ 40 %, p99 ≤ 100 ms, 0 errors)``; exits non-zero on any
miss. Note: 64 closed-loop clients wait on average 64 / (requests/s): a mean under 100 ms needs
over 640 req/s, and the static file itself has shown p99 of 100-200 ms here.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path
from urllib.parse import quote_plus

from _util import REPO, SHARED_DATA, Timer, create_database, drop_database, percentile

import sqlalchemy as sa

from dailypapers.community.sessions import hash_token
from dailypapers.db.engine import make_engine, read_transaction, write_transaction
from dailypapers.db.migrate import upgrade
from dailypapers.db.schema import api_tokens, feature_days, users
from dailypapers.index.embedder import get_embedder
from dailypapers.index.search import SearchService
from dailypapers.ingest.files import import_paths
from dailypapers.ingest.service import insert_rows
from dailypapers.metrics import CACHE_OUTCOMES, RENDER_OUTCOMES

PG = os.environ.get("DAILYPAPERS_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("DAILYPAPERS_BENCH_REDIS", "redis://127.0.0.1:6379/15")  # rate limits
QUEUE = os.environ.get("DAILYPAPERS_BENCH_QUEUE", "redis://127.0.0.1:6379/14")  # the task queue
# the answers the web processes share (web/shared_cache.py)
SHARED = os.environ.get("DAILYPAPERS_BENCH_SHARED", "redis://127.0.0.1:6379/13")
HF_DAILY = SHARED_DATA / "hf-daily"
QUERIES = REPO / "bench" / "queries" / "latency.jsonl"
SEED = 20261130
MIX_SIZE = 40_000
USERS = 2000
WEB_PROCESSES = 2
WRK_THREADS = 2
CACHE_BYTES = 256 << 20  # per web process
RENDERS = 8  # renders at once per web process, as deploy/env.example sets them
VOTE_LAG = 2  # seconds a voted anonymous answer is served while it is made anew, as deploy/env.example sets it
STATIC_PATH = "/static/favicon.svg"
STATIC_SECONDS, WARMUP_SECONDS = 20, 10
TARGET_RATIO, TARGET_P99_MS = 40.0, 100.0
# kind: share of the requests
MIX = {"day_page": 0.25, "paper_page": 0.30, "search_page": 0.10, "search_api": 0.10,
       "hf_api": 0.20, "vote": 0.05}
KINDS = [*MIX, "static"]
TOKEN_TAIL = "L" * 32  # user n's token: dp_load<n>_<tail>
# Days are drawn newest first with weight 1/rank^1.5 (the last week gets ~75 % of the day and
# paper requests, as a daily list's readers come for the latest days); queries 1/rank (search
# is long-tailed: 400 distinct queries).
DAY_EXPONENT = 1.5

# The wrk script (Lua), filled in by lua_script: the mix, where to write the timings.
LUA = (Path(__file__).parent / "load_wrk.lua").read_text()


# --- the database -------------------------------------------------------------------------------

def new_database_name() -> str:
    return f"dailypapers_load_{os.getpid()}_{uuid.uuid4().hex[:6]}"


def load(url: str, data_dir: Path) -> None:
    from search_latency import load_oai  # bench/ is on sys.path (this script's folder)

    engine = make_engine(url)
    upgrade(engine)
    with Timer() as t:
        _, counts = import_paths(engine, [HF_DAILY])
    print(f"hf-daily: {counts.total} records in {t.seconds:.0f} s")
    embedder = get_embedder("minilm-int8")  # the product's: its name keys the stored vectors
    with Timer() as t:
        load_oai(engine, embedder.name, embedder.dim)
    print(f"OAI pages and their vectors: {t.seconds:.0f} s")
    with write_transaction(engine) as conn:
        now = dt.datetime.now(dt.timezone.utc)
        insert_rows(conn, users, [
            {"id": n, "username": f"load{n}", "username_key": f"load{n}", "password_hash": "!",
             "is_admin": False, "is_moderator": False, "created_at": now,
             "password_changed_at": now} for n in range(1, USERS + 1)])
        insert_rows(conn, api_tokens, [
            {"user_id": n, "token_hash": hash_token(f"dp_load{n}_{TOKEN_TAIL}"), "name": "load",
             "created_at": now, "last_used_at": now} for n in range(1, USERS + 1)])
        conn.exec_driver_sql("SELECT setval('users_id_seq', (SELECT max(id) FROM users))")
    with Timer() as t:
        SearchService(engine, data_dir).keyword.update(engine)  # built once, before the servers
    print(f"keyword index: {t.seconds:.0f} s")
    analyze(engine)
    engine.dispose()


def forget_votes(engine: sa.Engine) -> None:
    """A kept database starts as a fresh one: no local votes. Otherwise the mix's votes, replayed
    run after run, mostly find the state they ask for already there (a no-op moves nothing), and a
    reused run measured far fewer invalidated answers than a fresh one (~96 % of day pages cached
    against ~68 %)."""
    from dailypapers.db.schema import votes
    from dailypapers.rank.stored import recount
    from dailypapers.rank.trending import TrendingParams

    with write_transaction(engine, changes="votes") as conn:
        conn.execute(votes.delete())
        recount(conn, TrendingParams())


def analyze(engine: sa.Engine) -> None:
    """Planner statistics, as after any bulk load (autovacuum may not have come by yet). Without
    them every search's ``hidden_at IS NOT NULL`` scanned all 110,000 papers (58 ms of
    PostgreSQL's CPU) instead of using its index."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE")


# --- the mix ------------------------------------------------------------------------------------

def _ranked(rng: random.Random, items: list, count: int,  # type: ignore[type-arg]
            exponent: float = 1.0) -> list:  # type: ignore[type-arg]
    """``count`` draws from ``items`` (busiest first) with weight 1/rank^exponent."""
    return rng.choices(items, weights=[1 / (r + 1) ** exponent for r in range(len(items))],
                       k=count)


def build_mix(url: str) -> list[tuple[str, str, str, int | None]]:
    """[(kind, method, path, user or None)], fixed by SEED."""
    engine = make_engine(url)
    with read_transaction(engine) as conn:
        rows = conn.execute(sa.select(feature_days.c.day, feature_days.c.paper_id)
                            .order_by(feature_days.c.day.desc(), feature_days.c.paper_id)).all()
    engine.dispose()
    by_day: dict[dt.date, list[str]] = defaultdict(list)
    for day, paper in rows:
        by_day[day].append(paper)
    days = list(by_day)  # newest first
    queries = [json.loads(line)["q"] for line in QUERIES.read_text().splitlines() if line][:400]
    rng = random.Random(SEED)
    kinds = rng.choices(list(MIX), weights=list(MIX.values()), k=MIX_SIZE)
    mix, voters = [], 0
    for kind in kinds:
        day = _ranked(rng, days, 1, DAY_EXPONENT)[0]
        paper = rng.choice(by_day[day])
        query = _ranked(rng, queries, 1)[0]
        q = quote_plus(query)
        if kind == "day_page":
            mix.append((kind, "GET", f"/papers/date/{day}", None))
        elif kind == "paper_page":
            mix.append((kind, "GET", f"/papers/{paper}", None))
        elif kind == "search_page":
            mix.append((kind, "GET", f"/search?q={q}", None))
        elif kind == "search_api":
            path = rng.choice(["/api/papers/search", "/api/v1/search"])
            mix.append((kind, "GET", f"{path}?q={q}", None))
        elif kind == "hf_api":
            mix.append((kind, "GET", rng.choice([f"/api/daily_papers?date={day}",
                                                  f"/api/papers/{paper}"]), None))
        else:
            # Voters take turns: drawn at random, a user who came up 6 times in the mix voted
            # ~30 times a minute once the clients went round it 5 times, and met the
            # per-account limit (DAILYPAPERS_RATELIMIT_VOTE_PER_USER, 30/minute): 429s.
            # (The draw that used to pick the voter stays, so the rest of the mix is as it was.)
            method = rng.choice(["POST", "DELETE"])
            rng.randint(1, USERS)
            voters += 1
            mix.append((kind, method, f"/api/v1/papers/{paper}/vote", voters % USERS + 1))
    return mix


def lua_script(mix: list[tuple[str, str, str, int | None]], out: Path, threads: int) -> str:
    def lua_string(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    reqs = ",\n".join(
        f"{{{KINDS.index(kind) + 1}, {lua_string(method)}, {lua_string(path)}"
        + (f", {user}}}" if user is not None else "}")
        for kind, method, path, user in mix)
    return LUA % {"kinds": ", ".join(lua_string(k) for k in KINDS), "reqs": reqs,
                  "stride": max(1, len(mix) // threads), "out": str(out), "tail": TOKEN_TAIL}


# --- processes ----------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_web(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:  # type: ignore[type-arg]
    """The web processes, as production runs them: ``dailypapers serve --workers 2 --no-sync``
    (migrations and checks once, then uvicorn's supervisor and its web processes)."""
    command = [sys.executable, "-m", "dailypapers", "serve", "--workers", str(WEB_PROCESSES),
               "--no-sync", "--host", "127.0.0.1", "--port", str(port)]
    return _start(command, env, log)


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen:  # type: ignore[type-arg]
    """One ``dailypapers worker`` on the queue: production's shape (no scheduler runs, so it
    waits for tasks; its pool and its Redis connection are there all the same)."""
    return _start([sys.executable, "-m", "dailypapers", "worker"], env, log)


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:  # type: ignore[type-arg]
    # Any PYTHONPATH of ours comes after the repository: a probe (a sitecustomize) can be loaded.
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH", "")]))
    return subprocess.Popen(command, env={**env, "PYTHONPATH": path}, cwd=REPO,
                            stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def stop(process: subprocess.Popen | None) -> None:  # type: ignore[type-arg]
    """SIGTERM to the process group (graceful: requests and tasks finish), then SIGKILL."""
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    children: dict[int, list[int]] = defaultdict(list)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children[int(fields[1])].append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def cpu_by_pid(pids: list[int]) -> dict[int, float]:
    ticks = os.sysconf("SC_CLK_TCK")
    found = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[pid] = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return found


def wait_until_quiet(pids: list[int], seconds: float = 60) -> float:
    """Wait until the web processes are idle (under 5 % of a core over half a second): the
    warm-up's clients leave renders queued and refreshes running, which would otherwise take
    CPU from the static file's run and lower the ceiling. Returns the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        before = cpu_by_pid(pids)
        time.sleep(0.5)
        if cpu_used(before, cpu_by_pid(pids)) < 0.025:
            break
    return time.monotonic() - started


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds between two readings; a process that ended in between counts nothing (its
    last reading is lost), one that started counts whole."""
    return sum(spent - before.get(pid, 0.0) for pid, spent in after.items())


def postgres_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in ("postgres", "postmaster"):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def wait_until_up(port: int, server: subprocess.Popen, seconds: float = 120) -> None:  # type: ignore[type-arg]
    import urllib.request

    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/papers", timeout=5) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            raise RuntimeError("the web processes did not start (see the server log)")
        time.sleep(0.5)


def wait_until_settled(base: str, seconds: float = 600) -> float:
    """Until /readyz has answered, 20 times in a row (so from both web processes), that the
    vector search is not waiting for its graph: the first process builds the node's graph
    (~15-20 s of a core per 100,000 vectors, a minute on a busy machine), the other maps it;
    a run measured meanwhile measures the build. Returns the seconds waited."""
    import urllib.error
    import urllib.request

    start = time.monotonic()
    settled = 0
    while settled < 20:
        if time.monotonic() - start > seconds:
            raise RuntimeError(f"the vector graph was not ready within {seconds:.0f} s")
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=10) as answer:
                state = json.loads(answer.read()).get("vector_search")
        except urllib.error.HTTPError:  # 503: that process's indexes are still loading
            state = None
        settled = settled + 1 if state in ("graph", "exact") else 0
        time.sleep(0.05 if settled else 1.0)
    return time.monotonic() - start


def run_wrk(base: str, script: Path, seconds: int, connections: int) -> float:
    """Runs wrk; returns the CPU seconds it used."""
    before = os.times()
    subprocess.run(["wrk", "-t", str(WRK_THREADS), "-c", str(connections), "-d", f"{seconds}s",
                    "--timeout", "5s", "-s", str(script), base],
                   check=True, capture_output=True, text=True)
    after = os.times()
    return (after.children_user - before.children_user) + (after.children_system
                                                           - before.children_system)


def cache_counts(base: str) -> dict[str, float]:
    """The response cache's answers so far by outcome, summed over the web processes, and its
    renders' "<outcome> count" and "<outcome> sum" (seconds), from /metrics (loopback may)."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"{base}/metrics", timeout=30) as answer:
        text = answer.read().decode()
    found: dict[str, float] = defaultdict(float)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "dailypapers_response_cache_answers_total":
                found[sample.labels["outcome"]] += sample.value
            elif sample.name.startswith("dailypapers_response_cache_render_seconds_"):
                found[f"{sample.labels['outcome']} {sample.name.rsplit('_', 1)[1]}"] += sample.value
            elif sample.name.startswith("dailypapers_response_cache_stale_seconds_"):
                if sample.name.endswith("_bucket"):
                    found[f"stale le {sample.labels['le']}"] += sample.value
                else:
                    found[f"stale {sample.name.rsplit('_', 1)[1]}"] += sample.value
    return found


def cache_line(before: dict[str, float], after: dict[str, float], seconds: float) -> str:
    rates = ", ".join(f"{o} {(after[o] - before[o]) / seconds:.0f}/s" for o in CACHE_OUTCOMES)
    means = []
    for outcome in RENDER_OUTCOMES:
        count = after[f"{outcome} count"] - before[f"{outcome} count"]
        seconds_spent = after[f"{outcome} sum"] - before[f"{outcome} sum"]
        if count:
            means.append(f"{outcome} {1000 * seconds_spent / count:.1f} ms")
    line = f"cache during the mix: {rates}; mean render: {', '.join(means) or 'none'}"
    refreshed = after["stale count"] - before["stale count"]
    if refreshed:
        mean = (after["stale sum"] - before["stale sum"]) / refreshed
        within = {le: (after[f"stale le {le}"] - before[f"stale le {le}"]) / refreshed
                  for le in ("2.0", "5.0", "10.0", "30.0")}
        line += (f"; voted answers served stale for {mean:.1f} s on average ("
                 + ", ".join(f"{share:.0%} within {float(le):g} s" for le, share in within.items())
                 + ")")
    return line


def read_results(path: Path) -> tuple[float, dict[str, dict[str, object]], int]:
    """(duration s, per kind {sent, errors, latencies}, socket errors)."""
    per_kind: dict[str, dict[str, object]] = {k: {"sent": 0, "errors": 0, "hits": 0,
                                                  "shared": 0, "ms": []}
                                              for k in KINDS}
    duration, socket_errors = 0.0, 0
    for line in path.read_text().splitlines():
        parts = line.split()
        if parts[0] == "S":
            duration = float(parts[1])
            socket_errors = int(parts[2]) + int(parts[3]) + int(parts[4])
        elif parts[0] == "K":
            entry = per_kind[parts[1]]
            entry["sent"] += int(parts[2])  # type: ignore[operator]
            entry["errors"] += int(parts[3])  # type: ignore[operator]
            entry["hits"] += int(parts[4])  # type: ignore[operator]
            entry["shared"] += int(parts[5])  # type: ignore[operator]
        elif parts[0] == "L":
            per_kind[parts[1]]["ms"].append(float(parts[2]))  # type: ignore[union-attr]
    return duration, per_kind, socket_errors


def line(label: str, count: int, duration: float, ms: list[float], errors: int,
         hits: int = 0, shared: int = 0) -> str:
    if not ms:
        return f"  {label:<12} no answers, {errors} errors"
    return (f"  {label:<12} {count / duration:8.1f} req/s  p50 {percentile(ms, 50):6.1f}  "
            f"p95 {percentile(ms, 95):6.1f}  p99 {percentile(ms, 99):6.1f} ms  "
            f"errors {errors}  cached {100 * hits / count:3.0f} % "
            f"(shared {100 * shared / count:2.0f} %)")


def ensure_wrk() -> None:
    if shutil.which("wrk"):
        return
    print("installing Debian's wrk (apt-get install -y wrk)")
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True,
                   stdout=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--keep", action="store_true", help="keep the database and folder")
    parser.add_argument("--reuse", nargs=2, metavar=("URL", "DIR"),
                        help="a database and folder kept by --keep (no load, its votes "
                        "forgotten: for trying changes)")
    args = parser.parse_args()
    # timeout(1) and kill stop us with SIGTERM: leave through the finally blocks, as Ctrl-C
    # does, so the web processes and the worker stop and a fresh database is dropped.
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    ensure_wrk()
    import redis

    for url in (REDIS, QUEUE, SHARED):
        redis.Redis.from_url(url).ping()  # a clear error now rather than 500s under load
    redis.Redis.from_url(SHARED).flushdb()  # a run starts with nothing shared
    redis.Redis.from_url(REDIS).flushdb()  # and no one's votes counted against a rate limit
    if args.reuse:
        url, work, args.keep = args.reuse[0], Path(args.reuse[1]), True
        engine = make_engine(url)
        forget_votes(engine)
        analyze(engine)
        engine.dispose()
    else:
        work = Path(tempfile.mkdtemp(prefix="dp-load-"))
        url = create_database(PG, new_database_name())
    server = worker = None
    try:
        if not args.reuse:
            with Timer() as t_load:
                load(url, work)
            print(f"database {sa.engine.make_url(url).database} ready in {t_load.seconds:.0f} s")
        if args.keep:
            print(f"kept: --reuse {url} {work}")
        mix = build_mix(url)
        counts = defaultdict(int)
        for kind, *_ in mix:
            counts[kind] += 1
        print(f"mix: {MIX_SIZE} requests (seed {SEED}): "
              + ", ".join(f"{k} {100 * counts[k] / MIX_SIZE:.1f} %" for k in MIX))
        out_mix, out_static = work / "mix.out", work / "static.out"
        mix_lua, static_lua = work / "mix.lua", work / "static.lua"
        mix_lua.write_text(lua_script(mix, out_mix, WRK_THREADS))
        static_lua.write_text(lua_script([("static", "GET", STATIC_PATH, None)], out_static,
                                         WRK_THREADS))
        port = free_port()
        env = {**os.environ, "DAILYPAPERS_DATABASE_URL": url, "DAILYPAPERS_DATA_DIR": str(work),
               "DAILYPAPERS_SECRET_KEY": "l" * 64, "DAILYPAPERS_EMBED_IN_BACKGROUND": "false",
               "DAILYPAPERS_RATELIMIT_STORAGE": REDIS, "DAILYPAPERS_QUEUE_URL": QUEUE,
               "DAILYPAPERS_RATELIMIT_VOTE_PER_IP": "100000000/minute",
               # Production's sizing (README, Production): the distinct anonymous answers read
               # within DAILYPAPERS_CACHE_SECONDS, ~30 KB each; the 32 MiB default evicted
               # most of them here.
               "DAILYPAPERS_CACHE_BYTES": str(CACHE_BYTES), "DAILYPAPERS_CACHE_SHARED_URL": SHARED,
               "DAILYPAPERS_RENDER_CONCURRENCY": str(RENDERS),
               "DAILYPAPERS_CACHE_VOTE_LAG_SECONDS": str(VOTE_LAG),
               "DAILYPAPERS_VOTE_SYNCHRONOUS_COMMIT": "false"}  # as deploy/env.example
        log = work / "server.log"
        server = start_web(env, port, log)
        worker = start_worker(env, work / "worker.log")
        base = f"http://127.0.0.1:{port}"
        wait_until_up(port, server)
        pids = tree(server.pid)
        waited = wait_until_settled(base)
        print(f"{WEB_PROCESSES} web processes up on {base}; vector graph ready after "
              f"{waited:.0f} s")
        run_wrk(base, mix_lua, WARMUP_SECONDS, args.connections)  # caches, pools, graph pages
        quiet = wait_until_quiet(pids)
        print(f"warm-up: {WARMUP_SECONDS} s of the mix; the web processes were idle "
              f"{quiet:.1f} s after it")
        run_wrk(base, static_lua, STATIC_SECONDS, args.connections)
        s_duration, s_kinds, s_socket = read_results(out_static)
        static = s_kinds["static"]
        cache_before = cache_counts(base)  # outside the CPU readings: a scrape queries
        web_before, pg_before = cpu_by_pid(pids), cpu_by_pid(postgres_pids())
        worker_before = cpu_by_pid(tree(worker.pid))
        wall = time.monotonic()
        wrk_cpu = run_wrk(base, mix_lua, args.seconds, args.connections)
        wall = time.monotonic() - wall
        web_cpu = cpu_used(web_before, cpu_by_pid(tree(server.pid)))
        pg_cpu = cpu_used(pg_before, cpu_by_pid(postgres_pids()))
        worker_cpu = cpu_used(worker_before, cpu_by_pid(tree(worker.pid)))
        cache_after = cache_counts(base)
        restarted = sorted(set(tree(server.pid)) ^ set(pids))  # a worker replaced mid-run
        duration, kinds, socket_errors = read_results(out_mix)
    finally:
        stop(server)
        stop(worker)
        if not args.keep:
            drop_database(PG, sa.engine.make_url(url).database)
            shutil.rmtree(work, ignore_errors=True)
    static_ms = static["ms"]  # type: ignore[assignment]
    static_rate = len(static_ms) / s_duration
    print(f"\nstatic file {STATIC_PATH}, {args.connections} clients, {STATIC_SECONDS} s:")
    print(line("static", len(static_ms), s_duration, static_ms,
               static["errors"] + s_socket))  # type: ignore[operator]
    print(f"mix, {args.connections} clients, {args.seconds} s:")
    every: list[float] = []
    errors, hits, shared = socket_errors, 0, 0
    for kind in MIX:
        entry = kinds[kind]
        ms = entry["ms"]  # type: ignore[assignment]
        every.extend(ms)
        errors += entry["errors"]  # type: ignore[operator]
        hits += entry["hits"]  # type: ignore[operator]
        shared += entry["shared"]  # type: ignore[operator]
        print(line(kind, len(ms), duration, ms, entry["errors"], entry["hits"],  # type: ignore[arg-type]
                   entry["shared"]))  # type: ignore[arg-type]
    print(line("all", len(every), duration, every, errors, hits, shared)
          + (f" (socket errors/timeouts {socket_errors})" if socket_errors else ""))
    print(f"CPU over the {wall:.0f} s run (2 cores = 200 %): wrk {100 * wrk_cpu / wall:.0f} %, "
          f"web processes {100 * web_cpu / wall:.0f} %, worker {100 * worker_cpu / wall:.0f} %, "
          f"PostgreSQL {100 * pg_cpu / wall:.0f} %"
          + (f"; processes changed during the run: {restarted}" if restarted else ""))
    print(cache_line(cache_before, cache_after, wall))
    rate = len(every) / duration
    ratio = 100 * rate / static_rate
    p99 = percentile(every, 99) if every else float("inf")
    ok = ratio >= TARGET_RATIO and p99 <= TARGET_P99_MS and errors == 0
    print(f"mix: {rate:.0f} req/s, p99 {p99:.1f} ms, {errors} errors; static {static_rate:.0f} req/s")
    print(f"load_ratio: {ratio:.1f} % of static (target ≥ {TARGET_RATIO:.0f} %, "
          f"p99 ≤ {TARGET_P99_MS:.0f} ms, 0 errors)" + ("" if ok else " MISSED"))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
