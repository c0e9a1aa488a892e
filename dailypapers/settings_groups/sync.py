"""Upstreams, the sync, images, imports, and the limits every record is checked against."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

DEFAULT_CATEGORIES = ["cs.LG", "cs.CL", "cs.CV", "cs.AI", "stat.ML"]
# Record size limits (what each does past the limit: dailypapers/ingest/validate.py). Real arXiv
# titles stay under ~300 characters and abstracts under 1,920; a few physics papers list ~3,000
# authors.
MAX_TITLE_CHARS = 1000
MAX_ABSTRACT_CHARS = 20_000
MAX_AUTHORS = 1000
MAX_NAME_CHARS = 300


class SyncSettings(BaseSettings):
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
