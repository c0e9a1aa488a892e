"""arXiv: the query API (``arxiv_method = "api"``, default) or OAI-PMH (``"oai"``).

API: ``search_query=cat:A OR cat:B …&sortBy=submittedDate&sortOrder=descending&start=N&
max_results=100``, paged by ``start`` until a page reaches entries submitted before the cutoff
(the backfill window on the first run, then the last synced day minus ``API_OVERLAP_DAYS``, since
arXiv announces papers a day or more after submission), or the page is empty, or ``start``
passes ``totalResults``. Every entry of a fetched page is stored.

OAI-PMH: one ``ListRecords`` harvest per set (``metadataPrefix=arXiv&set=cs&from=D``), chained
by ``resumptionToken`` until the token is empty. Sets are arXiv archives (``cs``, ``stat``,
``physics:hep-th``), derived from ``arxiv_categories``; a record is kept only when one of its
categories is configured. ``from`` is the first day of the backfill window, then the last synced
day (OAI datestamps are inclusive days, so nothing falls between two harvests).
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable
from typing import Any

from lxml import etree
from sqlalchemy.engine import Connection

from dailypapers.ingest.records import ParsedItem, Refusal
from dailypapers.sync import checkpoints
from dailypapers.sync.base import SourceContext, describe_counts
from dailypapers.sync.http import UpstreamError, decode_xml, safe_url

CYCLE_KEY = "arxiv:cycle"
LAST_DAY_KEYS = {"api": "arxiv:api:last_day", "oai": "arxiv:oai:last_day"}
API_PAGE_SIZE = 100
API_MAX_START = 30_000  # the arXiv API does not page beyond this
API_OVERLAP_DAYS = 3
MAX_TOKEN_RESTARTS = 2

ATOM = "{http://www.w3.org/2005/Atom}"
OPENSEARCH = "{http://a9.com/-/spec/opensearch/1.1/}"
OAI = "{http://www.openarchives.org/OAI/2.0/}"

# arXiv's OAI sets: these archives are top-level sets, every other archive is under physics.
_TOP_LEVEL_SETS = frozenset({"cs", "econ", "eess", "math", "q-bio", "q-fin", "stat"})


def sync_arxiv(ctx: SourceContext) -> None:
    method = ctx.settings.arxiv_method.strip().lower()
    if method not in LAST_DAY_KEYS:
        raise UpstreamError(f"arxiv_method must be 'api' or 'oai', not {method!r}")
    if not ctx.settings.arxiv_categories:
        ctx.log("arxiv: no arxiv_categories configured, nothing to fetch")
        return
    run = _run_api_cycle if method == "api" else _run_oai_cycle
    planner = _plan_api if method == "api" else _plan_oai
    wanted = planner(ctx, None)

    def accept(cycle: dict[str, Any]) -> bool:
        return cycle.get("method") == method and cycle.get("match") == wanted["match"]

    cycle, resumed = ctx.start_cycle(CYCLE_KEY, lambda conn: planner(ctx, conn), accept=accept)
    _log_cycle(ctx, cycle, resumed)
    run(ctx, cycle)
    if resumed and dt.date.fromisoformat(cycle["today"]) < ctx.today:
        cycle, _ = ctx.start_cycle(CYCLE_KEY, lambda conn: planner(ctx, conn), accept=accept)
        _log_cycle(ctx, cycle, False)
        run(ctx, cycle)


def _window_start(ctx: SourceContext) -> dt.date:
    return ctx.today - dt.timedelta(days=max(1, ctx.settings.sync_backfill_days) - 1)


def _last_day(conn: Connection | None, method: str) -> dt.date | None:
    if conn is None:
        return None
    value = checkpoints.load(conn, LAST_DAY_KEYS[method])
    return dt.date.fromisoformat(value) if isinstance(value, str) else None


def _log_cycle(ctx: SourceContext, cycle: dict[str, Any], resumed: bool) -> None:
    what = "resuming an unfinished cycle" if resumed else "new cycle"
    if cycle["method"] == "api":
        where = (
            f"query {cycle['match']!r} back to {cycle['cutoff']}, from start={cycle['start']}"
        )
        url = ctx.settings.arxiv_api_url
    else:
        sets = ", ".join(s["set"] for s in cycle["sets"])
        where = f"sets {sets or '(done)'} from {cycle['from']}"
        url = ctx.settings.arxiv_oai_url
    ctx.log(f"arxiv ({cycle['method']}): {what}: {where} at {safe_url(url)}")


# --- the query API ---------------------------------------------------------------------------


def search_query(categories: Iterable[str]) -> str:
    return " OR ".join(f"cat:{c}" for c in categories)


def _plan_api(ctx: SourceContext, conn: Connection | None) -> dict[str, Any]:
    last = _last_day(conn, "api")
    cutoff = last - dt.timedelta(days=API_OVERLAP_DAYS) if last else _window_start(ctx)
    return {
        "method": "api",
        "match": search_query(ctx.settings.arxiv_categories),
        "today": ctx.today.isoformat(),
        "cutoff": cutoff.isoformat(),
        "start": 0,
    }


def _run_api_cycle(ctx: SourceContext, cycle: dict[str, Any] | None) -> None:
    from dailypapers.ingest import arxiv_atom

    while cycle:
        start = int(cycle["start"])
        ctx.first_time(cycle["id"], "start", start)
        fetched = ctx.client.get(
            ctx.settings.arxiv_api_url,
            decode_xml,
            params={
                "search_query": cycle["match"],
                "sortBy": "submittedDate",
                "sortOrder": "descending",
                "start": start,
                "max_results": API_PAGE_SIZE,
            },
        )
        root = fetched.value
        entries = root.findall(f"{ATOM}entry")
        _raise_api_error(entries)
        label = f"arxiv-api:start={start}"
        items, refused = _split(
            arxiv_atom.parse(io.BytesIO(fetched.response.content), file_label=label)
        )
        total = _int_text(root.find(f"{OPENSEARCH}totalResults"))
        published = sorted(
            (e.findtext(f"{ATOM}published") or "")[:10] for e in entries
        )
        oldest = next((p for p in published if p), None)
        following = start + len(entries)
        done = (
            not entries
            or (oldest is not None and oldest < cycle["cutoff"])
            or (total is not None and following >= total)
            or following >= API_MAX_START
        )
        cycle_id = cycle["id"]

        def advance(conn: Connection, current: Any) -> dict[str, Any] | None:
            if not isinstance(current, dict) or current.get("id") != cycle_id:
                return None
            if not done:
                current["start"] = max(int(current["start"]), following)
                checkpoints.save(conn, CYCLE_KEY, current)
                return current
            _finish(conn, current)
            return None

        counts, cycle = ctx.commit_page(CYCLE_KEY, items, refused, advance)
        ctx.log(f"  {label}: {len(entries)} entr(ies), oldest {oldest or '—'}: "
                f"{describe_counts(counts)}")


def _raise_api_error(entries: list[etree._Element]) -> None:
    # The API answers a bad query with HTTP 200 and one entry whose id is …/api/errors#….
    if len(entries) == 1 and "/api/errors" in (entries[0].findtext(f"{ATOM}id") or ""):
        summary = " ".join((entries[0].findtext(f"{ATOM}summary") or "unknown error").split())
        raise UpstreamError(f"arXiv API error: {summary[:200]}")


# --- OAI-PMH ---------------------------------------------------------------------------------


def oai_sets(categories: Iterable[str]) -> list[str]:
    """The OAI-PMH sets (arXiv archives) that hold the given categories."""
    sets: list[str] = []
    for category in categories:
        archive = category.strip().split(".", 1)[0]
        if not archive:
            continue
        spec = archive if archive in _TOP_LEVEL_SETS else f"physics:{archive}"
        if spec not in sets:
            sets.append(spec)
    return sorted(sets)


def category_wanted(categories: Iterable[str] | None, wanted: Iterable[str]) -> bool:
    """True when one of ``categories`` is configured (an archive like ``cs`` takes all cs.*)."""
    wanted = list(wanted)
    for category in categories or ():
        for w in wanted:
            if category == w or category.startswith(w + "."):
                return True
    return False


def _plan_oai(ctx: SourceContext, conn: Connection | None) -> dict[str, Any]:
    last = _last_day(conn, "oai")
    start = last if last else _window_start(ctx)
    sets = oai_sets(ctx.settings.arxiv_categories)
    return {
        "method": "oai",
        "match": " ".join(sorted(ctx.settings.arxiv_categories)),
        "today": ctx.today.isoformat(),
        "from": start.isoformat(),
        "sets": [{"set": s, "token": None} for s in sets],
    }


def _run_oai_cycle(ctx: SourceContext, cycle: dict[str, Any] | None) -> None:
    from dailypapers.ingest import arxiv_oai

    wanted = list(ctx.settings.arxiv_categories)
    while cycle and cycle.get("sets"):
        entry = cycle["sets"][0]
        spec, token = entry["set"], entry.get("token")
        ctx.first_time(cycle["id"], spec, token, entry.get("restarts", 0))
        if token:
            params = {"verb": "ListRecords", "resumptionToken": token}
        else:
            params = {"verb": "ListRecords", "metadataPrefix": "arXiv", "set": spec,
                      "from": cycle["from"]}
        fetched = ctx.client.get(ctx.settings.arxiv_oai_url, decode_xml, params=params)
        page = int(entry.get("page", 0)) + 1
        label = f"arxiv-oai:{spec} page {page}"
        error = fetched.value.find(f"{OAI}error")
        restart = False
        items: list[ParsedItem] = []
        refused: list[Refusal] = []
        next_token: str | None = None
        skipped = 0
        if error is not None:
            code = error.get("code", "")
            if code == "noRecordsMatch":  # nothing changed in this set since `from`
                ctx.log(f"  {label}: no records since {cycle['from']}")
            elif code == "badResumptionToken" and token:
                restarts = int(entry.get("restarts", 0)) + 1
                if restarts > MAX_TOKEN_RESTARTS:
                    raise UpstreamError(f"{label}: resumption token refused {restarts} times")
                ctx.log(f"  {label}: resumption token expired, harvesting {spec} again")
                restart = True
            else:
                text = " ".join((error.text or "").split())[:200]
                raise UpstreamError(f"OAI-PMH error {code or '(no code)'} for {label}: {text}")
        else:
            result = arxiv_oai.parse_page(fetched.response.content, file_label=label)
            for item in result.items:
                if category_wanted(item.paper.categories, wanted):
                    items.append(item)
                else:
                    skipped += 1
            refused = list(result.refusals)
            next_token = (result.next_token or "").strip() or None
        cycle_id = cycle["id"]

        def advance(conn: Connection, current: Any) -> dict[str, Any] | None:
            if not isinstance(current, dict) or current.get("id") != cycle_id:
                return None
            sets = current["sets"]
            index = next((i for i, s in enumerate(sets) if s["set"] == spec), None)
            if index is not None:
                if restart:
                    sets[index] = {"set": spec, "token": None,
                                   "restarts": int(sets[index].get("restarts", 0)) + 1}
                elif next_token:
                    sets[index] = {**sets[index], "token": next_token, "page": page}
                else:
                    del sets[index]
            if sets:
                checkpoints.save(conn, CYCLE_KEY, current)
                return current
            _finish(conn, current)
            return None

        counts, cycle = ctx.commit_page(CYCLE_KEY, items, refused, advance)
        if error is None:
            ctx.log(f"  {label}: {len(items)} kept, {skipped} outside the categories: "
                    f"{describe_counts(counts)}")


# --- shared ----------------------------------------------------------------------------------


def _finish(conn: Connection, cycle: dict[str, Any]) -> None:
    checkpoints.delete(conn, CYCLE_KEY)
    key = LAST_DAY_KEYS[cycle["method"]]
    last = checkpoints.load(conn, key)
    if not isinstance(last, str) or last < cycle["today"]:
        checkpoints.save(conn, key, cycle["today"])


def _split(results: Iterable[ParsedItem | Refusal]) -> tuple[list[ParsedItem], list[Refusal]]:
    items: list[ParsedItem] = []
    refused: list[Refusal] = []
    for parsed in results:
        if isinstance(parsed, Refusal):
            refused.append(parsed)
        else:
            items.append(parsed)
    return items, refused


def _int_text(element: etree._Element | None) -> int | None:
    if element is None or not (element.text or "").strip():
        return None
    try:
        return int(element.text.strip())
    except ValueError:
        return None
