"""What every source sync gets from the runner: settings, the client, its run, one commit helper."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Connection, Engine

from dailypapers.db import data_version
from dailypapers.db.engine import write_transaction
from dailypapers.ingest.records import ParsedItem, Refusal
from dailypapers.ingest.service import Counts, record_progress, store_items
from dailypapers.ingest.validate import RecordLimits
from dailypapers.settings import Settings
from dailypapers.sync import checkpoints
from dailypapers.sync.http import PoliteClient, UpstreamError

Log = Callable[[str], None]
Advance = Callable[[Connection, Any], Any]


@dataclass
class SourceContext:
    settings: Settings
    engine: Engine
    client: PoliteClient
    log: Log
    today: dt.date
    run_id: int
    counts: Counts = field(default_factory=Counts)
    pages: int = 0
    _asked: set[tuple[Any, ...]] = field(default_factory=set)

    def first_time(self, *key: Any) -> None:
        """Refuse to ask for the same page twice in one cycle: a checkpoint that does not move
        (an upstream repeating its rel=next link or resumption token) would loop forever."""
        if key in self._asked:
            raise UpstreamError(f"the sync would fetch {key[1:]} again; stopping to avoid a loop")
        self._asked.add(key)

    def commit_page(
        self,
        key: str,
        items: Iterable[ParsedItem],
        refused: Iterable[Refusal],
        advance: Advance,
    ) -> tuple[Counts, Any]:
        """Store one fetched page and move the checkpoint ``key`` past it, in one transaction.

        ``advance(conn, current)`` gets the checkpoint value as committed (locked on PostgreSQL)
        and writes the next one; what it returns is handed back. A crash before the commit
        leaves neither the rows nor the checkpoint; after it, both.
        """
        with write_transaction(self.engine) as conn:
            current = checkpoints.load(conn, key, for_update=True)
            limits = RecordLimits.from_settings(self.settings)
            counts = store_items(conn, list(items), limits=limits)
            refused = list(refused)
            counts.refused += len(refused)
            counts.refusal_list.extend(refused)
            record_progress(conn, self.run_id, counts)
            state = advance(conn, current)
            if not counts.changed:  # a page seen before: its run and checkpoint show nowhere
                data_version.unchanged(conn)
        self.counts.add(counts)
        self.pages += 1
        return counts, state

    def start_cycle(
        self,
        key: str,
        plan: Callable[[Connection], dict[str, Any]],
        *,
        accept: Callable[[dict[str, Any]], bool] = lambda _cycle: True,
    ) -> tuple[dict[str, Any], bool]:
        """``(cycle, resumed)``: the unfinished cycle under ``key`` if ``accept`` takes it, else
        a new one from ``plan``, saved in the same transaction (so two syncs starting together
        share one cycle)."""
        with write_transaction(self.engine, changes=None) as conn:  # a checkpoint: shown nowhere
            cycle = checkpoints.load(conn, key, for_update=True)
            if isinstance(cycle, dict) and cycle.get("id") and accept(cycle):
                return cycle, True
            if cycle is not None:
                self.log(f"  dropping an unfinished cycle made for other settings: {key}")
            cycle = plan(conn)
            cycle["id"] = uuid.uuid4().hex[:12]
            cycle["created_at"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
            checkpoints.save(conn, key, cycle)
        return cycle, False


def describe_counts(counts: Counts) -> str:
    return (
        f"{counts.inserted} inserted, {counts.updated} updated, {counts.unchanged} unchanged, "
        f"{counts.refused} refused"
    )
