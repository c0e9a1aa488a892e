"""Configuration and environment errors as one line: the setting, what is wrong, what to do.

The `dailypapers` command turns the exceptions below into that line and exit code 1; `-v` (or
``DAILYPAPERS_DEBUG=1``) prints the traceback as well. Anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

import errno
import re
import socket
from typing import Any

import sqlalchemy as sa

DATABASE_URL = "DAILYPAPERS_DATABASE_URL"
DATA_DIR = "DAILYPAPERS_DATA_DIR"
EXAMPLE_URLS = "sqlite:///path/to/file.sqlite3 or postgresql://user@host:5432/dbname"
# `import` stored what it could but refused some; `mail bounce` could not read its message.
EXIT_REFUSED = 2


class ConfigError(Exception):
    """A setting or the environment is wrong; the message is the one line to show."""


def safe_url(url: str) -> str:
    """The URL without its password, even when SQLAlchemy cannot parse it."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - unparseable: mask by hand
        return re.sub(r"(://[^/@:]*):[^/@]*@", r"\1:***@", url)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return " ".join(text.splitlines()[0].split()) if text else type(exc).__name__


def engine_error(exc: BaseException, url: str, is_default: bool) -> ConfigError | None:
    """The one line for an error creating an engine from ``url``, or None if it is no such error."""
    shown = safe_url(url)
    if isinstance(exc, sa.exc.NoSuchModuleError):
        dialect = url.split(":", 1)[0]
        return ConfigError(f"{DATABASE_URL}: {dialect!r} is not a database dailypapers knows "
                           f"({shown}); use {EXAMPLE_URLS}")
    if isinstance(exc, sa.exc.ArgumentError):
        return ConfigError(f"{DATABASE_URL}: {shown!r} is not a database URL; use {EXAMPLE_URLS}")
    if isinstance(exc, ModuleNotFoundError):
        return ConfigError(f"{DATABASE_URL}: the driver for {shown} is not installed (no Python "
                           f"module {exc.name!r}); install it into this environment or use "
                           f"{EXAMPLE_URLS}")
    if isinstance(exc, OSError) and is_default:  # the data directory cannot be made
        return ConfigError(f"{DATA_DIR}: cannot create the database folder: "
                           f"{exc.strerror or exc}; choose a folder you can write to")
    return None


def database_error(exc: sa.exc.DBAPIError, url: str, is_default: bool) -> ConfigError:
    """The one line for a database that cannot be reached or used."""
    shown = safe_url(url)
    message = _first_line(exc).removeprefix("connection failed: ")
    setting = DATA_DIR if is_default else DATABASE_URL
    if m := re.search(r"failed to resolve host '([^']*)'", message):
        return ConfigError(f"{setting}: unknown host {m.group(1)!r} in {shown}; correct the host")
    if "Connection refused" in message:
        return ConfigError(f"{setting}: nothing answers at {shown} (connection refused); start "
                           "the database or correct the host and port")
    if m := re.search(r'role "([^"]*)" does not exist', message):
        return ConfigError(f"{setting}: the database at {shown} has no role {m.group(1)!r}; "
                           "create it (createuser) or correct the user")
    if m := re.search(r'database "([^"]*)" does not exist', message):
        return ConfigError(f"{setting}: the server at {shown} has no database {m.group(1)!r}; "
                           "create it (createdb) or correct the name")
    if "unable to open database file" in message:
        return ConfigError(f"{setting}: cannot open {shown} (unable to open database file); "
                           "check the folder exists and is writable")
    return ConfigError(f"{setting}: cannot use {shown}: {message}; check the setting and "
                       "that the database is running")


def settings_error(exc: Any) -> ConfigError:
    """A pydantic ValidationError of Settings, as one line naming each bad setting."""
    parts = []
    for error in exc.errors():
        field = ".".join(str(p) for p in error.get("loc", ()) if isinstance(p, str))
        name = f"DAILYPAPERS_{field.upper()}" if field else "settings"
        value = error.get("input")
        secret = any(word in field for word in ("secret", "password", "queue_url"))  # never echoed
        got = f" (got {str(value)[:60]!r})" if isinstance(value, (str, int, float)) \
            and not secret else ""
        msg = error.get("msg", "invalid").removeprefix("Value error, ")
        parts.append(f"{name}: {msg}{got}")
    return ConfigError("; ".join(parts) + "; correct the environment variable or config file")


def bind_socket(host: str, port: int) -> socket.socket:
    """A socket bound to (host, port) and listening, or the ConfigError saying why it cannot be."""
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port {port}: out of range; choose a port from 1 to 65535, "
                          "e.g. --port 8001")
    try:
        family, kind, proto, _name, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except socket.gaierror:
        raise ConfigError(f"--host {host}: unknown host; use an address of this machine, "
                          "e.g. --host 127.0.0.1 (this machine only) or --host 0.0.0.0 (all)"
                          ) from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart after TIME_WAIT
        sock.bind(address)
        sock.listen(2048)  # uvicorn's default backlog
    except OSError as exc:
        sock.close()
        raise _bind_error(exc, host, port) from None
    return sock


def _bind_error(exc: OSError, host: str, port: int) -> ConfigError:
    where = f"{host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        other = port + 1 if port < 65535 else 8001
        return ConfigError(f"--port {port}: {where} is already in use by another program; "
                           f"stop it or choose another port, e.g. --port {other}")
    if exc.errno == errno.EACCES:
        return ConfigError(f"--port {port}: not allowed to listen on {where} (permission "
                           "denied); choose a port above 1023, e.g. --port 8001")
    if exc.errno == errno.EADDRNOTAVAIL:
        return ConfigError(f"--host {host}: not an address of this machine; use e.g. "
                           "--host 127.0.0.1 or --host 0.0.0.0")
    return ConfigError(f"--host {host} --port {port}: cannot listen on {where}: "
                       f"{exc.strerror or exc}")
