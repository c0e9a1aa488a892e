"""Store normalised records: one idempotent upsert for every source.

Rules, in one place:
- the same paper from any number of sources is one row, keyed by its version-less arXiv id;
- arXiv sources win bibliographic fields (a newer arXiv version replaces an older one); Hugging
  Face fills them only until an arXiv source has spoken;
- Hugging Face wins upvotes, comment counts, links and its ``ai_*`` fields; links found in an
  abstract or comments only fill a gap;
- re-importing the same record changes nothing and is counted as unchanged;
- every record is checked first (``validate.check_item``): a record that cannot be taken is a
  refusal with its id and reason and the rest of the batch lands; a part of a record that cannot be
  taken (a ``javascript:`` link, an abstract past its limit) is dropped or cut and noted as a
  refusal of that field, and the record lands without it.

Functions here take a connection and never commit: the caller owns the transaction.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dailypapers.db.engine import db_now
from dailypapers.db.schema import feature_days, ingest_runs, papers, refusals
from dailypapers.ingest.linked import store_linked
from dailypapers.ingest.records import (
    ARXIV_SOURCES,
    FeatureRecord,
    PaperRecord,
    ParsedItem,
    Refusal,
)
from dailypapers.ingest.validate import (
    DEFAULT_LIMITS,
    RecordLimits,
    RecordRefused,
    check_item,
    clean_text,
)
from dailypapers.ingest.runs import close_interrupted_runs, this_host
from dailypapers.rank.stored import refresh_scores
from dailypapers.rank.trending import TrendingParams

BIB_FIELDS = (
    "title", "abstract", "authors", "categories", "primary_category", "submitted_at",
    "updated_at", "comments", "journal_ref", "doi", "license",
)
HF_FIELDS = (
    "hf_published_at", "github_stars", "ai_summary", "ai_keywords", "upvotes", "num_comments",
    "discussion_id", "thumbnail", "media_urls", "organization", "withdrawn_at",
)
LINK_FIELDS = ("github_repo", "project_page")
FEATURE_FIELDS = (
    "upvotes", "num_comments", "published_at", "submitted_on_daily_at", "submitter_name",
    "submitter", "organization", "is_author_participating",
)
# A feature day one of our users submitted (community/submissions.py) keeps these.
LOCAL_SOURCE = "local"
_SUBMITTER_FIELDS = frozenset({"submitter_name", "submitter", "submitted_on_daily_at"})
_ROW_CLOCK = ("first_seen_at", "row_updated_at")
_NOT_IMPORTED = frozenset({"id", "local_upvotes", "local_comments", "counts_updated_at"})
_CHUNK = 5000  # ids per IN (...) lookup (SQLite allows 32,766 variables since 3.32)


@dataclass
class Counts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    # One per refusal line: a whole record, or a part of one that landed without it. ``trimmed``
    # counts the latter (links dropped, fields cut), so refused == len(refusal_list) always.
    refused: int = 0
    trimmed: int = 0
    features_inserted: int = 0
    refusal_list: list[Refusal] = field(default_factory=list)

    def add(self, other: Counts) -> None:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.refused += other.refused
        self.trimmed += other.trimmed
        self.features_inserted += other.features_inserted
        self.refusal_list.extend(other.refusal_list)

    @property
    def total(self) -> int:
        return self.inserted + self.updated + self.unchanged

    @property
    def changed(self) -> bool:
        """Whether a row anyone reads was written (refusals and unchanged records write none)."""
        return bool(self.inserted or self.updated)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def store_items(
    conn: Connection,
    items: Iterable[ParsedItem],
    *,
    demo: bool = False,
    limits: RecordLimits = DEFAULT_LIMITS,
    trending: TrendingParams | None = None,
) -> Counts:
    """Upsert one batch of parsed items. Duplicates inside the batch merge in order.

    Each item is checked first (``validate.check_item`` with ``limits``; callers pass
    ``RecordLimits.from_settings``): refusals and notes come back in the counts. Feature days
    whose trending inputs changed (new days, upvotes, comments, time featured) get their stored
    score in this transaction, with ``trending`` (default: the process's settings).
    """
    counts = Counts()
    items = _checked(items, limits, counts)
    if not items:
        return counts
    now = db_now(conn)  # the stamp the indexes' watermarks compare with
    ids = list(dict.fromkeys(item.paper.arxiv_id for item in items))
    existing = _fetch_by_ids(conn, papers, papers.c.id, ids)
    working: dict[str, dict[str, Any]] = {}
    per_item: list[tuple[ParsedItem, str]] = []
    for item in items:
        pid = item.paper.arxiv_id
        before = working.get(pid) or existing.get(pid)
        merged = merge_paper(before, item.paper, demo=demo, now=now)
        if pid not in existing and pid not in working:
            state = "inserted"
        elif _differs(merged, before):
            state = "updated"
        else:
            state = "unchanged"
        working[pid] = merged
        per_item.append((item, state))

    inserts = [row for pid, row in working.items() if pid not in existing]
    updates = [
        row for pid, row in working.items()
        if pid in existing and _differs(row, existing[pid])
    ]
    if inserts:
        insert_rows(conn, papers, inserts)
    if updates:
        conn.execute(
            papers.update().where(papers.c.id == sa.bindparam("b_id")),
            # Our counts are the votes' to change: writing back the value read above would undo
            # a vote committed meanwhile.
            [{**{k: v for k, v in row.items() if k not in _NOT_IMPORTED}, "b_id": row["id"]}
             for row in updates],
        )

    feature_states = _store_features(conn, [i.feature for i in items if i.feature], demo, now)
    counts.features_inserted = sum(1 for s in feature_states.values() if s == "inserted")
    rescore = {row["id"] for row in inserts} | {
        row["id"] for row in updates
        if any(row[k] != existing[row["id"]][k] for k in ("upvotes", "num_comments"))
    } | {pid for (pid, _day), f_state in feature_states.items() if f_state != "unchanged"}
    if rescore:
        refresh_scores(conn, rescore, trending or TrendingParams.current())
    links_changed = store_linked(conn, [i.linked for i in items if i.linked], now)
    for item, state in per_item:
        f_state = (
            feature_states.get((item.feature.arxiv_id, item.feature.day)) if item.feature else None
        )
        if state == "inserted":
            counts.inserted += 1
        elif (state == "updated" or f_state in ("inserted", "updated")
              or (item.linked is not None and item.paper.arxiv_id in links_changed)):
            counts.updated += 1
        else:
            counts.unchanged += 1
    return counts


def _checked(items: Iterable[ParsedItem], limits: RecordLimits, counts: Counts) -> list[ParsedItem]:
    """The items that may be stored, made safe; refusals and notes added to ``counts``."""
    kept: list[ParsedItem] = []
    for item in items:
        try:
            clean, notes = check_item(item, limits)
        except RecordRefused as exc:
            _refuse(counts, Refusal(reason=str(exc), record_id=_record_id(item)))
            continue
        except Exception as exc:  # noqa: BLE001 - one record's surprise must not sink the batch
            reason = f"could not be checked: {type(exc).__name__}: {exc}"
            _refuse(counts, Refusal(reason=reason, record_id=_record_id(item)))
            continue
        kept.append(clean)
        for note in notes:
            _refuse(counts, note)
            counts.trimmed += 1
    return kept


def _refuse(counts: Counts, refusal: Refusal) -> None:
    counts.refused += 1
    counts.refusal_list.append(refusal)


def _record_id(item: object) -> str | None:
    arxiv_id = getattr(getattr(item, "paper", None), "arxiv_id", None)
    return clean_text(arxiv_id)[:128] if isinstance(arxiv_id, str) else None


def merge_paper(
    before: dict[str, Any] | None, rec: PaperRecord, *, demo: bool, now: dt.datetime
) -> dict[str, Any]:
    """The row after ``rec`` lands on ``before`` (None for a new paper)."""
    row = dict(before) if before else _blank_row(rec.arxiv_id, demo, now)
    incoming = _record_columns(rec)
    from_arxiv = rec.source in ARXIV_SOURCES
    if before is None:
        take_bib = True
    elif from_arxiv:
        take_bib = _arxiv_wins(before, rec)
    else:
        take_bib = before["bib_source"] not in ARXIV_SOURCES
    if take_bib:
        changed = False
        for name in BIB_FIELDS:
            if incoming[name] is not None and row[name] != incoming[name]:
                row[name] = incoming[name]
                changed = True
        if rec.version is not None and row["version"] != rec.version:
            row["version"] = rec.version
            changed = True
        # Name the source that last changed something, so re-importing agreeing sources is a no-op.
        if changed or before is None or (from_arxiv and row["bib_source"] not in ARXIV_SOURCES):
            row["bib_source"] = rec.source
    if not from_arxiv:
        for name in HF_FIELDS:
            if incoming[name] is not None:
                row[name] = incoming[name]
    for name in LINK_FIELDS:
        value = incoming[name]
        if value is not None and (not from_arxiv or not row.get(name)):
            row[name] = value
    row["sources"] = ",".join(sorted(set(filter(None, row["sources"].split(","))) | {rec.source}))
    if not demo:
        row["is_demo"] = False
    if before is not None and _differs(row, before):
        row["row_updated_at"] = now
    return row


def _arxiv_wins(before: dict[str, Any], rec: PaperRecord) -> bool:
    if before["bib_source"] not in ARXIV_SOURCES:
        return True
    if rec.version is not None and before.get("version") is not None:
        return rec.version >= before["version"]
    theirs = (before.get("updated_at") or before.get("submitted_at") or "")[:10]
    ours = (rec.updated_at or rec.submitted_at or "")[:10]
    return ours >= theirs


def _record_columns(rec: PaperRecord) -> dict[str, Any]:
    return {
        "title": rec.title,
        "abstract": rec.abstract,
        "authors": [a.to_json() for a in rec.authors] if rec.authors is not None else None,
        "categories": list(rec.categories) if rec.categories is not None else None,
        "primary_category": rec.primary_category,
        "submitted_at": rec.submitted_at,
        "updated_at": rec.updated_at,
        "comments": rec.comments,
        "journal_ref": rec.journal_ref,
        "doi": rec.doi,
        "license": rec.license,
        "hf_published_at": rec.hf_published_at,
        "github_repo": rec.github_repo,
        "github_stars": rec.github_stars,
        "project_page": rec.project_page,
        "ai_summary": rec.ai_summary,
        "ai_keywords": rec.ai_keywords,
        "upvotes": rec.upvotes,
        "num_comments": rec.num_comments,
        "discussion_id": rec.discussion_id,
        "thumbnail": rec.thumbnail,
        "media_urls": rec.media_urls,
        "organization": rec.organization.to_json() if rec.organization else None,
        "withdrawn_at": rec.withdrawn_at,
    }


_EMPTY_PAPER = {c.name: None for c in papers.columns}


def _blank_row(arxiv_id: str, demo: bool, now: dt.datetime) -> dict[str, Any]:
    row = dict(_EMPTY_PAPER)
    row.update(
        id=arxiv_id, title="", abstract="", authors=[], categories=[], upvotes=0, local_upvotes=0,
        local_comments=0,
        num_comments=0, bib_source="", sources="", is_demo=demo, first_seen_at=now,
        row_updated_at=now,
    )
    return row


def _store_features(
    conn: Connection, records: list[FeatureRecord], demo: bool, now: dt.datetime
) -> dict[tuple[str, dt.date], str]:
    if not records:
        return {}
    ids = list(dict.fromkeys(r.arxiv_id for r in records))
    existing: dict[tuple[str, dt.date], dict[str, Any]] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start:start + _CHUNK]
        for row in conn.execute(
            sa.select(feature_days).where(feature_days.c.paper_id.in_(chunk))
        ).mappings():
            existing[(row["paper_id"], row["day"])] = dict(row)
    states: dict[tuple[str, dt.date], str] = {}
    inserts: dict[tuple[str, dt.date], dict[str, Any]] = {}
    updates: dict[tuple[str, dt.date], dict[str, Any]] = {}
    for rec in records:
        key = (rec.arxiv_id, rec.day)
        incoming = {
            "upvotes": rec.upvotes,
            "num_comments": rec.num_comments,
            "published_at": rec.published_at,
            "submitted_on_daily_at": rec.submitted_on_daily_at,
            "submitter_name": rec.submitted_by.username if rec.submitted_by else None,
            "submitter": rec.submitted_by.to_json() if rec.submitted_by else None,
            "organization": rec.organization.to_json() if rec.organization else None,
            "is_author_participating": rec.is_author_participating,
        }
        if key in inserts:
            _overlay(inserts[key], incoming)
            continue
        before = updates.get(key) or existing.get(key)
        if before is None:
            row = {
                "paper_id": rec.arxiv_id, "day": rec.day, "source": rec.source, "upvotes": 0,
                "num_comments": 0, "is_demo": demo, "first_seen_at": now, "row_updated_at": now,
                **{k: None for k in FEATURE_FIELDS if k not in ("upvotes", "num_comments")},
            }
            _overlay(row, incoming)
            inserts[key] = row
            states[key] = "inserted"
            continue
        row = dict(before)
        if before["source"] == LOCAL_SOURCE:
            # Our user put it on this day's list first: their name stays on it (the user page
            # and "submitted by" follow submitter_user_id); upstream's counts and the rest land.
            incoming = {k: v for k, v in incoming.items() if k not in _SUBMITTER_FIELDS}
        _overlay(row, incoming)
        if not demo:
            row["is_demo"] = False
        if any(row[k] != before[k] for k in (*FEATURE_FIELDS, "is_demo")):
            row["row_updated_at"] = now
            updates[key] = row
            states[key] = "updated"
        else:
            states.setdefault(key, "unchanged")
    if inserts:
        insert_rows(conn, feature_days, list(inserts.values()))
    if updates:
        conn.execute(
            feature_days.update().where(feature_days.c.id == sa.bindparam("b_id")),
            [
                {**{k: row[k] for k in (*FEATURE_FIELDS, "is_demo", "row_updated_at")},
                 "b_id": row["id"]}
                for row in updates.values()
            ],
        )
    return states


def insert_rows(conn: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Insert many new rows fast: COPY on PostgreSQL, a plain driver executemany on SQLite.

    Bulk imports spend most of their storing time here; SQLAlchemy's per-row parameter handling
    costs more than the database itself, so values go through the column types' own converters
    once and straight to the driver.
    """
    if len(rows) < 50 or conn.dialect.name not in ("postgresql", "sqlite"):
        conn.execute(table.insert(), rows)
        return
    columns = [c for c in table.columns if c.name in rows[0]]
    names = [c.name for c in columns]
    if conn.dialect.name == "postgresql":
        json_columns = {c.name for c in columns if isinstance(c.type, sa.JSON)}
        dbapi = conn.connection.dbapi_connection
        quoted = ", ".join(f'"{name}"' for name in names)
        with dbapi.cursor() as cursor:  # type: ignore[union-attr]
            with cursor.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy:
                for row in rows:
                    copy.write_row([
                        (json.dumps(row[n]) if row[n] is not None else None)
                        if n in json_columns else row[n]
                        for n in names
                    ])
        return
    converters = [c.type.bind_processor(conn.dialect) for c in columns]
    pairs = list(zip(names, converters))
    sql = f'INSERT INTO "{table.name}" ({", ".join(chr(34) + n + chr(34) for n in names)}) ' \
          f'VALUES ({", ".join("?" * len(names))})'
    conn.exec_driver_sql(
        sql,
        [tuple([conv(row[n]) if conv else row[n] for n, conv in pairs]) for row in rows],
    )


def _overlay(row: dict[str, Any], incoming: dict[str, Any]) -> None:
    for name, value in incoming.items():
        if value is not None:
            row[name] = value


def _fetch_by_ids(
    conn: Connection, table: sa.Table, column: sa.Column, ids: list[str]
) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start:start + _CHUNK]
        for row in conn.execute(sa.select(table).where(column.in_(chunk))).mappings():
            found[row[column.name]] = dict(row)
    return found


def _differs(row: dict[str, Any], before: dict[str, Any] | None) -> bool:
    if before is None:
        return True
    return any(row[k] != before.get(k) for k in row if k not in _ROW_CLOCK)


# --- ingest runs: every import and sync leaves a row, with its refusals ---------------------


def start_run(conn: Connection, source: str, detail: str | None = None) -> int:
    """A new ``running`` run of ``source``, recorded with this process (see ingest/runs.py);
    earlier runs of the same source whose process is gone are marked interrupted."""
    close_interrupted_runs(conn, source)
    now = utcnow()
    result = conn.execute(
        ingest_runs.insert().values(
            source=source, detail=detail, status="running", started_at=now,
            pid=os.getpid(), host=this_host(), heartbeat_at=now,
        )
    )
    return int(result.inserted_primary_key[0])


def record_progress(conn: Connection, run_id: int, counts: Counts) -> None:
    """Add a committed batch's counts and refusals to its run."""
    conn.execute(
        ingest_runs.update()
        .where(ingest_runs.c.id == run_id)
        .values(
            inserted=ingest_runs.c.inserted + counts.inserted,
            updated=ingest_runs.c.updated + counts.updated,
            unchanged=ingest_runs.c.unchanged + counts.unchanged,
            refused=ingest_runs.c.refused + counts.refused,
            heartbeat_at=utcnow(),
        )
    )
    if counts.refusal_list:
        conn.execute(
            refusals.insert(),
            [
                {"run_id": run_id, "file": _plain(r.file, 1000), "position": _plain(r.position, 64),
                 "record_id": _plain(r.record_id, 128), "reason": _plain(r.reason, 2000) or "?"}
                for r in counts.refusal_list
            ],
        )


def _plain(value: str | None, width: int) -> str | None:
    """A refusal's text as it can be stored: it may quote the very bytes that were refused (NUL,
    a lone surrogate, a file name that is not UTF-8) and must fit its column."""
    if value is None:
        return None
    return clean_text(str(value))[:width]


def finish_run(conn: Connection, run_id: int, *, status: str, error: str | None = None) -> bool:
    """End the run; whether it stored or changed any record (only an ok run that did is "Data
    last updated", catalog.last_updated)."""
    conn.execute(
        ingest_runs.update()
        .where(ingest_runs.c.id == run_id)
        .values(status=status, finished_at=utcnow(), error=error)
    )
    stored = conn.execute(sa.select(ingest_runs.c.inserted + ingest_runs.c.updated)
                          .where(ingest_runs.c.id == run_id)).scalar()
    return bool(stored)
