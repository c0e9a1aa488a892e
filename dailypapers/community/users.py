"""The signed-in person as the rest of the code sees it: never the password hash or e-mail."""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True, slots=True)
class User:
    """A user row without its secrets (what templates, routes and other services get)."""

    id: int
    username: str
    is_admin: bool = False
    is_moderator: bool = False
    # How this request proved who it is: "session" (cookie) or "token" (Authorization: Bearer).
    via: str = "session"

    @classmethod
    def from_row(cls, row: Any, via: str = "session") -> User:
        return cls(id=row.id, username=row.username, is_admin=bool(row.is_admin),
                   is_moderator=bool(row.is_moderator), via=via)
