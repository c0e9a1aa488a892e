"""The live sync: fetch what is new from Hugging Face and arXiv, resumably and politely.

``dailypapers sync`` runs it once; ``dailypapers serve`` runs it every ``sync_interval_minutes``
(:mod:`dailypapers.jobs`). Each source is one recorded ingest run (``sync:hf``, ``sync:arxiv``),
so ``dailypapers status`` shows the last sync per source with its counts and error.

Modules: :mod:`.runner` (``run_sync``, the report), :mod:`.http` (the polite client),
:mod:`.hf` and :mod:`.arxiv` (one per upstream), :mod:`.checkpoints` (the table below).

Cycles and checkpoints (table ``sync_checkpoints``, values are JSON)
--------------------------------------------------------------------
A sync works through a *cycle*: the list of things to fetch, planned once and saved before the
first request. Every fetched page is stored in its own write transaction **together with** the
cycle row moved past that page, so a run killed at any point leaves whole pages and a cycle that
names exactly what is still to do. The next run finishes that cycle first (without asking again
for what was stored); only when the unfinished cycle was planned on an earlier day does it plan a
fresh one afterwards. When the last page of a cycle is stored, the same transaction deletes the
cycle row and records the day the cycle was planned for.

``hf:cycle``
    ``{"id", "created_at", "today": "YYYY-MM-DD", "backfill": bool, "todo": [{"day":
    "YYYY-MM-DD", "refresh"?: true, "page"?: n, "next"?: "<rel=next path?query>"}, …]}``. Days
    still to fetch, newest first: the new days, then the feature days to refresh. A day with
    ``next`` was stopped between two pages and continues from that link (kept without its
    origin, so a changed ``hf_base_url`` still resumes).
``hf:last_day``
    ``"YYYY-MM-DD"``: ``today`` of the last finished cycle. The next cycle fetches from this day
    (again: its list grows during the day) up to today, plus the latest ``sync_refresh_days``
    feature days in the database. Without it the first cycle backfills ``sync_backfill_days``.
``arxiv:cycle``
    API: ``{"id", "method": "api", "match": "<search_query>", "today", "cutoff": "YYYY-MM-DD",
    "start": n}``; paging continues at ``start``. OAI: ``{"id", "method": "oai", "match":
    "<categories>", "today", "from": "YYYY-MM-DD", "sets": [{"set": "cs", "token": null |
    "<resumptionToken>", "page"?: n, "restarts"?: n}, …]}``; sets still to harvest. A cycle
    made for another method or other categories is dropped and planned again.
``arxiv:api:last_day`` / ``arxiv:oai:last_day``
    ``"YYYY-MM-DD"``: ``today`` of the last finished cycle of that method. The API then pages back
    to that day minus 3 days (arXiv announces late); OAI harvests ``from`` that day.

Deleting the rows is always safe: the next sync plans a backfill again, and the upsert keeps
re-fetched records unchanged.
"""

from dailypapers.sync.runner import SourceReport, SyncReport, run_sync

__all__ = ["SourceReport", "SyncReport", "run_sync"]
