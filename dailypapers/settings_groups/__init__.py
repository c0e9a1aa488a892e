"""The fields of dailypapers.settings.Settings, grouped by concern, each with its validators.

Settings inherits every group; dailypapers/settings.py says in what order, and reads the sources.
"""

from __future__ import annotations

from typing import Any


def refused(info: Any, requirement: str, value: str, shown: int = 100) -> ValueError:
    """The one line a wrong setting is refused with: its variable, what it takes
    (``requirement``: "must be …"), and the first ``shown`` characters of what it got."""
    return ValueError(f"DAILYPAPERS_{info.field_name.upper()} {requirement}, "
                      f"got {value[:shown]!r}")


def one_of(info: Any, value: str, choices: tuple[str, ...]) -> str:
    """``value`` if it is one of ``choices`` (a setting that takes one word of a fixed list)."""
    if value not in choices:
        raise refused(info, f"must be {', '.join(choices[:-1])} or {choices[-1]}", value)
    return value
