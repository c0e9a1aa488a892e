"""DAILYPAPERS_SECRET_KEY: the key that signs CSRF tokens of anonymous forms (and later links).

The embedded default (SQLite) keeps one in ``<data_dir>/secret_key`` (mode 600), made on first
use, so a laptop install needs no setup and keeps its key across restarts. Any other database
means several processes, maybe on several machines, that must all share one key: there the key
must be set, and the server refuses to start without it.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from dailypapers.settings import Settings

MIN_KEY_CHARS = 32
KEY_FILE = "secret_key"


class SecretKeyError(RuntimeError):
    """A configuration error about the key: one line naming the setting."""


def load_secret_key(settings: Settings) -> bytes:
    key = settings.secret_key.get_secret_value().strip()
    if key:
        if len(key) < MIN_KEY_CHARS:
            raise SecretKeyError(f"DAILYPAPERS_SECRET_KEY must be at least {MIN_KEY_CHARS} "
                                 f"characters (e.g. the output of `openssl rand -hex 32`)")
        return key.encode()
    if not settings.effective_database_url.startswith("sqlite"):
        raise SecretKeyError("DAILYPAPERS_SECRET_KEY must be set when the database is not SQLite: "
                             "every server process must share it (e.g. `openssl rand -hex 32`)")
    return _key_file(settings.data_dir / KEY_FILE)


def _key_file(path: Path) -> bytes:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written whole to a private file, then linked into place: a process starting at the
        # same moment either sees no file or the complete key, and the first link wins.
        temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32) + "\n")
        try:
            os.link(temp, path)
        except FileExistsError:
            pass
        finally:
            temp.unlink()
    key = path.read_text().strip()
    if len(key) < MIN_KEY_CHARS:
        raise SecretKeyError(f"{path} holds no usable key: delete it (a new one is made) or set "
                             f"DAILYPAPERS_SECRET_KEY")
    return key.encode()


def load_previous_keys(settings: Settings) -> tuple[bytes, ...]:
    """DAILYPAPERS_SECRET_KEY_PREVIOUS: keys that verify signed links but sign nothing new."""
    keys = []
    for part in settings.secret_key_previous.get_secret_value().split(","):
        key = part.strip()
        if not key:
            continue
        if len(key) < MIN_KEY_CHARS:
            raise SecretKeyError(f"DAILYPAPERS_SECRET_KEY_PREVIOUS: every key must be at least "
                                 f"{MIN_KEY_CHARS} characters (comma-separated)")
        keys.append(key.encode())
    return tuple(keys)
