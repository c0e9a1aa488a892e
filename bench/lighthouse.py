"""Lighthouse 12 on the demo site, in Debian's chromium: every page type, desktop and mobile.

Prints each category's score (0-100) per page and preset, and ends with
``lighthouse_min: N (target 100 a11y/bp/seo, ≥ 95 perf)``: N is the lowest score of all;
exits 1 when accessibility, best practices or SEO is below 100 anywhere, or performance below 95.
The bare search form, the smallest HTML page we serve, is the baseline each row can be read
against. The 404 page is not audited: Lighthouse refuses to score a page answered with an error
status (tests/test_browser_pages.py runs axe-core on it instead).

Needs Node 20 and npm; the first run installs Lighthouse project-locally (git ignores it)::

    npm install --prefix bench/.lighthouse --no-audit --no-fund lighthouse@12.2.3

Run: ``python bench/lighthouse.py [--preset desktop|mobile] [--page NAME]`` (~15 s a page and
preset on 2 cores: all 20 runs take ~5 minutes, so run one preset at a time when sharing).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _util import REPO, headline

LIGHTHOUSE = REPO / "bench" / ".lighthouse" / "node_modules" / ".bin" / "lighthouse"
CHROMIUM = os.environ.get("CHROME_PATH", "/usr/bin/chromium")
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
SHORT = {"performance": "perf", "accessibility": "a11y", "best-practices": "bp", "seo": "seo"}
CODE_AND_MATH = "2604.00001"
PAGES = {
    "search form (base)": "/search",
    "latest day": "/papers",
    "busy day": "/papers/date/2026-03-13",
    "week": "/papers/week/2026-W11",
    "month": "/papers/month/2026-03",
    "paper, code+math": f"/papers/{CODE_AND_MATH}",
    "search, results": "/search?q=agents",
    "search, none": "/search?q=zzqxjvv",
    "trending": "/papers/trending",
    "api docs": "/api/docs",
}


def demo_site() -> tuple[str, object]:
    import uvicorn

    from dailypapers.db.engine import make_engine
    from dailypapers.db.migrate import upgrade
    from dailypapers.demo import load_demo
    from dailypapers.ingest.files import import_paths
    from dailypapers.settings import Settings
    from dailypapers.web.app import create_app

    data_dir = Path(tempfile.mkdtemp(prefix="dp-lighthouse-"))
    settings = Settings(data_dir=data_dir, database_url=f"sqlite:///{data_dir}/site.sqlite3")
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    load_demo(engine)
    extra = data_dir / "2026-03-31.json"  # the demo has no paper with both code and math
    extra.write_text(json.dumps([{
        "paper": {"id": CODE_AND_MATH, "title": "Bounds on $\\ell_2$ regret for agents",
                  "summary": "We prove $R_T = O(\\sqrt{T \\log K})$; code at "
                             "https://github.com/acme/regret.",
                  "authors": [{"_id": "a1", "name": "Ada Lovelace", "hidden": False}],
                  "publishedAt": "2026-03-31T10:00:00.000Z", "upvotes": 5,
                  "githubRepo": "https://github.com/acme/regret", "githubStars": 42},
        "publishedAt": "2026-03-31T09:00:00.000Z", "title": "Bounds", "numComments": 0}]))
    import_paths(engine, [extra])
    port = 8700 + os.getpid() % 200
    server = uvicorn.Server(uvicorn.Config(create_app(settings, engine), host="127.0.0.1",
                                           port=port, log_level="warning"))
    server.thread = threading.Thread(target=server.run, daemon=True)  # type: ignore[attr-defined]
    server.thread.start()  # type: ignore[attr-defined]
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            sys.exit("the demo site did not start")
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server


def audit(url: str, preset: str) -> dict[str, int]:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        command = [
            str(LIGHTHOUSE), url, "--quiet", "--output=json", f"--output-path={out.name}",
            f"--only-categories={','.join(CATEGORIES)}",
            "--chrome-flags=--headless=new --no-sandbox --disable-gpu",
        ] + (["--preset=desktop"] if preset == "desktop" else [])  # mobile is Lighthouse's default
        for attempt in range(3):  # Lighthouse itself fails now and then (NO_NAVSTART traces)
            done = subprocess.run(command, env={**os.environ, "CHROME_PATH": CHROMIUM},
                                  stdout=subprocess.DEVNULL)
            if done.returncode == 0:
                break
            print(f"    lighthouse exited {done.returncode} on {url}: trying again", flush=True)
        else:
            raise SystemExit(f"lighthouse failed three times on {url}")
        report = json.loads(Path(out.name).read_text())
    scores = {c: round(100 * (report["categories"][c]["score"] or 0)) for c in CATEGORIES}
    for category in CATEGORIES:  # say why a score is not 100
        if scores[category] < 100:
            for ref in report["categories"][category]["auditRefs"]:
                result = report["audits"][ref["id"]]
                if ref["weight"] and result["score"] is not None and result["score"] < 1:
                    print(f"    {SHORT[category]}: {ref['id']} {result['score']}")
    return scores


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", choices=("desktop", "mobile"), action="append")
    parser.add_argument("--page", choices=list(PAGES), action="append")
    args = parser.parse_args()
    if not LIGHTHOUSE.exists():  # installed once, the way .ci/run installs chromium
        print("== installing lighthouse@12.2.3 from the npm registry into bench/.lighthouse",
              flush=True)
        done = subprocess.run(["npm", "install", "--prefix", str(LIGHTHOUSE.parents[2]),
                               "--no-audit", "--no-fund", "lighthouse@12.2.3"])
        if done.returncode != 0 or not LIGHTHOUSE.exists():
            sys.exit(f"Lighthouse could not be installed (npm exit {done.returncode}); "
                     f"needs Node 20 and npm (looked for {LIGHTHOUSE})")
    url, server = demo_site()
    worst = 100
    missed = False
    print(f"{'page':<20} {'preset':<8} " + " ".join(f"{SHORT[c]:>5}" for c in CATEGORIES))
    for preset in args.preset or ["desktop", "mobile"]:
        for name in args.page or list(PAGES):
            scores = audit(url + PAGES[name], preset)
            print(f"{name:<20} {preset:<8} " + " ".join(f"{scores[c]:>5}" for c in CATEGORIES),
                  flush=True)
            worst = min(worst, *scores.values())
            missed |= scores["performance"] < 95 or any(
                scores[c] < 100 for c in CATEGORIES if c != "performance")
    server.should_exit = True  # type: ignore[attr-defined]
    # Its shutdown (the app's lifespan: index and sync threads) must end before the
    # interpreter does: a full run once segfaulted at exit (rc 139) after its last line.
    server.thread.join(60)  # type: ignore[attr-defined]
    headline("lighthouse_min", worst, "", "100 a11y/bp/seo, ≥ 95 perf", not missed)


if __name__ == "__main__":
    main()
