"""Hostile upstream data (issue 7): a corpus in every import format (tests/hostile_corpus.py)
imported by the real command on SQLite and PostgreSQL, then every page type opened in Debian's
chromium with every link clicked.

Each test gathers every problem it finds before failing, so one run lists all the holes.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import sqlalchemy as sa

from dailypapers.db.engine import make_engine
from dailypapers.db.migrate import upgrade
from dailypapers.db.schema import feature_days, ingest_runs, papers, refusals
from dailypapers.settings import Settings
from tests.conftest import IN_CI, REPO, LiveServer
from tests.hostile_corpus import write_corpus
from tests.hostile_payloads import BIG, DAYS, XXE_SECRET, Corpus, Record

IMPORT_TIMEOUT = 120  # seconds; the import of the corpus takes ~2 s
LONGEST_TEXT = 256 * 1024  # every planted big field is 1 MiB; a stored field this long is uncut
MOST_AUTHORS = 50_000  # the largest real author lists have ~5,200 names; the planted one ~75,000
SURROGATE = re.compile("[\ud800-\udfff]")
# Bidi embeddings and overrides: they make a title read as something else.
BIDI_OVERRIDE = re.compile("[\u202a-\u202e]")
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Keys whose values become links (our column names and the HF-compatible JSON keys).
URL_KEYS = frozenset({
    "github_repo", "project_page", "thumbnail", "media_urls", "avatar_url", "avatar",
    "githubRepo", "projectPage", "mediaUrls", "mediaUrl", "avatarUrl", "url", "href", "next",
})


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    return write_corpus(tmp_path_factory.mktemp("hostile") / "corpus")


# --- helpers -----------------------------------------------------------------------------------


@dataclass
class ImportResult:
    returncode: int | None
    output: str  # stdout and stderr, decoded with replacement

    @property
    def lines(self) -> list[str]:
        return self.output.splitlines()


def run_import(db_url: str, data_dir: Path, folder: Path) -> ImportResult:
    env = {**os.environ, "DAILYPAPERS_DATABASE_URL": db_url, "DAILYPAPERS_DATA_DIR": str(data_dir),
           "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)}
    env.pop("DAILYPAPERS_CONFIG", None)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "dailypapers", "import", str(folder)], env=env, cwd=data_dir,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=IMPORT_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        return ImportResult(None, (exc.stdout or b"").decode("utf-8", "replace")
                            + f"\n[still running after {IMPORT_TIMEOUT} s: killed]")
    return ImportResult(done.returncode, done.stdout.decode("utf-8", "replace"))


def scheme_of(value: str) -> str | None:
    """The scheme a browser would see: leading/trailing C0 controls and spaces stripped, tabs
    and newlines removed anywhere (WHATWG URL parsing); None for a relative URL."""
    cleaned = re.sub(r"[\t\n\r]", "", value.strip("\x00\x01\x02\x03\x04\x05\x06\x07\x08\t\n\x0b"
                                                  "\x0c\r\x0e\x0f\x10\x11\x12\x13\x14\x15\x16"
                                                  "\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f "))
    m = re.match(r"([A-Za-z][A-Za-z0-9+.\-]*):", cleaned)
    return m.group(1).lower() if m else None


def unsafe_url(value: Any) -> bool:
    return isinstance(value, str) and scheme_of(value) not in (None, "http", "https")


def walk(value: Any, key: str | None = None) -> Iterator[tuple[str | None, Any]]:
    """Every (key, leaf value) in nested dicts and lists; list items keep their list's key."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from walk(v, str(k))
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from walk(v, key)
    else:
        yield key, value


def rows(engine: sa.Engine, table: sa.Table, *where: Any) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(table).where(*where)).mappings()]


def names_in(paper: dict[str, Any]) -> Iterable[str]:
    for author in paper["authors"] or []:
        yield author.get("name") or ""
        yield from (str(v) for k, v in walk(author.get("user")) if k in ("fullname", "username"))
    yield from (str(v) for k, v in walk(paper["organization"]) if k in ("name", "fullname"))


def names_place(line: str, file: str, position: str | None) -> bool:
    """``line`` names ``file`` and ``position`` ("item 1", never matched by "item 12")."""
    return bool(file and position and file in line
                and re.search(re.escape(position) + r"(?!\d)", line))


def preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def stored_problems(all_rows: dict[str, list[dict[str, Any]]]) -> list[str]:
    """What is stored that the pages or the API could turn into script, or that is poison:
    grouped by kind and column, with the rows it was found in."""
    found: dict[str, list[str]] = {}

    def note(kind: str, where: str, row_id: str, value: str) -> None:
        found.setdefault(f"{kind} in {where}", []).append(f"{row_id} {preview(value)}")

    for table, table_rows in all_rows.items():
        for row in table_rows:
            row_id = str(row.get("paper_id") or row.get("id"))
            for column, value in row.items():
                for key, leaf in walk(value, column):
                    if not isinstance(leaf, str):
                        continue
                    where = f"{table}.{column}" + (f".{key}" if key != column else "")
                    if "\x00" in leaf:
                        note("NUL stored", where, row_id, leaf)
                    if SURROGATE.search(leaf):
                        note("lone surrogate stored", where, row_id, leaf)
                    if key in URL_KEYS and unsafe_url(leaf):
                        note(f"{scheme_of(leaf)}: URL stored", where, row_id, leaf)
                    if XXE_SECRET in leaf or "root:x:0:0" in leaf:
                        note("an external entity expanded", where, row_id, leaf)
                    if "lol" * 100 in leaf:
                        note("an entity expanded", where, row_id, leaf)
                    if len(leaf) >= LONGEST_TEXT:
                        note(f"{len(leaf):,} characters stored uncut", where, row_id, leaf[:40])
    for paper in all_rows.get("papers", []):
        for text in (paper["title"], *names_in(paper)):
            if BIDI_OVERRIDE.search(text) or CONTROL.search(text):
                note("bidi override or control character kept", "a title or name", paper["id"],
                     text)
        if len(paper["authors"] or []) >= MOST_AUTHORS:
            note(f"{len(paper['authors']):,} authors stored", "papers.authors", paper["id"], "")
    return [f"{what}: {len(rows_)} value(s), e.g. {rows_[0]}" for what, rows_ in found.items()]


# --- the generator's own check -----------------------------------------------------------------


def test_good_records_alone_import_cleanly(sqlite_url: str, tmp_path: Path) -> None:
    """The good records of every file are records the parsers take: imported alone they exit 0
    and all land. (Failures of the hostile import are then the importer's, not the corpus's.)"""
    good = write_corpus(tmp_path / "good", good_only=True)
    assert {p.suffix for p in good.files} >= {".json", ".jsonl", ".xml", ".gz"}
    result = run_import(sqlite_url, tmp_path, good.folder)
    assert result.returncode == 0, result.output[-3000:]
    engine = make_engine(sqlite_url)
    landed = {r["id"] for r in rows(engine, papers)}
    featured = {r["paper_id"] for r in rows(engine, feature_days)}
    engine.dispose()
    assert landed == good.ids()
    assert featured == {r.arxiv_id for r in good.records if r.file.startswith("hf-")}


# --- the import ----------------------------------------------------------------------------------


def test_hostile_import(db_url: str, tmp_path: Path, corpus: Corpus) -> None:
    """Exit 0 or 2, no traceback, one line per refusal naming the record, every good record in,
    and nothing stored that is a script URL, a NUL, a lone surrogate, a bidi override or uncut."""
    started = time.monotonic()
    result = run_import(db_url, tmp_path, corpus.folder)
    elapsed = time.monotonic() - started
    problems: list[str] = []
    out = result.output

    if result.returncode not in (0, 2):
        problems.append(f"exit code {result.returncode} (0 or 2 expected); output ends:\n"
                        + out[-1500:])
    if "Traceback" in out:
        problems.append("a traceback in the output:\n" + out[out.index("Traceback"):][:1500])

    engine = make_engine(db_url)
    try:
        runs = rows(engine, ingest_runs)
        run = max(runs, key=lambda r: r["id"]) if runs else None
        refused = rows(engine, refusals, refusals.c.run_id == run["id"]) if run else []
        stored = {r["id"]: r for r in rows(engine, papers)}
        featured = {r["paper_id"] for r in rows(engine, feature_days)}
        all_rows = {"papers": list(stored.values()), "feature_days": rows(engine, feature_days),
                    "ingest_runs": runs, "refusals": rows(engine, refusals)}
    finally:
        engine.dispose()

    if run is None:
        problems.append("no ingest run recorded")
    elif run["status"] in ("failed", "running", "interrupted") or run["finished_at"] is None:
        problems.append(f"the run did not finish: {run['status']!r} ({preview(run['error'])})")
    if refused and result.returncode != 2:
        problems.append(f"{len(refused)} refusal(s) recorded but exit code {result.returncode}, "
                        "not 2")

    # One line per refusal, naming the record (id) or its place (file and position).
    file_names = {p.name for p in corpus.files}
    ids = corpus.ids()
    refusal_lines = [
        line for line in result.lines
        if "inserted" not in line and (any(n in line for n in file_names)
                                       or any(i in line for i in ids))
    ]
    if len(refusal_lines) != len(refused):
        problems.append(f"{len(refusal_lines)} output line(s) name a corpus file or record for "
                        f"{len(refused)} refusal(s) recorded:\n  " + "\n  ".join(
                            preview(line) for line in refusal_lines[:60]))
    # A refusal spanning lines (a reason with a newline in it) leaves lines naming nothing
    # among the refusal lines.
    marks = [n for n, line in enumerate(result.lines) if line in refusal_lines]
    if marks:
        for line in result.lines[marks[0]:marks[-1]]:
            if line.strip() and line not in refusal_lines:
                problems.append(f"a refusal spans more than one line: {preview(line)}")
    for row in refused:
        base = Path(row["file"] or "").name
        if not any((row["record_id"] and row["record_id"] in line)
                   or names_place(line, base, row["position"]) for line in refusal_lines):
            problems.append(f"refusal not named by any output line: {base}:{row['position']} "
                            f"[{row['record_id']}] {preview(row['reason'])}")

    def named(record: Record) -> bool:
        return any(record.arxiv_id in line or names_place(line, record.file, record.position)
                   for line in refusal_lines)

    def file_named(name: str) -> bool:
        return any(name in line for line in refusal_lines)

    # Every good record landed; after a byte-level break, or in a file the importer may refuse
    # whole, it may be missing only if a refusal line names its file.
    lost: dict[str, list[str]] = {}
    for record in corpus.good:
        excused = (record.after_break or record.file in corpus.may_refuse_file) \
            and file_named(record.file)
        if record.arxiv_id not in stored and not excused:
            lost.setdefault(record.file, []).append(f"{record.arxiv_id} ({record.position})")
        elif (record.arxiv_id in stored and record.file.startswith("hf-")
              and record.arxiv_id not in featured):
            problems.append(f"good record {record.arxiv_id} ({record.file}) landed without its "
                            "feature day")
    for name, missing in lost.items():
        problems.append(f"{name}: {len(missing)} good record(s) did not land: "
                        + ", ".join(missing))
    # Every bad record landed (made harmless, checked below) or a refusal line names it.
    # The bad record that breaks its file's bytes is where the parser stops: the file's
    # refusal names it by file and line (XML gives no id before the record is read whole).
    broken_files = {r.file for r in (*corpus.good, *corpus.bad) if r.after_break}
    unaccounted: dict[str, list[str]] = {}
    for record in corpus.bad:
        if record.arxiv_id not in stored and not named(record) and not (
                (record.after_break or record.file in corpus.may_refuse_file
                 or record.file in broken_files)
                and file_named(record.file)):
            unaccounted.setdefault(record.file, []).append(
                f"{record.arxiv_id} ({record.position}: {record.what})")
    for name, missing in unaccounted.items():
        problems.append(f"{name}: {len(missing)} bad record(s) neither landed nor were refused "
                        "by name: " + "; ".join(missing))

    problems += stored_problems(all_rows)

    if elapsed > IMPORT_TIMEOUT / 2:
        problems.append(f"the import took {elapsed:.0f} s")
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems)


# --- the site --------------------------------------------------------------------------------


@dataclass
class HostileSite:
    url: str
    landed: list[str]  # ids of bad records that are in the database


@pytest.fixture(scope="module")
def hostile_site(tmp_path_factory: pytest.TempPathFactory, corpus: Corpus) -> Iterator[HostileSite]:
    """The corpus imported into SQLite (file by file, in this process: a file today's importer
    fails on must not keep the others' pages from the browser), keyword-indexed and served."""
    from dailypapers.index.search import SearchService
    from dailypapers.index.worker import IndexWorker
    from dailypapers.ingest.files import import_paths
    from dailypapers.web.app import create_app

    data_dir = tmp_path_factory.mktemp("hostile-site")
    settings = Settings(data_dir=data_dir, database_url=f"sqlite:///{data_dir}/site.sqlite3")
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    failures: list[str] = []
    for path in corpus.files:
        try:
            import_paths(engine, [path])
        except Exception as exc:  # noqa: BLE001 - test_hostile_import reports it
            failures.append(f"{path.name}: {type(exc).__name__}: {str(exc)[:200]}")
    search = SearchService.from_settings(engine, settings)
    IndexWorker(search, embed=False).run_once()  # keyword index only: no model needed
    with engine.connect() as conn:
        present = set(conn.execute(sa.select(papers.c.id)).scalars())
    # The pages must hold the hostile records, or the browser test would pass on empty pages.
    missing = [r.arxiv_id for r in corpus.records if "-markup" in r.file and r.good
               and r.arxiv_id not in present]
    assert not missing, f"the markup files did not import: {missing}; {failures}"
    landed = [r.arxiv_id for r in corpus.bad if r.arxiv_id in present]
    with LiveServer(create_app(settings, engine, search=search)) as server:
        yield HostileSite(server.url, landed)
    engine.dispose()


def page_paths(site: HostileSite) -> list[str]:
    day = dt.date.fromisoformat(DAYS["markup"])
    year, week, _ = day.isocalendar()
    paths = [
        "/papers",
        f"/papers/date/{DAYS['markup']}",
        f"/papers/date/{DAYS['poison']}",
        f"/papers/week/{year}-W{week:02d}",
        f"/papers/month/{day:%Y-%m}",
        "/search?q=alert&mode=keyword",
        "/search?q=" + quote("<script>alert(1)</script>") + "&mode=keyword",
        "/search?q=onmouseover&mode=keyword",
        "/search?q=javascript",
        "/papers/9999.99999",  # the error page: not found
        "/papers/" + quote("<script>alert(1)</script>"),  # the error page, echoing a path
        "/papers/date/2026-13-45",  # the error page: a bad parameter
        "/api/docs",
    ]
    return paths + [f"/papers/{pid}" for pid in site.landed]


def test_json_answers_carry_no_script_urls(hostile_site: HostileSite) -> None:
    """The HF-compatible API and /api/v1/search hand on only http(s) links."""
    problems: list[str] = []
    leaks: dict[str, list[str]] = {}  # "key = value" -> answers that carry it
    year, week, _ = dt.date.fromisoformat(DAYS["markup"]).isocalendar()
    paths = [f"/api/daily_papers?date={DAYS['markup']}", f"/api/daily_papers?date={DAYS['poison']}",
             f"/api/daily_papers?week={year}-W{week:02d}",
             "/api/v1/search?q=alert&mode=keyword&limit=100",
             "/api/v1/search?q=links&mode=keyword&limit=100", "/api/papers/search?q=alert"]
    paths += [f"/api/papers/{pid}" for pid in hostile_site.landed]
    with httpx.Client(base_url=hostile_site.url, timeout=30) as client:
        for path in paths:
            answer = client.get(path)
            if answer.status_code >= 500:
                problems.append(f"{path}: {answer.status_code}")
                continue
            for key, value in walk(answer.json()):
                if key in URL_KEYS and unsafe_url(value):
                    leaks.setdefault(f"{key} = {preview(value)}", []).append(path)
            link = answer.headers.get("link", "")
            for target in re.findall(r"<([^>]*)>", link):
                if unsafe_url(target):
                    leaks.setdefault(f"Link header {preview(target)}", []).append(path)
    for leak, where in sorted(leaks.items()):
        problems.append(f"{leak} in {len(where)} answer(s), e.g. {where[0]}")
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems)


# --- the browser -------------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# Record (and still raise) every alert/confirm/prompt/print, in every document, with the link
# clicked last (a javascript: URL runs as a task after its click).
HOOK_DIALOGS = """
let lastClicked = "(no click)";
document.addEventListener("click", (event) => {
  const link = event.target.closest && event.target.closest("a, area");
  if (link) lastClicked = link.getAttribute("href");
}, true);
for (const name of ["alert", "confirm", "prompt", "print"]) {
  const original = window[name];
  window[name] = function (...args) {
    try { window.__hostileCalled(name + "(" + String(args[0]) + ")", lastClicked); } catch (e) {}
    return original.apply(window, args);
  };
}
"""
SETTLE = "() => new Promise(done => setTimeout(() => requestAnimationFrame(() => done()), 30))"
# Every URL-bearing attribute and every event-handler attribute in the document.
COLLECT = """
() => {
  const urlAttrs = ["href", "src", "action", "formaction", "xlink:href", "poster", "background",
                    "data", "srcset", "ping", "cite", "longdesc", "manifest", "codebase", "icon"];
  const urls = [], handlers = [];
  for (const el of document.querySelectorAll("*")) {
    for (const attr of el.attributes) {
      const name = attr.name.toLowerCase();
      if (name.startsWith("on")) handlers.push(el.tagName + " " + name + "=" + attr.value);
      else if (urlAttrs.includes(name)) urls.push([el.tagName, name, attr.value]);
    }
  }
  const scripts = [...document.scripts].filter(s => /alert|msgbox/.test(s.textContent))
    .map(s => s.textContent.slice(0, 80));
  return {urls, handlers, scripts, bytes: document.documentElement.outerHTML.length};
}
"""


def _allowed_url(tag: str, attr: str, value: str) -> bool:
    scheme = scheme_of(value)
    if scheme in (None, "http", "https"):
        return True
    # An image (even SVG) in <img> runs no script: data:image is no link an attacker controls.
    return tag == "IMG" and attr == "src" and value.strip().lower().startswith("data:image/")


@pytest.mark.browser
def test_no_script_runs_on_any_page(hostile_site: HostileSite) -> None:
    """Every page type opened in chromium, every distinct link clicked: no dialog, no hooked
    alert, no injected handler or script, and only http(s) or relative URLs in attributes."""
    if CHROMIUM is None:
        if IN_CI:
            pytest.fail("chromium is not installed (CI=true: .ci/run installs it)")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    site = hostile_site.url
    problems: list[str] = []
    calls: list[str] = []
    dialogs: list[str] = []
    attributes: dict[str, list[str]] = {}  # what was found -> pages it was found on
    state = {"loading": True, "path": ""}

    def route(route: Any, request: Any) -> None:
        url = request.url
        if not url.startswith(site + "/") and url != site:
            route.abort("aborted")  # no network beyond loopback
        elif request.is_navigation_request() and not state["loading"]:
            route.abort("aborted")  # a clicked same-site link: its page is visited on its own
        else:
            route.continue_()

    def on_dialog(dialog: Any) -> None:
        dialogs.append(f"{dialog.type}({dialog.message!r}) on {state['path']}")
        try:
            dialog.dismiss()
        except Exception:  # noqa: BLE001 - the page may be gone
            pass

    started = time.monotonic()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.expose_binding("__hostileCalled",
                               lambda source, what, href: calls.append(
                                   f"{what} on {state['path']} after a click on {preview(href)}"))
        context.add_init_script(HOOK_DIALOGS)
        context.route("**/*", route)
        context.on("dialog", on_dialog)  # every page's, popups' too
        page = context.new_page()
        page.on("popup", lambda popup: popup.close())
        clicked: set[str] = set()
        for path in page_paths(hostile_site):
            state.update(loading=True, path=path)
            try:
                page.goto(site + path, wait_until="load", timeout=20_000)
            except Exception as exc:  # noqa: BLE001
                problems.append(f"{path}: did not load ({str(exc).splitlines()[0]})")
                continue
            state["loading"] = False
            found = page.evaluate(COLLECT)
            for tag, attr, value in found["urls"]:
                if not _allowed_url(tag, attr, value):
                    attributes.setdefault(f"<{tag.lower()} {attr}={preview(value)}>",
                                          []).append(path)
            for handler in found["handlers"]:
                attributes.setdefault(f"event handler {preview(handler)}", []).append(path)
            for script in found["scripts"]:
                attributes.setdefault(f"injected script {preview(script)}", []).append(path)
            if found["bytes"] > BIG // 2:
                problems.append(f"{path}: {found['bytes']:,} characters of HTML (fields uncut)")
            links = page.locator("a[href], area[href]")
            hrefs = page.eval_on_selector_all(
                "a[href], area[href]", "els => els.map(e => e.getAttribute('href'))")
            here = page.url
            for index, href in enumerate(hrefs):
                # Links that differ only in digits (paper ids, days) behave alike: one is
                # clicked. Any other difference (a scheme, a quote, a space) is clicked on its own.
                shape = re.sub(r"[0-9]+", "0", href or "")
                if shape in clicked:
                    continue
                clicked.add(shape)
                link = links.nth(index)
                try:
                    link.click(timeout=1500, no_wait_after=True, force=True)
                except Exception:  # noqa: BLE001 - hidden or covered: click it as script would
                    try:
                        link.evaluate("el => el.click()")
                    except Exception as exc:  # noqa: BLE001
                        problems.append(f"{path}: could not click {preview(href)}: {exc}")
                # A javascript: URL runs as a task after its click, and the next click's
                # navigation would cancel it: let it run first (and any dialog be handled).
                page.evaluate(SETTLE)
                if page.url != here:  # a navigation got through: come back
                    state["loading"] = True
                    page.goto(site + path, wait_until="load")
                    state["loading"] = False
        context.close()
        browser.close()
    problems += [f"{what} on {len(pages)} page(s), e.g. {pages[0]}"
                 for what, pages in sorted(attributes.items())]
    problems += [f"alert hook called: {c}" for c in calls]
    problems += [f"dialog shown: {d}" for d in dialogs]
    elapsed = time.monotonic() - started
    assert clicked, "no link was clicked"
    assert not problems, (f"{len(problems)} problem(s) over {len(page_paths(hostile_site))} pages "
                          f"and {len(clicked)} links ({elapsed:.0f} s):\n" + "\n".join(problems))
