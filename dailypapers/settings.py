"""One Settings object, read from DAILYPAPERS_* environment variables and an optional TOML file.

The file is ``$DAILYPAPERS_CONFIG`` if set, else ``dailypapers.toml`` in the working directory when
present. Environment variables win over the file.

The fields, each group with its validators, live in dailypapers/settings_groups/.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from dailypapers.settings_groups.community import (
    AccountSettings,
    CommunitySettings,
    TrendingSettings,
)
from dailypapers.settings_groups.core import DatabaseSettings, SiteSettings
from dailypapers.settings_groups.mail import WEEKDAYS, DigestSettings, MailSettings
from dailypapers.settings_groups.serving import (
    ANN_MIN_VECTORS,
    CacheSettings,
    ObservabilitySettings,
    QueueSettings,
    SearchSettings,
    safe_queue_url,
)
from dailypapers.settings_groups.sync import (
    DEFAULT_CATEGORIES,
    MAX_ABSTRACT_CHARS,
    MAX_AUTHORS,
    MAX_NAME_CHARS,
    MAX_TITLE_CHARS,
    SyncSettings,
)

__all__ = [
    "ANN_MIN_VECTORS", "DEFAULT_CATEGORIES", "MAX_ABSTRACT_CHARS", "MAX_AUTHORS", "MAX_NAME_CHARS",
    "MAX_TITLE_CHARS", "WEEKDAYS", "Settings", "get_settings", "safe_queue_url",
]


def _config_file() -> Path | None:
    explicit = os.environ.get("DAILYPAPERS_CONFIG")
    if explicit:
        return Path(explicit)
    local = Path("dailypapers.toml")
    return local if local.exists() else None


# The groups are listed last first: pydantic orders fields from the deepest base up, so
# DatabaseSettings' fields come first and TrendingSettings' last. That order is the one errors
# are listed in (and every walk over Settings.model_fields): keep it when adding a group.
class Settings(
    TrendingSettings,
    DigestSettings,
    MailSettings,
    CommunitySettings,
    AccountSettings,
    ObservabilitySettings,
    QueueSettings,
    CacheSettings,
    SearchSettings,
    SyncSettings,
    SiteSettings,
    DatabaseSettings,
):
    model_config = SettingsConfigDict(env_prefix="DAILYPAPERS_", extra="ignore")

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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
