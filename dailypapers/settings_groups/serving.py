"""Search, the response cache, the task queue, logs and metrics."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings

from dailypapers.settings_groups import one_of, refused

ANN_MIN_VECTORS = 100_000  # why this many: dailypapers/index/ann.py


def safe_queue_url(url: str) -> str:
    """The queue URL without its password, for messages and pages."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url[:200]
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        user = f"{parts.username}:***@" if parts.username else ":***@"
        return parts._replace(netloc=f"{user}{host}{port}").geturl()[:200]
    except ValueError:
        return "(unreadable URL)"


def _redis_url_or_empty(value: str) -> str:
    value = value.strip()
    if value and value.split("://", 1)[0] not in ("redis", "rediss", "unix"):
        raise ValueError("must be empty or "
                         f"redis://host:port/db, got {safe_queue_url(value)!r}")
    return value


class SearchSettings(BaseSettings):
    embedder: str = Field(
        default="minilm-int8",
        description="minilm-int8 (bundled, offline), openai:<base url>#<model> or st:<model>",
    )
    search_fusion: str = Field(default="convex", description="convex (scores) or rrf (ranks)")
    search_alpha: float = Field(default=0.4, description="Keyword weight of the convex fusion")
    search_alpha_short: float = Field(
        default=0.7, description="Keyword weight for queries of 8 words or fewer"
    )
    search_rrf_k: float = Field(default=60.0, description="Reciprocal rank fusion constant")
    ann_min_vectors: int = Field(
        default=ANN_MIN_VECTORS,
        description="From this many vectors on, an HNSW graph proposes candidates (0: never)",
    )
    search_budget_ms: float = Field(
        default=2000.0, gt=0,
        description="Time one search may take; past it the answer is what it has, marked partial",
    )
    search_concurrency: int = Field(
        default=4, ge=1, description="Searches one server process runs at once; more wait"
    )
    search_queue_seconds: float = Field(
        default=2.0, ge=0,
        description="How long a search waits for a free slot before a 503 with Retry-After",
    )
    index_interval_seconds: float = Field(
        default=10.0, description="How often the server catches its indexes up with the database"
    )

    @field_validator("embedder")
    @classmethod
    def _known_embedder(cls, value: str) -> str:
        """Checked here so a typo is one line at start, not a traceback at the first search."""
        url, _, model = value.removeprefix("openai:").partition("#")
        if (value in ("minilm-int8", "all-MiniLM-L6-v2-int8")
                or (value.startswith("openai:") and url and model)
                or (value.startswith("st:") and value != "st:")):
            return value
        raise ValueError("unknown embedder: use minilm-int8, openai:<base url>#<model> or "
                         "st:<model folder or package>")


class CacheSettings(BaseSettings):
    cache_bytes: int = Field(
        default=32 << 20, ge=0,
        description="Memory each web process may spend on cached anonymous answers (0: none)",
    )
    cache_seconds: float = Field(
        default=60.0, gt=0,
        description="The longest a cached anonymous answer that used the keyword index or the date "
        "is served (a write ends it sooner); other answers live until a write ends them",
    )
    cache_vote_lag_seconds: float = Field(
        default=0.0, ge=0, le=60,
        description="How long a cached anonymous answer that votes changed is still served, "
        "while one refresh renders it anew (0: never; the next request renders it)",
    )
    cache_refresh_concurrency: int = Field(
        default=1, ge=1, le=1000,
        description="Refreshes of voted answers (DAILYPAPERS_CACHE_VOTE_LAG_SECONDS) each web "
        "process renders at once; the others wait their turn, their old answer served meanwhile "
        "(never longer than DAILYPAPERS_CACHE_SECONDS after the change was seen)",
    )
    render_concurrency: int = Field(
        default=40, ge=1, le=1000,
        description="Pages and API answers each web process renders at once; more wait on its "
        "event loop, which keeps answering cached ones and static files meanwhile",
    )
    cache_shared_url: str = Field(
        default="", description="redis://host:port/db where the web processes share their "
        "cached anonymous answers (empty: each keeps its own only)",
    )

    @field_validator("cache_shared_url")
    @classmethod
    def _shared_cache_url(cls, value: str) -> str:
        return _redis_url_or_empty(value)


class QueueSettings(BaseSettings):
    embed_in_background: bool = Field(
        default=True, description="Embed new papers in the background of `serve` (one core at "
        "most): in its one process, or with --workers in the supervisor, never in a web process"
    )
    # The task queue (dailypapers/queue.py): empty = the embedded mode, jobs on a thread of serve.
    queue_url: str = Field(
        default="",
        description="redis://host:port/db of the task queue that `dailypapers worker` and "
        "`dailypapers scheduler` share; empty: `serve` runs the jobs on a thread of its own",
    )
    queue_prefix: str = Field(
        default="dailypapers", min_length=1, max_length=64,
        description="Prefix of the queue's Redis keys (several sites may share one Redis)",
    )
    queue_max_retries: int = Field(
        default=5, ge=0, description="How often a failed task is retried, with backoff doubling "
        "from DAILYPAPERS_QUEUE_RETRY_SECONDS",
    )
    queue_retry_seconds: float = Field(
        default=15.0, gt=0, description="Backoff before a failed task's first retry (doubles, "
        "at most an hour)",
    )
    queue_dead_worker_seconds: float = Field(
        default=60.0, gt=0, description="A worker silent this long is dead: the queue gives "
        "its unfinished tasks to another",
    )
    job_lease_seconds: float = Field(
        default=600.0, gt=0, description="A scheduled slot whose job has neither finished nor "
        "shown a sign of life this long is enqueued again by the scheduler",
    )
    embed_interval_minutes: float = Field(
        default=1.0, gt=0, description="How often the scheduler enqueues embedding of papers "
        "that have no vector (with DAILYPAPERS_QUEUE_URL)",
    )

    @field_validator("queue_url")
    @classmethod
    def _queue_url(cls, value: str) -> str:
        return _redis_url_or_empty(value)


class ObservabilitySettings(BaseSettings):
    log_format: str = Field(
        default="auto",
        description="text, json (one object per line) or auto: text on a terminal, else json",
    )
    metrics_allow: list[str] = Field(
        default_factory=lambda: ["127.0.0.1", "::1"],
        description="Client addresses or networks (JSON list) that may read /metrics; [] turns "
        "it off",
    )
    metrics_dir: str = Field(
        default="",
        description="prometheus-client's multiprocess folder; empty: <data_dir>/metrics "
        "($PROMETHEUS_MULTIPROC_DIR wins when set)",
    )
    debug: bool = Field(
        default=False,
        description="Errors show their traceback too (like `dailypapers -v`); read by the command "
        "before the other settings, so it works when they are wrong",
    )

    @field_validator("log_format")
    @classmethod
    def _log_format(cls, value: str, info: Any) -> str:
        return one_of(info, value, ("auto", "text", "json"))

    @field_validator("metrics_allow")
    @classmethod
    def _addresses_or_networks(cls, value: list[str], info: Any) -> list[str]:
        import ipaddress

        for entry in value:
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError:
                raise refused(info, "must list IP addresses or networks such as 127.0.0.1 or "
                              "10.0.0.0/8", entry, 60) from None
        return value
