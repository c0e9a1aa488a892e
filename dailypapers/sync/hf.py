"""Hugging Face daily papers: ``GET {hf_base_url}/api/daily_papers?date=D&limit=100``.

One cycle = a list of feature days to fetch, newest first:
- new days: the first run takes the last ``sync_backfill_days`` calendar days up to today; later
  runs take every day from the last synced day (again, its list may have grown) up to today;
- refresh days: the latest ``sync_refresh_days`` feature days already in the database, fetched
  again because upvotes, comment counts and stars change upstream (the upsert updates them).

Each day is paged while the answer has ``Link: <…>; rel="next"``; every page is stored together
with the cycle checkpoint moved past it (see :mod:`dailypapers.sync`).

Then paper info (``GET {hf_base_url}/api/papers/{id}``: the models, datasets and Spaces citing a
paper) for at most ``sync_paper_info_max`` papers featured on the refresh days, those never
fetched first, then the least recently fetched: the lists change upstream as repos cite the
paper. Each answer is stored with its fetch time, which is the order; papers answered with a
4xx (not indexed there) are not asked again that day by the same process.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dailypapers.db.engine import read_transaction
from dailypapers.db.schema import feature_days, linked_repo_totals
from dailypapers.ids import InvalidArxivId, split_arxiv_id
from dailypapers.ingest import hf_daily, hf_paper_info
from dailypapers.ingest.records import SOURCE_HF, ParsedItem, Refusal
from dailypapers.sync import checkpoints
from dailypapers.sync.base import SourceContext, describe_counts
from dailypapers.sync.http import DeepJSON, UpstreamError, decode_json, safe_url

CYCLE_KEY = "hf:cycle"
PAPER_INFO_KEY = "hf:paper_info"  # never written: paper-info answers need no checkpoint
# Papers upstream answered with a 4xx (not indexed there), per (upstream, day): kept in memory
# only, so the serving process (which syncs every 30 minutes) does not spend its budget on them
# again the same day; a separate ``dailypapers sync`` asks once per run.
_MISSING: dict[tuple[str, dt.date], set[str]] = {}
LAST_DAY_KEY = "hf:last_day"
PAGE_LIMIT = 100
MAX_PAGES_PER_DAY = 50  # 5,000 papers on one day would be a loop, not a list


def daily_papers_url(base_url: str) -> str:
    return base_url.rstrip("/") + "/api/daily_papers"


def sync_hf(ctx: SourceContext) -> None:
    cycle, resumed = ctx.start_cycle(CYCLE_KEY, lambda conn: plan_cycle(conn, ctx))
    _log_cycle(ctx, cycle, resumed)
    _run_cycle(ctx, cycle)
    if resumed and dt.date.fromisoformat(cycle["today"]) < ctx.today:
        # The unfinished cycle was from an earlier day: there are new days to fetch as well.
        cycle, _ = ctx.start_cycle(CYCLE_KEY, lambda conn: plan_cycle(conn, ctx))
        _log_cycle(ctx, cycle, False)
        _run_cycle(ctx, cycle)
    sync_paper_info(ctx)


def papers_url(base_url: str) -> str:
    return base_url.rstrip("/") + "/api/papers"


def plan_paper_info(conn: Connection, today: dt.date, days: int, limit: int,
                    skip: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """Papers featured on the latest ``days`` feature days up to ``today``, except ``skip``:
    never fetched first, then the least recently fetched, newest feature day first among equals.
    (A few hundred candidates at most: ``days`` feature days of a few dozen papers.)"""
    if days <= 0 or limit <= 0:
        return []
    recent = (
        sa.select(feature_days.c.day).distinct()
        .where(feature_days.c.source == SOURCE_HF, feature_days.c.day <= today)
        .order_by(feature_days.c.day.desc()).limit(days)
    ).subquery()
    newest = sa.func.max(feature_days.c.day).label("newest")
    query = (
        sa.select(feature_days.c.paper_id, newest, linked_repo_totals.c.fetched_at)
        .join(recent, recent.c.day == feature_days.c.day)
        .outerjoin(linked_repo_totals, linked_repo_totals.c.paper_id == feature_days.c.paper_id)
        .group_by(feature_days.c.paper_id, linked_repo_totals.c.fetched_at)
        .order_by(sa.case((linked_repo_totals.c.fetched_at.is_(None), 0), else_=1),
                  linked_repo_totals.c.fetched_at, newest.desc(), feature_days.c.paper_id)
    )
    ids = [row.paper_id for row in conn.execute(query) if row.paper_id not in skip]
    return ids[:limit]


def sync_paper_info(ctx: SourceContext) -> None:
    key = (ctx.settings.hf_base_url, ctx.today)
    for old in [k for k in _MISSING if k != key]:
        del _MISSING[old]  # yesterday's 404s are asked again today
    skip = _MISSING.setdefault(key, set())
    with read_transaction(ctx.engine) as conn:
        ids = plan_paper_info(conn, ctx.today, ctx.settings.sync_refresh_days,
                              ctx.settings.sync_paper_info_max, skip)
    if not ids:
        return
    ctx.log(f"hf: paper info (linked models, datasets, Spaces) for {len(ids)} paper(s)")
    base = papers_url(ctx.settings.hf_base_url)
    for pid in ids:
        label = f"hf:paper {pid}"
        ctx.first_time("paper-info", pid)
        try:
            fetched = ctx.client.get(f"{base}/{pid}", decode_json)
        except UpstreamError as exc:
            if " answered HTTP 4" not in str(exc):
                raise  # upstream down or failing: the source fails, the next sync retries
            ctx.log(f"  {label}: skipped: {str(exc)[:200]}")  # e.g. a paper HF does not index
            skip.add(pid)  # not asked again today by this process
            continue
        items: list[ParsedItem] = []
        refused: list[Refusal] = []
        body = fetched.value
        if isinstance(body, dict) and _canonical(body.get("id")) not in (None, pid):
            refused.append(Refusal(reason=f"answer is about {str(body.get('id'))[:40]!r}",
                                   record_id=pid, position="answer", file=label))
        else:
            for parsed in hf_paper_info.parse_answer(body, file_label=label):
                (refused if isinstance(parsed, Refusal) else items).append(parsed)  # type: ignore[arg-type]
        counts, _ = ctx.commit_page(PAPER_INFO_KEY, items, refused, lambda _conn, _current: None)
        ctx.log(f"  {label}: {describe_counts(counts)}")


def plan_cycle(conn: Connection, ctx: SourceContext) -> dict[str, Any]:
    today = ctx.today
    last = checkpoints.load(conn, LAST_DAY_KEY)
    if last:
        start = min(dt.date.fromisoformat(last), today)
    else:
        start = today - dt.timedelta(days=max(1, ctx.settings.sync_backfill_days) - 1)
    new_days = [today - dt.timedelta(days=n) for n in range((today - start).days + 1)]
    refresh: list[dt.date] = []
    if ctx.settings.sync_refresh_days > 0:
        refresh = [
            day for (day,) in conn.execute(
                sa.select(feature_days.c.day).distinct()
                .where(feature_days.c.source == SOURCE_HF, feature_days.c.day <= today)
                .order_by(feature_days.c.day.desc())
                .limit(ctx.settings.sync_refresh_days)
            )
        ]
    todo = [{"day": d.isoformat()} for d in new_days]
    todo += [{"day": d.isoformat(), "refresh": True} for d in refresh if d not in new_days]
    return {"today": today.isoformat(), "backfill": not last, "todo": todo}


def _log_cycle(ctx: SourceContext, cycle: dict[str, Any], resumed: bool) -> None:
    todo = cycle["todo"]
    refresh = sum(1 for t in todo if t.get("refresh"))
    what = "resuming an unfinished cycle" if resumed else (
        "first run, backfilling" if cycle.get("backfill") else "new cycle"
    )
    ctx.log(
        f"hf: {what}: {len(todo) - refresh} new day(s) and {refresh} day(s) to refresh "
        f"from {safe_url(ctx.settings.hf_base_url)}"
    )


def _run_cycle(ctx: SourceContext, cycle: dict[str, Any]) -> None:
    base = httpx.URL(daily_papers_url(ctx.settings.hf_base_url))
    while cycle and cycle.get("todo"):
        entry = cycle["todo"][0]
        day = dt.date.fromisoformat(entry["day"])
        page = int(entry.get("page", 0))
        ctx.first_time(cycle["id"], entry["day"], entry.get("next"))
        if entry.get("next"):  # stored as path + query: the same origin as ``base``
            fetched = ctx.client.get(str(base.join(entry["next"])), _decode_answer)
        else:
            fetched = ctx.client.get(
                str(base), _decode_answer, params={"date": day.isoformat(), "limit": PAGE_LIMIT}
            )
        label = f"hf:{day.isoformat()}" + (f" page {page + 1}" if page else "")
        items, refused = _parse_answer(fetched.value, day, label)
        next_url = _next_link(fetched.response, base)
        if next_url and (not items or page + 1 >= MAX_PAGES_PER_DAY):
            ctx.log(f"  {label}: not following rel=next (empty page or {MAX_PAGES_PER_DAY} pages)")
            next_url = None

        def advance(conn: Connection, current: Any) -> dict[str, Any] | None:
            return _advance(conn, current, cycle["id"], entry["day"], next_url, page)

        counts, cycle = ctx.commit_page(CYCLE_KEY, items, refused, advance)
        ctx.log(f"  {label}: {len(items) + len(refused)} item(s): {describe_counts(counts)}")


def _advance(
    conn: Connection, current: Any, cycle_id: str, day: str, next_url: str | None, page: int
) -> dict[str, Any] | None:
    """Move the committed cycle past one page; None once the cycle is done (or gone)."""
    if not isinstance(current, dict) or current.get("id") != cycle_id:
        return None  # another sync finished or replaced this cycle; leave it to that one
    todo = current["todo"]
    index = next((i for i, t in enumerate(todo) if t["day"] == day), None)
    if index is not None:
        if next_url:
            todo[index] = {**todo[index], "next": next_url, "page": page + 1}
        else:
            del todo[index]
    if todo:
        checkpoints.save(conn, CYCLE_KEY, current)
        return current
    checkpoints.delete(conn, CYCLE_KEY)
    last = checkpoints.load(conn, LAST_DAY_KEY)
    if not last or last < current["today"]:
        checkpoints.save(conn, LAST_DAY_KEY, current["today"])
    return None


class _Unreadable:
    """An answer that will never decode (JSON nested too deeply): refused as a page, so one bad
    day does not stop every later sync at the same place."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _decode_answer(response: httpx.Response) -> Any:
    try:
        return decode_json(response)
    except DeepJSON as exc:
        return _Unreadable(str(exc))


def _parse_answer(
    body: Any, day: dt.date, label: str
) -> tuple[list[ParsedItem], list[Refusal]]:
    if isinstance(body, _Unreadable):
        return [], [Refusal(reason=body.reason, position="answer", file=label)]
    if isinstance(body, dict) and "error" in body and "data" not in body:
        raise UpstreamError(f"{label}: upstream error: {str(body['error'])[:200]}")
    raw_items, answered_day = hf_daily.unwrap(body, day)
    if raw_items is None:
        return [], [Refusal(reason="answer is not a list of daily items", position="answer",
                            file=label)]
    items: list[ParsedItem] = []
    refused: list[Refusal] = []
    for parsed in hf_daily.parse_items(raw_items, day=answered_day, file_label=label):
        (refused if isinstance(parsed, Refusal) else items).append(parsed)  # type: ignore[arg-type]
    return items, refused


def _canonical(raw: Any) -> str | None:
    try:
        return split_arxiv_id(raw)[0] if isinstance(raw, str) else None
    except InvalidArxivId:
        return raw


def _next_link(response: httpx.Response, base: httpx.URL) -> str | None:
    link = response.links.get("next")
    if not link or not link.get("url"):
        return None
    url = response.url.join(link["url"])
    if (url.scheme, url.host, url.port) != (base.scheme, base.host, base.port):
        raise UpstreamError(f"rel=next points to another site: {safe_url(url)}")
    return url.raw_path.decode("ascii")  # path + query; joined to the configured base on use
