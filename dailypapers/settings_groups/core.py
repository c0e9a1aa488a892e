"""Where the data lives (the database and its pool) and where the site answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings

from dailypapers.settings_groups import refused


class DatabaseSettings(BaseSettings):
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


class SiteSettings(BaseSettings):
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

    @field_validator("base_url")
    @classmethod
    def _absolute_http_url(cls, value: str, info: Any) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise refused(info, "must be an absolute http(s) URL such as "
                          "https://papers.example.org", value)
        return value.strip().rstrip("/")
