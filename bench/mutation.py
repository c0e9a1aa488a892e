"""Mutation testing of the modules where a wrong number hurts users, with mutmut (pinned 3.8.1).

    python bench/mutation.py [--module SUBSTRING ...] [--jobs N] [--workdir DIR] [--list]
                             [--sample N [--seed S]]
    python bench/mutation.py --examples [NAME ...]

Not part of CI: it is slow. Each module in TARGETS is mutated in a session of its own, in a
scratch copy of the repository (``--workdir``, default a temporary folder; the work tree is never
touched), against only the fast tests that exercise it (TARGETS' test list, SQLite half only:
the rules do not differ between databases). Within that list mutmut runs each mutant against
just the tests that called the mutated function (it records who calls what in a first clean
run). Mutants are forked from one warm pytest process, ``--jobs`` at a time (default 1: the
machine's 2 cores are shared).

What mutmut changes: operators, comparisons, numbers, strings, keyword arguments and return
values *inside functions*. It leaves module-level constants alone (GRAVITY, MIN_COSINE,
SHORT_QUERY_WORDS...: tests/test_rules_*.py pin those by their effect) and functions with a
decorator (the FastAPI route functions themselves: their parameter handling is mutated through
the helpers they call, listed in ``functions``).

Prints, per module: killed / survived / timed out / without tests, the mutants left out as
equivalent (EQUIVALENT: a reason each), and every survivor's diff. The baseline, measured in
the same run, is the clean run of the selected tests. Ends with

    mutation_score: N % (target ≥ 85 % on those modules)

(killed + timed out over all non-equivalent mutants) and exits 1 when the target is missed, 2
when a session could not run.

Last measured (2026-11-30, 2 shared cores; killed / survived / timed out / equivalent, score
over the non-equivalent mutants; "sample" = ``--sample N``, seed 13, for the slow modules):

    module                      mutants         killed  surv.  t/o  equiv.  score
    rank/trending.py            (issue 13's first run)                       100 %
    web/params.py               208             201     0      0    7       100 %
    index/query.py              411             395     0      11   5       100 %
    catalog.py                  sample 120      117     0      0    3       100 %
    ingest/service.py           sample 150      142     0      0    8       100 %
    index/search.py             sample 100+14   104     0      0    10      100 %
    web/routes_search.py        116 (5 helpers) 116     0      0    0       100 %
    web/routes_pages.py         98 (3 helpers)  94      4      0    0       95.9 %

First runs, before the tests/test_rules_* files written for their survivors: params.py 14.9 %
(its OpenAPI helpers run only at import, before mutmut's fork: tests call them directly now),
query.py 96.6 %, catalog.py 97.5 %, service.py 83.3 %, search.py 69 %, routes_search.py 99.1 %,
routes_pages.py 75.5 % (its navigation links). search.py's sample is 100 drawn plus each
function's first mutant (the first pass). Timed-out mutants are loops that never end
(query._tokens' ``i = 1``, ``j -= 1``...): the run is stopped, which counts as caught. After
writing tests for a module's survivors, ``--recheck --workdir DIR`` runs just those again.

``--examples`` runs instead the hand-written one-line mutations of issue 13 (and later ones,
EXAMPLES: the wrong numbers users would notice), each in a scratch copy against the test file
meant to catch it, and prints CAUGHT or MISSED per mutation with the failing test; exit 1 if
any is missed. mutmut cannot make some of them (module constants, decorated routes, settings
plumbing), hence this list.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("DAILYPAPERS_SHARED_DATA", REPO.parent / "shared" / "data"))
MUTMUT = Path(sys.executable).with_name("mutmut")
TARGET_SCORE = 85.0
CAUGHT = ("killed", "timeout")


@dataclass
class Target:
    module: str  # path under the repository
    tests: list[str]  # pytest node ids / files: the relevant fast tests
    functions: list[str] = field(default_factory=list)  # only these functions (empty: all)
    # A mutant is stopped after (its tests' clean call time + constant) * multiplier wall
    # seconds, or twice that in CPU seconds (mutmut's defaults: 1 and 15). Fixture set-up is not
    # in that clean time: a target whose tests are pure functions can be stopped sooner (a
    # mutant looping forever in query._tokens cost 90 s with the defaults), but not so soon that
    # a slow set-up on a loaded machine passes for a timeout (counted as caught).
    timeout_constant: float = 1.0
    timeout_multiplier: float = 15.0
    # pytest -k: the SQLite half, unless a rule lives in PostgreSQL-only code.
    keyword: str = "not postgresql"


TARGETS = [
    Target("dailypapers/rank/trending.py", ["tests/test_rules_trending.py"]),
    Target("dailypapers/web/params.py", ["tests/test_rules_param_parsing.py",
                                          "tests/test_rules_params.py", "tests/test_api.py"]),
    Target("dailypapers/catalog.py", ["tests/test_rules_catalog.py", "tests/test_rules_trending.py",
                                      "tests/test_rules_params.py", "tests/test_api.py",
                                      "tests/test_pages.py"]),
    # insert_rows' COPY path runs on PostgreSQL only: its bulk-insert test runs on both.
    Target("dailypapers/ingest/service.py", ["tests/test_rules_store.py", "tests/test_rules_merge.py",
                                             "tests/test_store.py",
                                             "tests/test_record_isolation.py"],
           keyword="not postgresql or test_the_bulk_insert_path"),
    # The parser's rules are pinned on parse_query's answer: pure functions, no set-up, so a
    # mutant looping forever is stopped within seconds (tests/test_rules_search.py checks the
    # same filters end to end, but embeds a corpus for each test).
    Target("dailypapers/index/query.py", [
        "tests/test_rules_query_syntax.py", "tests/test_search_keyword.py::test_query_syntax",
    ], timeout_constant=3.0, timeout_multiplier=2.0),
    Target("dailypapers/index/search.py", ["tests/test_rules_fusion.py", "tests/test_rules_search.py",
                                           "tests/test_search_api.py"]),
    # Route modules: the parameter handling (the decorated routes call these).
    Target("dailypapers/web/routes_search.py",
           ["tests/test_rules_search_params.py", "tests/test_rules_search.py",
            "tests/test_rules_params.py", "tests/test_search_api.py"],
           ["_bool", "_day", "_choice", "filters_from", "_run"]),
    Target("dailypapers/web/routes_pages.py",
           ["tests/test_rules_search_params.py", "tests/test_rules_pages.py",
            "tests/test_rules_trending.py", "tests/test_pages.py"],
           ["_sort", "_or_400", "_listing"]),
]

# Mutants that cannot change behaviour, by module and the mutated line (as mutmut writes it,
# stripped): left out of the score, listed with their reason.
EQUIVALENT: dict[tuple[str, str], str] = {
    ("dailypapers/rank/trending.py",
     'stamp = dt.datetime.fromisoformat(submitted_on_daily_at.replace("XXZXX", "+00:00"))'):
        "Python 3.11+ fromisoformat reads a trailing Z itself: the replace is a no-op",
    ("dailypapers/rank/trending.py",
     'stamp = dt.datetime.fromisoformat(submitted_on_daily_at.replace("z", "+00:00"))'):
        "Python 3.11+ fromisoformat reads a trailing Z itself: the replace is a no-op",
    ("dailypapers/rank/trending.py",
     "return dt.datetime.combine(day, dt.time(0), tzinfo=dt.timezone.utc)"):
        "dt.time(0) == dt.time(0, 0): minute defaults to 0",
    ("dailypapers/rank/trending.py",
     "return dt.datetime.combine(day, dt.time(0, ), tzinfo=dt.timezone.utc)"):
        "dt.time(0, ) == dt.time(0, 0): minute defaults to 0",
    # web/params.py: the OpenAPI patterns are computed from the constant FIRST_DAY/LAST_DAY
    # (1900-01-01, 2199-12-31); these mutants differ only for other constants.
    ("dailypapers/web/params.py",
     'assert first % 100 == 0 or (last + 1) % 100 == 0, "whole centuries only"'):
        "both halves hold for 1900 and 2199: and/or give the same (true) assertion",
    ("dailypapers/web/params.py",
     'assert first % 100 == 0 and (last + 1) % 100 == 0, "XXwhole centuries onlyXX"'):
        "the assertion's message is never shown: it holds for the served years",
    ("dailypapers/web/params.py",
     'assert first % 100 == 0 and (last + 1) % 100 == 0, "WHOLE CENTURIES ONLY"'):
        "the assertion's message is never shown: it holds for the served years",
    ("dailypapers/web/params.py",
     'return "(?:" + "|".join(str(c) for c in range(first // 100, (last + 2) // 100)) + ")[0-9]{2}"'):
        "(2199 + 2) // 100 == (2199 + 1) // 100 == 22",
    ("dailypapers/web/params.py",
     "return [y for y in range(FIRST_DAY.year, LAST_DAY.year - 1)"):
        "2198 and 2199 are not long ISO years: leaving them out changes nothing",
    ("dailypapers/web/params.py",
     "return [y for y in range(FIRST_DAY.year, LAST_DAY.year + 2)"):
        "2200 is not a long ISO year: taking it in changes nothing",
    ("dailypapers/web/params.py",
     "if dt.date(y, 12, 29).isocalendar()[1] == 53]"):
        "December 29 is in week 53 exactly when December 28 is (a long year's last week "
        "runs at least to December 31)",
    # index/query.py
    ("dailypapers/index/query.py", 'raw = bytes(raw).decode("UTF-8", "replace")'):
        "codec names are case-insensitive: UTF-8 is utf-8",
    ("dailypapers/index/query.py", "if cut > MAX_QUERY_CHARS / 2:"):
        "512 is even: 512 / 2 == 512 // 2, and cut is an int",
    ("dailypapers/index/query.py",
     'if "XXunbalanced quote ignoredXX" not in parsed.warnings:'):
        "a query has at most one unbalanced quote (after it no quote is left), so the warning "
        "is never there already",
    ("dailypapers/index/query.py",
     'if "UNBALANCED QUOTE IGNORED" not in parsed.warnings:'):
        "a query has at most one unbalanced quote (after it no quote is left), so the warning "
        "is never there already",
    ("dailypapers/index/query.py", 'out.append(("XXXX", prefix, False))'):
        "not worth a test: an unquoted token's prefix field is read only by the `author: value` "
        "look-ahead, which differs only for `author: -\"x` (an author named '-')",
    # catalog.py
    ("dailypapers/catalog.py",
     "monday = dt.date.fromisocalendar(int(m.group(1)), int(m.group(2)), 2)"):
        "Tuesday of the same ISO week: week_period() goes back to its Monday",
    # index/search.py
    ("dailypapers/index/search.py", "return time.monotonic() >= self.deadline"):
        "not worth a test: differs only when the clock reads the deadline to the nanosecond",
    ("dailypapers/index/search.py",
     "if time.monotonic() >= deadline:  # the keyword ranking is what we have"):
        "not worth a test: differs only when the clock reads the deadline to the nanosecond",
    ("dailypapers/index/search.py",
     "hits = [SearchHit(h.paper_id, h.score or 0.0, i, ) for i, h in enumerate(kw.hits, 1)]"):
        "SearchHit's dense_rank defaults to None",
    ("dailypapers/index/search.py",
     "hits = [SearchHit(h.paper_id, h.score or 1.0, i, None) for i, h in enumerate(kw.hits, 1)]"):
        "a relevance-ranked keyword hit always has a BM25 score above 0: the fallback is "
        "never taken",
    ("dailypapers/index/search.py",
     "return SearchResults(fused[offset:offset + limit], total, parsed, mode, None, warnings,"):
        "nothing reads a fused search's results.sort (the routes and the CLI use the sort they "
        "asked for)",
    ("dailypapers/index/search.py", "deadline = time.monotonic() + budget / 1001.0"):
        "not worth a test: the deadline 2 ms earlier in 2 s; a test of it would be a flaky "
        "timing test",
    ("dailypapers/index/search.py", "candidates = vectors.search(query, want * 11)"):
        "not worth a test: a filtered dense search looks 10 % further down; differs only when "
        "more than 10 x want candidates fail the filters (over 1,000 vectors)",
    ("dailypapers/index/search.py", "return [(pid, s) for pid, s in candidates if s > MIN_COSINE]"):
        "not worth a test: differs only for a cosine of exactly 0.25",
    ("dailypapers/index/search.py", "top = max(plain, default=None) or 1.0"):
        "no unpinned score: None or 1.0 is 1.0, as 0.0 or 1.0 is",
    ("dailypapers/index/search.py",
     "def similar(self, paper_id: str, k: int = 7) -> list[tuple[str, float]]:"):
        "its only caller (routes_pages._similar) passes k",
    # ingest/service.py
    ("dailypapers/ingest/service.py", "if before is not None or _differs(row, before):"):
        "a new row's row_updated_at is already now (_blank_row)",
    ("dailypapers/catalog.py", 'm = _MONTH.match(text or "XXXX")'):
        "an absent text fails the pattern either way: 'XXXX' is no month",
    ("dailypapers/catalog.py", 'm = _WEEK.match(text or "XXXX")'):
        "an absent text fails the pattern either way: 'XXXX' is no week",
    ("dailypapers/catalog.py", 'if not _DAY.match(text or "XXXX"):'):
        "an absent text fails the pattern either way: 'XXXX' is no day",
    ("dailypapers/catalog.py",
     "return sa.select(papers, *_FEATURE_COLS).join(feature_days, None)"):
        "without an ON clause SQLAlchemy joins on the only foreign key, the same condition",
}

# The same, for families of mutants of one line: (module, regular expression over the mutated
# line as mutmut writes it, stripped) -> reason.
EQUIVALENT_PATTERNS: dict[tuple[str, str], str] = {
    ("dailypapers/ingest/service.py", r'state = (None|"UNCHANGED"|"XXunchangedXX")$'):
        "a paper's state is only compared with inserted and updated: what 'unchanged' is "
        "called changes nothing",
    ("dailypapers/ingest/service.py",
     r'states\.setdefault\((key, )?("UNCHANGED"|"XXunchangedXX"|None|"unchanged")?\)$'):
        "an unchanged feature day's state is only compared with inserted and updated",
    ("dailypapers/ingest/service.py",
     r"if len\(rows\) .* (or|and) conn\.dialect\.name (not )?in \(.*\):$"):
        "which path inserts the rows is speed only: row by row and bulk store the same rows "
        "(tests/test_rules_store.py::test_the_bulk_insert_path_stores_what_the_row_by_row_path_"
        "stores)",
    ("dailypapers/ingest/service.py",
     r'num_comments=0, (bib_source="(XXXX)?", )?sources="", is_demo=demo, first_seen_at=now,$'):
        "a new row always takes its record's source as bib_source (merge_paper: before is None)",
    ("dailypapers/ingest/service.py",
     r'"paper_id": rec\.arxiv_id, "day": rec\.day, "source": rec\.source, '
     r'"(XXupvotesXX|UPVOTES)": 0,$'):
        "the column's server default is 0 too",
    ("dailypapers/ingest/service.py",
     r'"(XXnum_commentsXX|NUM_COMMENTS)": 0, "is_demo": demo, "first_seen_at": now, '
     r'"row_updated_at": now,$'):
        "the column's server default is 0 too",
    ("dailypapers/ingest/service.py", r"for start in range\(0, _CHUNK\):$"):
        "not worth a test: differs only for a batch of over 10,000 ids (past id 9,999 none is "
        "looked up); a test would store 10,000 papers",
}


# (what a user would see, file, the tests meant to catch it, exact text, its replacement)
EXAMPLES = [
    ("older versionless overwrites newer", "dailypapers/ingest/service.py",
     "tests/test_rules_merge.py",
     "return ours >= theirs",
     "return True"),
    ("version compare strict", "dailypapers/ingest/service.py", "tests/test_rules_merge.py",
     'return rec.version >= before["version"]',
     'return rec.version > before["version"]'),
    ("year >2020 includes 2020", "dailypapers/index/query.py", "tests/test_rules_search.py",
     '">": (year + 1, hi)',
     '">": (year, hi)'),
    ("year <=2020 excludes 2020", "dailypapers/index/query.py", "tests/test_rules_search.py",
     '"<=": (lo, year)',
     '"<=": (lo, year - 1)'),
    ("trending ignores age", "dailypapers/rank/trending.py", "tests/test_rules_trending.py",
     "hours = (featured - EPOCH).total_seconds() / 3600.0",
     "hours = 0.0"),
    ("tau 60 hours", "dailypapers/rank/trending.py", "tests/test_rules_trending.py",
     "DEFAULT_TAU_HOURS = 48.0",
     "DEFAULT_TAU_HOURS = 60.0"),
    ("text param one over accepted", "dailypapers/web/params.py", "tests/test_rules_params.py",
     "if len(raw) > max_length:",
     "if len(raw) > max_length + 1:"),
    ("hf q keeps 251", "dailypapers/web/routes_search.py", "tests/test_rules_params.py",
     '(params.get("q") or "")[:HF_MAX_QUERY]',
     '(params.get("q") or "")[:HF_MAX_QUERY + 1]'),
    ("int param max+1 accepted", "dailypapers/web/params.py", "tests/test_rules_params.py",
     "if number < low or number > high:",
     "if number < low or number > high + 1:"),
    ("alphas swapped", "dailypapers/index/search.py", "tests/test_rules_search.py",
     "return self.alpha_short if words <= SHORT_QUERY_WORDS else self.alpha",
     "return self.alpha if words <= SHORT_QUERY_WORDS else self.alpha_short"),
    ("8 words counted long", "dailypapers/index/search.py", "tests/test_rules_search.py",
     "words <= SHORT_QUERY_WORDS",
     "words < SHORT_QUERY_WORDS"),
    ("from_settings swaps alphas", "dailypapers/index/search.py", "tests/test_rules_search.py",
     "alpha=settings.search_alpha,\n                   alpha_short=settings.search_alpha_short",
     "alpha=settings.search_alpha_short,\n                   alpha_short=settings.search_alpha"),
    ("dense weighted by alpha", "dailypapers/index/search.py", "tests/test_rules_search.py",
     "else (1.0 - alpha) * cosine)",
     "else alpha * cosine)"),
    ("featured ignored", "dailypapers/web/routes_search.py", "tests/test_rules_search.py",
     'featured_only=bool(_bool(params, "featured"))',
     "featured_only=False"),
    ("rrf k ignored", "dailypapers/index/search.py", "tests/test_rules_search.py",
     "1.0 / (self.rrf_k + rank) if self.fusion",
     "1.0 / (60 + rank) if self.fusion"),
    ("rrf setting ignored", "dailypapers/index/search.py", "tests/test_rules_search.py",
     "fusion=settings.search_fusion,",
     "fusion='convex',"),
    ("page sort ignored", "dailypapers/web/routes_pages.py", "tests/test_rules_trending.py",
     "entries = catalog.entries_in(conn, period.start, period.end, sort=sort, submitter=submitter)",
     "entries = catalog.entries_in(conn, period.start, period.end, submitter=submitter)"),
    ("newest reversed", "dailypapers/catalog.py", "tests/test_rules_trending.py",
     'key=lambda e: (e.featured_at, e.paper["id"]), reverse=True)',
     'key=lambda e: (e.featured_at, e.paper["id"]))'),
    ("trending 8 recent days", "dailypapers/catalog.py", "tests/test_rules_trending.py",
     "days = select_recent_days(conn, 7, submitter)",
     "days = select_recent_days(conn, 8, submitter)"),
    ("dense ignores filters", "dailypapers/index/search.py", "tests/test_rules_search.py",
     "candidates = [(pid, s) for pid, s in candidates if pid in keep][:want]",
     "candidates = candidates[:want]"),
    ("refresh one more day", "dailypapers/sync/hf.py", "tests/test_rules_settings.py",
     ".limit(ctx.settings.sync_refresh_days)",
     ".limit(ctx.settings.sync_refresh_days + 1)"),
    ("backfill one day short", "dailypapers/sync/hf.py", "tests/test_rules_settings.py",
     "max(1, ctx.settings.sync_backfill_days) - 1)",
     "max(1, ctx.settings.sync_backfill_days) - 2)"),
    ("embed_in_background ignored", "dailypapers/web/app.py", "tests/test_rules_settings.py",
     "embed=settings.embed_in_background))",
     "embed=True))"),
    ("site_name ignored", "dailypapers/web/app.py", "tests/test_rules_settings.py",
     "templates.env.globals.update(site_name=settings.site_name,",
     "templates.env.globals.update(site_name='Daily Papers',"),
    ("cli mode ignored", "dailypapers/cli.py", "tests/test_rules_cli.py",
     "results = service.search(query, limit=limit, mode=mode, sort=sort)",
     "results = service.search(query, limit=limit, sort=sort)"),
    ("cli limit ignored", "dailypapers/cli.py", "tests/test_rules_cli.py",
     "results = service.search(query, limit=limit, mode=mode, sort=sort)",
     "results = service.search(query, mode=mode, sort=sort)"),
    ("daily api upvotes ignored (the fixed bug)", "dailypapers/catalog.py",
     "tests/test_rules_trending.py",
     'if sort == "upvotes":  # most upvoted first',
     "if False:  # most upvoted first"),
]


def prepare(workdir: Path, target: Target) -> None:
    """A scratch copy: the package, the tests, and pyproject.toml with this session's config."""
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "dailypapers", workdir / "dailypapers", ignore=ignore)
    shutil.copytree(REPO / "tests", workdir / "tests", ignore=ignore)
    pyproject = (REPO / "pyproject.toml").read_text()
    pyproject = re.sub(r"(?ms)^\[tool\.mutmut\].*?(?=^\[|\Z)", "", pyproject)
    config = {
        "source_paths": ["dailypapers"],
        "only_mutate": [target.module],
        "pytest_add_cli_args": ["-q", "-p", "no:cacheprovider", "-k", target.keyword],
        "pytest_add_cli_args_test_selection": target.tests,
        "use_git_change_detection": False,
        "timeout_constant": target.timeout_constant,
        "timeout_multiplier": target.timeout_multiplier,
    }
    lines = ["", "[tool.mutmut]"] + [f"{k} = {json.dumps(v)}" for k, v in config.items()]
    (workdir / "pyproject.toml").write_text(pyproject + "\n".join(lines) + "\n")


def mutant_patterns(target: Target) -> list[str]:
    dotted = target.module.removesuffix(".py").replace("/", ".")
    return [f"{dotted}.x_{name}__mutmut_*" for name in target.functions]


def mutmut(workdir: Path, *args: str,
           timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the scratch copy only
    env["DAILYPAPERS_SHARED_DATA"] = str(SHARED_DATA)
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    return subprocess.run([str(MUTMUT), *args], cwd=workdir, env=env, capture_output=True,
                          text=True, timeout=timeout)


@dataclass
class ModuleResult:
    target: Target
    statuses: dict[str, str]
    equivalent: dict[str, str]  # mutant name -> reason
    diffs: dict[str, str]  # survivors' diffs
    seconds: float
    clean_seconds: float | None
    sample: int | None = None
    seed: int | None = None

    def count(self, *kinds: str) -> int:
        return sum(1 for name, s in self.statuses.items()
                   if s in kinds and name not in self.equivalent)

    @property
    def scored(self) -> int:
        return sum(1 for name in self.statuses if name not in self.equivalent)


def mutated_line(diff: str) -> str:
    added = [line[1:].strip() for line in diff.splitlines()
             if line.startswith("+") and not line.startswith("+++")]
    return added[0] if added else ""


def _listing(workdir: Path, target: Target) -> dict[str, str]:
    statuses = {}
    for line in mutmut(workdir, "results", "--all", "true").stdout.splitlines():
        name, _, status = line.strip().partition(": ")
        if name and (not target.functions
                     or any(fnmatch.fnmatch(name, p) for p in mutant_patterns(target))):
            statuses[name] = status
    return statuses


def _run_mutmut(workdir: Path, target: Target, jobs: int, names: list[str]) -> None:
    done = mutmut(workdir, "run", "--max-children", str(jobs), *names)
    with (workdir / "mutmut-run.log").open("a") as log:
        log.write(done.stdout + done.stderr)
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip().splitlines()[-15:]
        raise RuntimeError(f"mutmut run failed for {target.module}:\n" + "\n".join(tail))


def run_target(target: Target, workdir: Path, jobs: int, sample: int | None = None,
               seed: int = 13) -> ModuleResult:
    """Every mutant of the target, or with ``sample`` that many of them drawn with ``seed``
    (the same draw for the same mutants): a first pass generates the mutants and runs only
    each function's first one, the second runs the draw."""
    prepare(workdir, target)
    started = time.perf_counter()
    if sample is None:
        _run_mutmut(workdir, target, jobs, mutant_patterns(target))
        statuses = _listing(workdir, target)
    else:
        dotted = target.module.removesuffix(".py").replace("/", ".")
        firsts = [p.replace("__mutmut_*", "__mutmut_1") for p in mutant_patterns(target)]
        _run_mutmut(workdir, target, jobs, firsts or [f"{dotted}.*__mutmut_1"])
        every = _listing(workdir, target)
        drawn = sorted(random.Random(seed).sample(sorted(every), min(sample, len(every))))
        _run_mutmut(workdir, target, jobs, drawn)
        statuses = {name: status for name, status in _listing(workdir, target).items()
                    if name in drawn}
    seconds = time.perf_counter() - started
    return _result(target, workdir, statuses, seconds, sample, seed)


def recheck_target(target: Target, workdir: Path, jobs: int) -> ModuleResult:
    """The survivors of an earlier run in ``workdir`` run again against the tests as they are
    now (copied in); every other mutant keeps its earlier status."""
    if not (workdir / "mutants").exists():
        raise RuntimeError(f"no earlier run of {target.module} in {workdir}")
    for folder in (workdir / "tests", workdir / "mutants" / "tests"):
        shutil.rmtree(folder)
        shutil.copytree(REPO / "tests", folder,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    before = _listing(workdir, target)
    started = time.perf_counter()
    survivors = sorted(name for name, status in before.items() if status == "survived")
    if survivors:
        _run_mutmut(workdir, target, jobs, survivors)
    statuses = {name: status for name, status in _listing(workdir, target).items()
                if name in before and before[name] != "not checked"}
    return _result(target, workdir, statuses, time.perf_counter() - started, None, None)


def _result(target: Target, workdir: Path, statuses: dict[str, str], seconds: float,
            sample: int | None, seed: int | None) -> ModuleResult:
    equivalent, diffs = {}, {}
    for name, status in statuses.items():
        if status in CAUGHT:
            continue
        diff = mutmut(workdir, "show", name).stdout
        line = mutated_line(diff)
        reason = EQUIVALENT.get((target.module, line)) or next(
            (why for (module, pattern), why in EQUIVALENT_PATTERNS.items()
             if module == target.module and re.search(pattern, line)), None)
        if reason:
            equivalent[name] = reason
        else:
            diffs[name] = diff
    stats = workdir / "mutants" / "mutmut-stats.json"
    clean = None
    if stats.exists():
        durations = json.loads(stats.read_text()).get("duration_by_test", {})
        clean = sum(durations.values()) if durations else None
    return ModuleResult(target, statuses, equivalent, diffs, seconds, clean, sample, seed)


def report(result: ModuleResult) -> None:
    t = result.target
    scope = f" (functions: {', '.join(t.functions)})" if t.functions else ""
    print(f"== {t.module}{scope}")
    print(f"   tests: {' '.join(t.tests)}")
    baseline = f"{result.clean_seconds:.1f} s" if result.clean_seconds is not None else "n/a"
    drawn = f" (a sample of {result.sample}, seed {result.seed})" if result.sample else ""
    print(f"   {len(result.statuses)} mutants{drawn} in {result.seconds:.0f} s "
          f"(baseline: one clean run of the selected tests {baseline})")
    print(f"   killed {result.count('killed')}, survived {result.count('survived')}, "
          f"timed out {result.count('timeout')}, without tests {result.count('no tests')}, "
          f"other {result.scored - result.count('killed', 'survived', 'timeout', 'no tests')}, "
          f"equivalent {len(result.equivalent)}")
    for name, reason in result.equivalent.items():
        print(f"   equivalent {name.rsplit('.', 1)[-1]}: {reason}")
    for name, diff in result.diffs.items():
        print(f"   -- {result.statuses[name]}: {name}")
        for line in diff.splitlines():
            if line.startswith(("+", "-")) and not line.startswith(("+++", "---")):
                print(f"      {line}")


def run_examples(root: Path, names: list[str]) -> int:
    missed = 0
    for name, path, tests, old, new in EXAMPLES:
        if names and not any(n in name for n in names):
            continue
        work = root / "example"
        if work.exists():
            shutil.rmtree(work)
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        for folder in ("dailypapers", "tests"):
            shutil.copytree(REPO / folder, work / folder, ignore=ignore)
        shutil.copy(REPO / "pyproject.toml", work)
        source = work / path
        text = source.read_text()
        if text.count(old) != 1:
            print(f"STALE   {name}: the text to mutate is no longer in {path} exactly once")
            missed += 1
            continue
        source.write_text(text.replace(old, new))
        env = {**os.environ, "PYTHONPATH": str(work), "DAILYPAPERS_SHARED_DATA": str(SHARED_DATA)}
        done = subprocess.run([str(Path(sys.executable).with_name("pytest")), "-x", "-q", "-p",
                               "no:cacheprovider", "-k", "not postgresql", tests], cwd=work,
                              env=env, capture_output=True, text=True)
        failed = [line[7:] for line in done.stdout.splitlines() if line.startswith("FAILED ")]
        if done.returncode == 1 and failed:
            print(f"CAUGHT  {name}: {failed[0].split(' - ')[0]}", flush=True)
        else:
            missed += 1
            print(f"MISSED  {name} (pytest exit {done.returncode})", flush=True)
    print(f"examples_missed: {missed} (target 0)")
    return 1 if missed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--module", action="append", default=[],
                        help="only targets whose path contains this (repeatable)")
    parser.add_argument("--jobs", type=int, default=1, help="mutants run at once (default 1)")
    parser.add_argument("--workdir", type=Path, help="scratch folder (default: a temporary one)")
    parser.add_argument("--sample", type=int, metavar="N",
                        help="only N mutants per module, drawn with --seed (for slow modules)")
    parser.add_argument("--seed", type=int, default=13, help="the draw's seed (default 13)")
    parser.add_argument("--recheck", action="store_true",
                        help="in --workdir's earlier run, run the survivors again against the "
                             "current tests (after writing tests for them)")
    parser.add_argument("--list", action="store_true", help="list the targets and exit")
    parser.add_argument("--examples", nargs="*", metavar="NAME",
                        help="run the hand-written mutations of EXAMPLES (or those named)")
    args = parser.parse_args()
    if args.examples is not None:
        root = args.workdir or Path(tempfile.mkdtemp(prefix="dailypapers-mutation-"))
        return run_examples(root, args.examples)
    targets = [t for t in TARGETS if not args.module or any(m in t.module for m in args.module)]
    if args.list or not targets:
        for t in TARGETS:
            print(f"{t.module}: {' '.join(t.tests)}")
        return 0 if targets else 2
    if not MUTMUT.exists():
        print(f"mutmut not found next to {sys.executable}: pip install 'mutmut==3.8.1'")
        return 2
    root = args.workdir or Path(tempfile.mkdtemp(prefix="dailypapers-mutation-"))
    results = []
    for target in targets:
        workdir = root / target.module.replace("/", "_").removesuffix(".py")
        try:
            if args.recheck:
                results.append(recheck_target(target, workdir, args.jobs))
            else:
                results.append(run_target(target, workdir, args.jobs, args.sample, args.seed))
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            print(exc)
            return 2
        report(results[-1])
    caught = sum(r.count(*CAUGHT) for r in results)
    scored = sum(r.scored for r in results)
    score = 100.0 * caught / scored if scored else 0.0
    print(f"modules: {', '.join(r.target.module for r in results)}; scratch copies in {root}")
    print(f"mutation_score: {score:.1f} % (target ≥ {TARGET_SCORE:.0f} % on those modules)")
    return 0 if score >= TARGET_SCORE else 1


if __name__ == "__main__":
    sys.exit(main())
