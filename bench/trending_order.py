"""How the stored trending order differs from the per-request one it replaced, on the demo data.

Old (rank/trending.py before the community issue): (upvotes + 1) / (hours + 2) ** 1.8, evaluated
at request time. New: log10(max(upvotes + min(comments, 10), 1)) + featured_hours / 48, stored.
For every demo day: do the orders differ, how many papers move, and Kendall's tau between them;
then the no-period API list (the last 7 featured days), as of the day after the newest one.

    python bench/trending_order.py            # a fresh SQLite file in a temporary folder

No target: it prints a comparison, and ends with the share of days whose order changed.
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
from itertools import combinations
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dailypapers import catalog  # noqa: E402
from dailypapers.db.engine import make_engine, read_transaction  # noqa: E402
from dailypapers.db.migrate import upgrade  # noqa: E402
from dailypapers.demo import load_demo  # noqa: E402


def decaying(entry: catalog.Entry, now: dt.datetime) -> float:
    hours = max(0.0, (now - entry.featured_at).total_seconds() / 3600)
    return (max(entry.paper["upvotes"], 0) + 1) / (hours + 2) ** 1.8


def old_order(entries: list[catalog.Entry], now: dt.datetime) -> list[str]:
    ranked = sorted(entries, key=lambda e: (-decaying(e, now), e.featured_at, e.paper["id"]))
    return [e.paper["id"] for e in ranked]


def kendall_tau(a: list[str], b: list[str]) -> float:
    pos = {pid: i for i, pid in enumerate(b)}
    pairs = list(combinations(a, 2))
    if not pairs:
        return 1.0
    concordant = sum(1 for x, y in pairs if pos[x] < pos[y])
    return (2 * concordant - len(pairs)) / len(pairs)


def show(title: str, entries: list[catalog.Entry], old: list[str], new: list[str],
         top: int = 6) -> None:
    by_id = {e.paper["id"]: e for e in entries}
    print(f"\n{title}: top {top}, old rule | new rule (upvotes, comments, featured at)")
    for rank in range(min(top, len(new))):
        o, n = by_id[old[rank]], by_id[new[rank]]
        print(f"  {rank + 1:>2}. {o.paper['id']:<11} {o.paper['upvotes']:>4} "
              f"{o.paper['num_comments']:>3} {o.featured_at:%m-%d %H:%M}   | "
              f"{n.paper['id']:<11} {n.paper['upvotes']:>4} {n.paper['num_comments']:>3} "
              f"{n.featured_at:%m-%d %H:%M}  score {n.feature['trending_score']:.4f}")


def main() -> int:
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{folder}/demo.sqlite3")
        upgrade(engine)
        load_demo(engine)
        with read_transaction(engine) as conn:
            days = sorted(catalog.select_recent_days(conn, 10_000))
            changed, moved, taus, papers = 0, 0, [], 0
            example = None
            for day in days:
                entries = catalog.entries_in(conn, day, day + dt.timedelta(days=1))
                new = [e.paper["id"] for e in entries]
                now = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(12),
                                          tzinfo=dt.timezone.utc)
                old = old_order(entries, now)
                papers += len(new)
                if old != new:
                    changed += 1
                    moved += sum(1 for a, b in zip(old, new) if a != b)
                    example = example or (day, entries, old, new)
                taus.append(kendall_tau(old, new))
            print(f"demo: {len(days)} featured days, {papers} feature rows")
            print(f"days whose order changed: {changed} of {len(days)}; papers at another rank: "
                  f"{moved} of {papers}; Kendall tau old vs new: mean {sum(taus) / len(taus):.3f}, "
                  f"min {min(taus):.3f}")
            if example:
                show(f"day {example[0]}", example[1], example[2], example[3])
            window = catalog.latest_entries(conn, sort="trending", limit=10_000, offset=0)
            now = dt.datetime.combine(days[-1] + dt.timedelta(days=1), dt.time(12),
                                      tzinfo=dt.timezone.utc)
            old = old_order(window, now)
            new = [e.paper["id"] for e in window]
            old_days = [e.feature["day"] for e in sorted(window, key=lambda e: old.index(e.paper["id"]))][:10]
            new_days = [e.feature["day"] for e in window][:10]
            print(f"\nlast 7 featured days ({len(window)} papers), Kendall tau old vs new: "
                  f"{kendall_tau(old, new):.3f}")
            print(f"  days of the top 10, old: {[d.isoformat()[5:] for d in old_days]}")
            print(f"  days of the top 10, new: {[d.isoformat()[5:] for d in new_days]}")
            show("last 7 featured days", window, old, new, top=8)
        engine.dispose()
    print(f"\ntrending_order: {100 * changed / len(days):.0f} % of demo days reordered "
          f"(no target: a comparison)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
