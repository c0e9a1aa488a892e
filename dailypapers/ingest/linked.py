"""Linked repos (the Hugging Face models, datasets and Spaces citing a paper): store and read.

A paper-info answer is the whole truth about its paper's linked repos at the time it was fetched,
so storing replaces the paper's rows wholesale; an identical answer changes nothing. Functions
take a connection and never commit.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dailypapers.db.schema import linked_repo_totals, linked_repos
from dailypapers.ingest.records import LinkedRepos

KINDS = ("model", "dataset", "space")
_CHUNK = 5000
_REPO_COLUMNS = ("kind", "repo_id", "author", "likes", "downloads", "last_modified")


def _rows(rec: LinkedRepos) -> list[dict[str, Any]]:
    position = dict.fromkeys(KINDS, 0)
    out = []
    for repo in rec.repos:
        out.append({
            "paper_id": rec.arxiv_id, "kind": repo.kind, "repo_id": repo.repo_id,
            "position": position[repo.kind], "author": repo.author, "likes": repo.likes,
            "downloads": repo.downloads, "last_modified": repo.last_modified,
        })
        position[repo.kind] += 1
    return out


def _comparable(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted((r["kind"], r["position"], *(r[c] for c in _REPO_COLUMNS)) for r in rows)


def store_linked(conn: Connection, records: list[LinkedRepos], now: dt.datetime) -> set[str]:
    """Replace each paper's linked repos and totals (the last record of a paper in the batch
    wins) and stamp when its answer arrived; return the ids of the papers whose linked repos or
    totals changed."""
    latest = {rec.arxiv_id: rec for rec in records}
    if not latest:
        return set()
    ids = list(latest)
    before_rows: dict[str, list[dict[str, Any]]] = {pid: [] for pid in ids}
    before_totals: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start:start + _CHUNK]
        for row in conn.execute(
            sa.select(linked_repos).where(linked_repos.c.paper_id.in_(chunk))
        ).mappings():
            before_rows[row["paper_id"]].append(dict(row))
        for row in conn.execute(
            sa.select(linked_repo_totals).where(linked_repo_totals.c.paper_id.in_(chunk))
        ).mappings():
            before_totals[row["paper_id"]] = dict(row)
    changed: set[str] = set()
    unchanged: list[str] = []
    inserts: list[dict[str, Any]] = []
    totals: list[dict[str, Any]] = []
    for pid, rec in latest.items():
        rows = _rows(rec)
        old = before_totals.get(pid)
        same_totals = old is not None and (old["num_models"], old["num_datasets"]) == (
            rec.num_models, rec.num_datasets)
        if same_totals and _comparable(rows) == _comparable(before_rows[pid]):
            unchanged.append(pid)
            continue
        changed.add(pid)
        inserts += rows
        totals.append({"paper_id": pid, "num_models": rec.num_models,
                       "num_datasets": rec.num_datasets, "fetched_at": now})
    for start in range(0, len(totals), _CHUNK):
        chunk = [t["paper_id"] for t in totals[start:start + _CHUNK]]
        conn.execute(linked_repos.delete().where(linked_repos.c.paper_id.in_(chunk)))
        conn.execute(linked_repo_totals.delete().where(linked_repo_totals.c.paper_id.in_(chunk)))
    if totals:
        conn.execute(linked_repo_totals.insert(), totals)
    for start in range(0, len(unchanged), _CHUNK):  # the same answer again: only its time moves
        conn.execute(linked_repo_totals.update().where(
            linked_repo_totals.c.paper_id.in_(unchanged[start:start + _CHUNK])).values(fetched_at=now))
    if inserts:
        conn.execute(linked_repos.insert(), inserts)
    return changed


def linked_of(conn: Connection, paper_id: str) -> dict[str, Any] | None:
    """``{"repos": {kind: [row, …] in upstream order}, "totals": {kind: int | None}}``, or None
    when no paper-info answer was ever imported for the paper."""
    totals = conn.execute(
        sa.select(linked_repo_totals).where(linked_repo_totals.c.paper_id == paper_id)
    ).mappings().first()
    if totals is None:
        return None
    repos: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
    for row in conn.execute(
        sa.select(linked_repos).where(linked_repos.c.paper_id == paper_id)
        .order_by(linked_repos.c.kind, linked_repos.c.position)
    ).mappings():
        if row["kind"] in repos:
            repos[row["kind"]].append(dict(row))
    return {
        "repos": repos,
        "totals": {"model": totals["num_models"], "dataset": totals["num_datasets"],
                   "space": None},
    }
