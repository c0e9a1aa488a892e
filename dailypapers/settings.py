"""One Settings object, read from DAILYPAPERS_* environment variables and an optional TOML file.

The file is ``$DAILYPAPERS_CONFIG`` if set, else ``dailypapers.toml`` in the working directory when
present. Environment variables win over the file.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


DEFAULT_CATEGORIES = ["cs.LG", "cs.CL", "cs.CV", "cs.AI", "stat.ML"]
ANN_MIN_VECTORS = 100_000  # why this many: dailypapers/index/ann.py


def _config_file() -> Path | None:
    explicit = os.environ.get("DAILYPAPERS_CONFIG")
    if explicit:
        return Path(explicit)
    local = Path("dailypapers.toml")
    return local if local.exists() else None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DAILYPAPERS_", extra="ignore")

    data_dir: Path = Field(default=Path("data"), description="Where the SQLite file and indexes live")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default sqlite:///<data_dir>/dailypapers.sqlite3"
    )
    site_name: str = "Daily Papers"
    base_url: str = "http://127.0.0.1:8000"

    # Upstreams (base URLs are settings so tests and mirrors can point elsewhere).
    hf_base_url: str = "https://huggingface.co"
    arxiv_api_url: str = "https://export.arxiv.org/api/query"
    arxiv_oai_url: str = "https://oaipmh.arxiv.org/oai"
    arxiv_categories: list[str] = Field(default_factory=lambda: list(DEFAULT_CATEGORIES))
    arxiv_method: str = Field(default="api", description="api or oai")
    sync_interval_minutes: float = 30.0
    sync_backfill_days: int = 7
    sync_refresh_days: int = 7
    sync_min_interval_seconds: float = Field(
        default=3.0, description="Politeness: minimum seconds between two requests to one upstream"
    )
    sync_max_retries: int = 4
    sync_backoff_seconds: float = Field(
        default=1.0, description="First retry waits about this long; each retry doubles it (with jitter)"
    )
    sync_timeout_seconds: float = 30.0
    user_agent: str = "dailypapers/0.1 (+self-hosted)"
    import_stall_seconds: float = Field(
        default=300.0, gt=0,
        description="An import stops when its parsing process sends nothing for this long",
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
    index_interval_seconds: float = Field(
        default=10.0, description="How often the server catches its indexes up with the database"
    )
    embed_in_background: bool = Field(
        default=True, description="Embed new papers in the serving process (one core at most)"
    )

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
