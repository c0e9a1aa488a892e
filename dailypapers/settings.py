"""One Settings object, read from DAILYPAPERS_* environment variables and an optional TOML file.

The file is ``$DAILYPAPERS_CONFIG`` if set, else ``dailypapers.toml`` in the working directory when
present. Environment variables win over the file.
"""

from __future__ import annotations

import datetime as dt
import os
import zoneinfo
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DEFAULT_CATEGORIES = ["cs.LG", "cs.CL", "cs.CV", "cs.AI", "stat.ML"]
ANN_MIN_VECTORS = 100_000  # why this many: dailypapers/index/ann.py
# Record size limits (what each does past the limit: dailypapers/ingest/validate.py). Real arXiv
# titles stay under ~300 characters and abstracts under 1,920; a few physics papers list ~3,000
# authors.
MAX_TITLE_CHARS = 1000
MAX_ABSTRACT_CHARS = 20_000
MAX_AUTHORS = 1000
MAX_NAME_CHARS = 300


def _config_file() -> Path | None:
    explicit = os.environ.get("DAILYPAPERS_CONFIG")
    if explicit:
        return Path(explicit)
    local = Path("dailypapers.toml")
    return local if local.exists() else None


# Settings that take one word of a fixed list, as the error message names them.
_CHOICES: dict[str, tuple[str, ...]] = {
    "mail_backend": ("smtp", "file", "console"),
    "mail_smtp_security": ("starttls", "tls", "none"),
    "log_format": ("auto", "text", "json"),
}


def _refused(info: Any, requirement: str, value: str, shown: int = 100) -> ValueError:
    """The one line a wrong setting is refused with: its variable, what it takes
    (``requirement``: "must be …"), and the first ``shown`` characters of what it got."""
    return ValueError(f"DAILYPAPERS_{info.field_name.upper()} {requirement}, "
                      f"got {value[:shown]!r}")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DAILYPAPERS_", extra="ignore")

    data_dir: Path = Field(default=Path("data"), description="Where the SQLite file and indexes live")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default sqlite:///<data_dir>/dailypapers.sqlite3"
    )
    db_pool_size: int = Field(
        default=20, ge=1, le=1000,
        description="PostgreSQL: connections each server process keeps open",
    )
    db_max_overflow: int = Field(
        default=10, ge=0, le=1000,
        description="PostgreSQL: extra connections a process may open under load (closed after)",
    )
    db_ping_after_idle_seconds: float = Field(
        default=10.0, ge=0,
        description="PostgreSQL: a pooled connection idle this long is tested before use; "
        "0 tests it every time",
    )
    db_connect_timeout_seconds: float = Field(
        default=5.0, gt=0, le=600,
        description="PostgreSQL: how long opening a connection may take (whole seconds, at "
        "least 2) before the request gets a 503",
    )
    db_pool_timeout_seconds: float = Field(
        default=10.0, gt=0, le=600,
        description="PostgreSQL: how long a request waits for a free pooled connection before "
        "it gets a 503",
    )
    site_name: str = "Daily Papers"
    base_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Public address of the site; every absolute link the site gives is built on it",
    )
    allowed_hosts: list[str] = Field(
        default_factory=lambda: ["*"],
        description="Host names the server answers (JSON list; *.example.org for subdomains); "
        "other Host headers get a 400. * answers any",
    )

    # Upstreams (base URLs are settings so tests and mirrors can point elsewhere).
    hf_base_url: str = "https://huggingface.co"
    arxiv_api_url: str = "https://export.arxiv.org/api/query"
    arxiv_oai_url: str = "https://oaipmh.arxiv.org/oai"
    arxiv_categories: list[str] = Field(default_factory=lambda: list(DEFAULT_CATEGORIES))
    arxiv_method: str = Field(default="api", description="api or oai")
    sync_interval_minutes: float = 30.0
    sync_backfill_days: int = 7
    sync_refresh_days: int = 7
    sync_paper_info_max: int = Field(
        default=30, ge=0,
        description="Paper-info answers (linked models, datasets, Spaces) fetched per sync, for "
        "papers of the refresh window, least recently fetched first; 0: none",
    )
    sync_min_interval_seconds: float = Field(
        default=3.0, description="Politeness: minimum seconds between two requests to one upstream"
    )
    sync_max_retries: int = 4
    sync_backoff_seconds: float = Field(
        default=1.0, description="First retry waits about this long; each retry doubles it (with jitter)"
    )
    sync_timeout_seconds: float = 30.0
    user_agent: str = "dailypapers/0.1 (+self-hosted)"
    media_fetch_max: int = Field(
        default=200, ge=0,
        description="Thumbnails and organisation avatars fetched into <data_dir>/media per sync "
        "or `dailypapers media` run, newest days first; 0: none (pages then show no images)",
    )
    media_max_bytes: int = Field(
        default=2_000_000, ge=1, description="A thumbnail or avatar larger than this is refused"
    )
    media_timeout_seconds: float = Field(
        default=20.0, gt=0, description="Time one image may take to arrive, redirects included"
    )
    media_min_interval_seconds: float = Field(
        default=0.5, ge=0,
        description="Politeness for image hosts (CDNs): minimum seconds between two requests",
    )
    media_allow_private_hosts: bool = Field(
        default=False,
        description="Fetch images from loopback and private addresses too (tests, a mirror on "
        "the local network); off: such a URL is refused",
    )
    import_stall_seconds: float = Field(
        default=300.0, gt=0,
        description="An import stops when its parsing process sends nothing for this long",
    )

    # Record limits, checked before anything is stored.
    max_title_chars: int = Field(
        default=MAX_TITLE_CHARS, ge=1, description="A record with a longer title is refused"
    )
    max_abstract_chars: int = Field(
        default=MAX_ABSTRACT_CHARS, ge=1,
        description="Abstracts, comments and AI summaries are cut to this length",
    )
    max_authors: int = Field(
        default=MAX_AUTHORS, ge=1, description="Only the first this many authors are kept"
    )
    max_name_chars: int = Field(
        default=MAX_NAME_CHARS, ge=1,
        description="Author, account and organisation names are cut to this length",
    )

    # Search.
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
    render_concurrency: int = Field(
        default=40, ge=1, le=1000,
        description="Pages and API answers each web process renders at once; more wait on its "
        "event loop, which keeps answering cached ones and static files meanwhile",
    )
    cache_shared_url: str = Field(
        default="", description="redis://host:port/db where the web processes share their "
        "cached anonymous answers (empty: each keeps its own only)",
    )
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

    # Accounts (dailypapers/community/).
    secret_key: SecretStr = Field(
        default=SecretStr(""),
        description="Signs CSRF tokens and links; default (SQLite only): made once into "
        "<data_dir>/secret_key. Required on PostgreSQL",
    )
    secret_key_previous: SecretStr = Field(
        default=SecretStr(""),
        description="Earlier secret keys, comma-separated, that still verify signed links (mails "
        "sent before a key rotation); new links are signed with DAILYPAPERS_SECRET_KEY",
    )
    session_days: float = Field(
        default=30.0, gt=0, description="A sign-in lasts this many days (then sign in again)"
    )

    password_reset_minutes: float = Field(
        default=60.0, gt=0, description="A password reset link works this long (and once)"
    )

    subscribe_confirm_hours: float = Field(
        default=72.0, gt=0, description="A digest subscription's confirmation link works this long"
    )

    # Rate limits (dailypapers/community/ratelimit.py): `limits` notation, several joined by ";".
    ratelimit_storage: str = Field(
        default="memory://",
        description="Where the limiter counts: memory:// (this process) or redis://host:port "
        "(shared by every process)",
    )
    ratelimit_signin_per_ip: str = Field(
        default="20/minute;200/hour", description="Sign-in attempts per client address"
    )
    ratelimit_signin_per_account: str = Field(
        default="5/minute;30/hour", description="Failed sign-ins per username or e-mail address"
    )
    ratelimit_signup_per_ip: str = Field(
        default="10/hour;30/day", description="New accounts per client address"
    )
    ratelimit_reset_per_ip: str = Field(
        default="10/hour", description="Password reset requests per client address"
    )
    ratelimit_reset_per_account: str = Field(
        default="3/hour", description="Password reset mails per account"
    )
    ratelimit_flag_per_ip: str = Field(
        default="30/hour", description="Flags (reports to moderators) per client address"
    )
    ratelimit_flag_per_user: str = Field(
        default="10/hour;50/day", description="Flags (reports to moderators) per account"
    )
    ratelimit_collections_per_user: str = Field(
        default="60/minute;600/hour",
        description="Collection changes (create, edit, delete, add or remove a paper) per account",
    )

    # Collections (dailypapers/community/collections.py).
    collections_max_per_user: int = Field(
        default=100, ge=1, description="Collections one account may keep"
    )
    collection_max_papers: int = Field(
        default=1000, ge=1, description="Papers one collection may hold"
    )
    ratelimit_submit_per_ip: str = Field(
        default="30/hour", description="Paper submissions (accepted or refused) per client address"
    )
    ratelimit_submit_per_user: str = Field(
        default="10/minute;30/hour", description="Paper submissions (accepted or refused) per account"
    )

    # Submissions (dailypapers/community/submissions.py).
    submit_max_age_days: float = Field(
        default=14.0, gt=0, description="A paper can be submitted while its first arXiv version "
        "is at most this many days old",
    )
    submit_per_day: int = Field(
        default=5, ge=0, description="Papers one account may submit per (UTC) day",
    )
    submit_per_day_new_account: int = Field(
        default=1, ge=0, description="Papers per day for an account younger than a week",
    )
    ratelimit_comment_per_user: str = Field(
        default="5/minute;100/day", description="New comments per account"
    )
    ratelimit_comment_per_ip: str = Field(
        default="20/minute;300/day", description="New comments per client address"
    )

    # Comments (dailypapers/community/comments.py).
    comment_max_chars: int = Field(
        default=10_000, ge=1, le=1_000_000, description="A comment is at most this many characters"
    )
    comment_max_depth: int = Field(
        default=8, ge=1, le=64, description="Levels of a thread: 1 allows no replies"
    )
    ratelimit_vote_per_ip: str = Field(
        default="120/minute;2000/hour", description="Votes and unvotes per client address"
    )
    ratelimit_vote_per_user: str = Field(
        default="30/minute;500/hour", description="Votes and unvotes per account"
    )
    ratelimit_subscribe_per_ip: str = Field(
        default="20/hour;100/day", description="Digest subscription requests per client address"
    )
    ratelimit_subscribe_per_address: str = Field(
        default="3/hour;6/day",
        description="Subscription confirmation mails per e-mail address (past it: no mail)",
    )

    # Mail (dailypapers/notify/mail.py).
    mail_backend: str = Field(default="file", description="smtp, file or console")
    mail_from: str = Field(
        default="Daily Papers <dailypapers@localhost>", description="Sender of every mail"
    )
    mail_bounce_address: str = Field(
        default="", description="Digest mails' envelope sender, made per mail as "
        "local+<signed token>@domain (VERP) so bounces name their subscriber; empty: "
        "DAILYPAPERS_MAIL_FROM",
    )
    mail_file_dir: str = Field(
        default="", description="file backend: where mails are written; empty: <data_dir>/mail"
    )
    mail_smtp_host: str = "localhost"
    mail_smtp_port: int = Field(default=587, ge=1, le=65535)
    mail_smtp_security: str = Field(default="starttls", description="starttls, tls or none")
    mail_smtp_username: str = Field(default="", description="empty: no login")
    mail_smtp_password: SecretStr = SecretStr("")
    mail_smtp_timeout_seconds: float = Field(default=30.0, gt=0)

    # Digest delivery and schedule (dailypapers/notify/delivery.py, dailypapers/jobs.py).
    digest_time: str = Field(default="07:00", description="Local time (HH:MM) the daily digest "
                             "of the previous feature day goes out")
    digest_timezone: str = Field(default="UTC", description="Time zone of DAILYPAPERS_DIGEST_TIME "
                                 "(an IANA name such as Europe/Paris)")
    digest_weekday: str = Field(default="monday", description="Day the weekly digest of the "
                                "ISO week before goes out, at DAILYPAPERS_DIGEST_TIME")
    digest_rate_per_second: float = Field(default=20.0, ge=0, description="Digest mails per "
                                          "second, all senders and processes together; "
                                          "0: no limit")
    digest_lease_seconds: float = Field(default=300.0, gt=0, description="A sender's claim on a "
                                        "digest mail; one left by a dead sender is retried after it")
    digest_max_attempts: int = Field(default=5, ge=1, description="Attempts per digest mail "
                                     "(temporary 4xx answers, dead senders) before it is failed")
    digest_retry_seconds: float = Field(default=60.0, ge=0, description="Wait before retrying a "
                                        "4xx answer, doubled at each attempt")
    digest_pause_after: int = Field(default=10, ge=1, description="Consecutive failed digest "
                                    "mails that pause every sender")
    digest_pause_seconds: float = Field(default=600.0, ge=0, description="How long that pause "
                                        "lasts")

    @field_validator("ratelimit_signin_per_ip", "ratelimit_signin_per_account",
                     "ratelimit_signup_per_ip", "ratelimit_reset_per_ip",
                     "ratelimit_reset_per_account", "ratelimit_collections_per_user",
                     "ratelimit_submit_per_ip", "ratelimit_submit_per_user",
                     "ratelimit_comment_per_user", "ratelimit_comment_per_ip",
                     "ratelimit_flag_per_ip", "ratelimit_flag_per_user",
                     "ratelimit_vote_per_ip", "ratelimit_vote_per_user",
                     "ratelimit_subscribe_per_ip", "ratelimit_subscribe_per_address")
    @classmethod
    def _rate_limit_notation(cls, value: str, info: Any) -> str:
        from limits import parse_many

        try:
            parse_many(value)
        except ValueError:
            raise _refused(info, "must be limits such as '5/minute;30/hour'", value) from None
        return value

    @field_validator("secret_key_previous")
    @classmethod
    def _previous_keys(cls, value: SecretStr) -> SecretStr:
        if any(0 < len(k.strip()) < 32 for k in value.get_secret_value().split(",")):
            raise ValueError("every key must be at least 32 characters (comma-separated)")
        return value

    @field_validator("ratelimit_storage")
    @classmethod
    def _limiter_storage(cls, value: str, info: Any) -> str:
        scheme = value.split("://", 1)[0]
        if "://" not in value or scheme not in ("memory", "redis", "rediss", "redis+unix"):
            raise _refused(info, "must be memory:// or redis://host:port", value)
        return value

    @field_validator("mail_bounce_address")
    @classmethod
    def _bounce_address(cls, value: str) -> str:
        from dailypapers.notify.verp import split_address

        if value.strip():
            try:
                split_address(value)
            except ValueError as exc:
                raise ValueError(f"DAILYPAPERS_MAIL_BOUNCE_ADDRESS: {exc}, got "
                                 f"{value[:100]!r}") from None
        return value.strip()

    @field_validator("queue_url", "cache_shared_url")
    @classmethod
    def _queue_url(cls, value: str) -> str:
        value = value.strip()
        if value and value.split("://", 1)[0] not in ("redis", "rediss", "unix"):
            raise ValueError("must be empty or "
                             f"redis://host:port/db, got {safe_queue_url(value)!r}")
        return value


    @field_validator("metrics_allow")
    @classmethod
    def _addresses_or_networks(cls, value: list[str], info: Any) -> list[str]:
        import ipaddress

        for entry in value:
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError:
                raise _refused(info, "must list IP addresses or networks such as 127.0.0.1 or "
                               "10.0.0.0/8", entry, 60) from None
        return value

    @field_validator("mail_backend", "mail_smtp_security", "log_format")
    @classmethod
    def _one_of_the_choices(cls, value: str, info: Any) -> str:
        choices = _CHOICES[info.field_name]
        if value not in choices:
            raise _refused(info, f"must be {', '.join(choices[:-1])} or {choices[-1]}", value)
        return value

    # Trending (dailypapers/rank/trending.py); `dailypapers db recount` applies a change.
    trending_tau_hours: float = Field(
        default=48.0, gt=0, description="Trending: this many hours of recency are worth ten "
        "times the points",
    )
    trending_comment_cap: int = Field(
        default=10, ge=0, description="Trending: comments count as points up to this many",
    )

    @field_validator("digest_time")
    @classmethod
    def _clock_time(cls, value: str, info: Any) -> str:
        try:
            dt.time.fromisoformat(value.strip())
        except ValueError:
            raise _refused(info, "must be HH:MM", value, 40) from None
        return value.strip()

    @field_validator("digest_timezone")
    @classmethod
    def _time_zone(cls, value: str, info: Any) -> str:
        try:
            zoneinfo.ZoneInfo(value.strip())
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise _refused(info, "must be an IANA time zone such as Europe/Paris", value,
                           60) from None
        return value.strip()

    @field_validator("digest_weekday")
    @classmethod
    def _weekday(cls, value: str, info: Any) -> str:
        day = value.strip().lower()
        if day not in WEEKDAYS:
            raise _refused(info, f"must be one of {', '.join(WEEKDAYS)}", value, 40)
        return day

    @field_validator("base_url")
    @classmethod
    def _absolute_http_url(cls, value: str, info: Any) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise _refused(info, "must be an absolute http(s) URL such as "
                           "https://papers.example.org", value)
        return value.strip().rstrip("/")

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

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[Any] = [init_settings, env_settings]
        path = _config_file()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    @property
    def engine_options(self) -> dict[str, Any]:
        """make_engine's keyword arguments from these settings."""
        return {"pool_size": self.db_pool_size, "max_overflow": self.db_max_overflow,
                "ping_after_idle_seconds": self.db_ping_after_idle_seconds,
                "connect_timeout": self.db_connect_timeout_seconds,
                "pool_timeout": self.db_pool_timeout_seconds}

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'dailypapers.sqlite3').resolve()}"

    @property
    def is_default_database(self) -> bool:
        return not self.database_url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


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
