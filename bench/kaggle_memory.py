"""A 500,000-line Kaggle `arxiv-metadata-oai-snapshot` file imports in bounded memory.

Generates the file from the real 200-line head (each copy gets fresh, valid arXiv ids), then runs
`dailypapers import` on it in a child process and reads the child's peak RSS. Baseline in the
same run: the peak RSS of a child that only loads the same modules. Target: import < 300 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

from _util import REPO, SHARED_DATA, Timer, headline

TARGET_MB = 300.0


def generate(path: Path, lines: int) -> None:
    head = [json.loads(line) for line in
            (SHARED_DATA / "arxiv" / "kaggle-snapshot" / "arxiv-metadata-oai-snapshot.head.jsonl")
            .read_text().splitlines() if line.strip()]
    with path.open("w") as out:
        for n in range(lines):
            record = dict(head[n % len(head)])
            record["id"] = f"{2001 + (n // 99999) % 900:04d}.{n % 99999 + 1:05d}"
            out.write(json.dumps(record) + "\n")


def child_peak_mb(code: str, env: dict[str, str]) -> tuple[float, float, str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    with Timer() as t:
        proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if proc.returncode not in (0, 2):
        raise SystemExit(proc.stderr)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the max over all waited-for children: run the baseline first.
    return max(peak, before) / 1024, t.seconds, proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=500_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dp-kaggle-"))
    data = work / "snapshot.jsonl"
    with Timer() as t_gen:
        generate(data, args.lines)
    print(f"generated {args.lines:,} lines, {data.stat().st_size / 2**20:.0f} MB, in {t_gen.seconds:.1f} s")
    env = {**os.environ, "DAILYPAPERS_DATABASE_URL": f"sqlite:///{work / 'k.sqlite3'}",
           "PYTHONPATH": str(REPO)}
    base_mb, _, _ = child_peak_mb(
        "import dailypapers.cli, dailypapers.ingest.files, tqdm, sqlalchemy", env)
    print(f"baseline (modules loaded, nothing imported): peak RSS {base_mb:.0f} MB")
    code = ("from dailypapers.ingest.files import import_paths;"
            "from dailypapers.cli import _engine; from dailypapers.settings import get_settings;"
            f"_, c = import_paths(_engine(get_settings()), [{str(data)!r}]);"
            "print(c.inserted, c.updated, c.unchanged, c.refused)")
    peak_mb, seconds, summary = child_peak_mb(code, env)
    inserted = int(summary.split()[0]) if summary else 0
    print(f"import: {seconds:.1f} s ({args.lines / seconds:,.0f} lines/s); inserted/updated/unchanged/refused = {summary}")
    print(f"peak RSS of the importing process: {peak_mb:.0f} MB ({peak_mb - base_mb:+.0f} MB over baseline)")
    ok = peak_mb < TARGET_MB and inserted == args.lines
    headline("kaggle_memory", peak_mb, "MB peak RSS importing 500k lines", f"< {TARGET_MB:g} MB", ok)


if __name__ == "__main__":
    main()
