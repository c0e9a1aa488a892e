"""The table bench/mutation.py works from: which modules mutmut mutates against which tests
(TARGETS), the mutants left out as equivalent and why (EQUIVALENT, EQUIVALENT_PATTERNS), and the
hand-written mutations of ``--examples`` (EXAMPLES). See bench/mutation.py for how they are run.
"""

from __future__ import annotations

from dataclasses import dataclass, field


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
