"""What `dailypapers status` prints: contents, the last run per source, recent refusals, and how
far the search indexes have caught up."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dailypapers import catalog
from dailypapers.db.schema import feature_days, ingest_runs, paper_embeddings, papers, refusals
from dailypapers.ingest.runs import describe_gone, shown_status, utcnow
from dailypapers.web.filters import timestamp


def gather_status(conn: Connection, recent_refusals: int = 10) -> list[str]:
    n_papers = conn.execute(sa.select(sa.func.count()).select_from(papers)).scalar() or 0
    entries, days = conn.execute(
        sa.select(sa.func.count(), sa.func.count(sa.distinct(feature_days.c.day)))
    ).one()
    lines = [
        f"Papers:   {n_papers}",
        f"Featured: {entries} featured {_plural(entries, 'entry', 'entries')} on {days} "
        f"{_plural(days, 'day', 'days')}, latest {catalog.latest_day(conn) or '—'}",
        "Last run per source:",
    ]
    latest = (
        sa.select(ingest_runs.c.source, sa.func.max(ingest_runs.c.id).label("id"))
        .group_by(ingest_runs.c.source).subquery()
    )
    rows = conn.execute(
        sa.select(ingest_runs).join(latest, latest.c.id == ingest_runs.c.id)
        .order_by(ingest_runs.c.source)
    ).mappings()
    any_run = False
    now = utcnow()
    for run in rows:
        any_run = True
        shown = shown_status(run, now)
        error = run["error"]
        if shown == "interrupted" and run["status"] == "running":  # not yet marked by a later run
            error = f"{describe_gone(run)}; the next {run['source'].split(':')[0]} resumes it"
        lines.append(
            f"  {run['source']:<12} {shown:<8} started {timestamp(run['started_at'])}, "
            f"finished {timestamp(run['finished_at']) if run['finished_at'] else '—'}: "
            f"{run['inserted']} inserted, {run['updated']} updated, {run['unchanged']} unchanged, "
            f"{run['refused']} refused" + (f" — {error}" if error else "")
        )
    if not any_run:
        lines.append("  (none yet)")
    recent = conn.execute(
        sa.select(refusals, ingest_runs.c.source)
        .join(ingest_runs, ingest_runs.c.id == refusals.c.run_id)
        .order_by(refusals.c.id.desc()).limit(recent_refusals)
    ).mappings().all()
    lines.append(f"Recent refusals: {len(recent) or 'none'}")
    for r in recent:
        where = ":".join(p for p in (r["file"], r["position"]) if p)
        lines.append(f"  [{r['source']}] {where} {r['record_id'] or ''} {r['reason']}".rstrip())
    return lines


def _plural(n: int, one: str, many: str) -> str:
    return one if n == 1 else many


def search_status(conn: Connection, data_dir: Path, embedder: str) -> list[str]:
    """The keyword index's size and watermark, and how many papers have a vector."""
    from dailypapers.index import keyword_store
    from dailypapers.index.embedder import embedder_name

    lines = ["Search:"]
    path = keyword_store.keyword_dir(data_dir)
    gen = keyword_store.current_generation(path)
    if gen is None:
        lines.append("  keyword index: not built yet (the server builds it at start, "
                     "or run `dailypapers reindex`)")
    else:
        state = keyword_store.read_state(gen)
        mark = state.get("watermark")
        lines.append(f"  keyword index: {state.get('documents', '?')} papers, caught up to "
                     f"{timestamp(dt.datetime.fromisoformat(mark)) if mark else '—'} ({gen})")
    try:
        model = embedder_name(embedder)
    except ValueError as e:
        lines.append(f"  embeddings: {e}")
        return lines
    total = conn.execute(sa.select(sa.func.count()).select_from(papers)).scalar() or 0
    e = paper_embeddings.alias("e")  # one vector per paper and model
    embedded, current = conn.execute(
        sa.select(sa.func.count(e.c.seq),
                  sa.func.count(e.c.seq).filter(e.c.created_at >= papers.c.row_updated_at))
        .select_from(papers.outerjoin(e, sa.and_(e.c.paper_id == papers.c.id, e.c.model == model)))
    ).one()
    lines.append(f"  embeddings ({model}): {embedded} of {total} papers, "
                 f"{total - current} waiting (new or changed)")
    return lines


def vector_coverage(conn: Connection, embedder: str) -> tuple[int, int]:
    """(papers with a vector of ``embedder``'s model, all papers)."""
    from dailypapers.index.embedder import embedder_name

    model = embedder_name(embedder)
    total = conn.execute(sa.select(sa.func.count()).select_from(papers)).scalar() or 0
    embedded = conn.execute(
        sa.select(sa.func.count(sa.distinct(paper_embeddings.c.paper_id)))
        .where(paper_embeddings.c.model == model)
    ).scalar() or 0
    return embedded, total


def coverage_note(mode: str, embedded: int, total: int) -> str:
    """What a search's mode really was, given how many papers have vectors."""
    if mode == "keyword" or embedded >= total:
        return mode
    if embedded == 0:
        return ("keyword only: no paper has a vector yet, run `dailypapers reindex`"
                if mode == "hybrid" else
                "dense: no paper has a vector yet, run `dailypapers reindex`")
    share = 100.0 * embedded / total
    shown = f"{share:.0f}%" if share >= 1 else f"{share:.1g}%"
    return f"{mode}; meaning covers {shown} of papers, {embedded} of {total} have vectors"
