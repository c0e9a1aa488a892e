"""Configuration and environment errors, as a newcomer meets them: `python -m dailypapers …` in a
real process, one line on stderr naming the setting, exit code 1, no traceback unless asked
(`-v` or DAILYPAPERS_DEBUG=1); usage errors exit 64, apart from import's 2 ("some refused")."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import REPO, free_port
from tests.helpers import hf_item, write_json


def dailypapers(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DAILYPAPERS_")}
    clean.update(PYTHONPATH=str(REPO), DAILYPAPERS_DATA_DIR=str(tmp_path / "data"),
                 DAILYPAPERS_EMBED_IN_BACKGROUND="false", **env)
    return subprocess.run([sys.executable, "-m", "dailypapers", *args], env=clean,
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)


def one_error_line(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    """The single non-empty stderr line; it contains every needle; exit code 1, no traceback."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    (line,) = lines
    assert line.startswith("Error: ")
    for needle in needles:
        assert needle in line, line
    return line


def refused_url() -> str:
    return f"postgresql://someone:hunter2@127.0.0.1:{free_port()}/test"  # nothing listens there


EVERY_COMMAND = [
    ["status"], ["db", "upgrade"], ["import", "PLACEHOLDER"], ["search", "attention"],
    ["reindex", "--no-embed"], ["sync"], ["demo", "load"], ["serve", "--no-sync"],
]
BAD_URLS = [
    ("not a database url", ["'not a database url' is not a database URL", "postgresql://"]),
    ("nosuchdialect://x/y", ["'nosuchdialect' is not a database dailypapers knows"]),
    ("mysql://u:hunter2@localhost/db", ["driver", "not installed", "'MySQLdb'",
                                        "mysql://u:***@localhost/db"]),
]
USAGE_ERRORS = [["import"], ["serve", "--port", "eighty"], ["nosuchcommand"], ["--nosuchflag"]]


@pytest.fixture(scope="module")
def ahead(tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[dict[tuple[str, ...], Future[subprocess.CompletedProcess[str]]]]:
    """The processes of the parametrized cases below, all started on the module's first use.

    Each case still runs alone in its own real process, in its own folder, and is checked by its
    own test; only their ~1 s start-ups (python importing the app) overlap instead of adding up.
    """
    def start(*args: str, **env: str) -> Future[subprocess.CompletedProcess[str]]:
        return pool.submit(dailypapers, tmp_path_factory.mktemp("cli"), *args, **env)

    with ThreadPoolExecutor(4) as pool:
        runs: dict[tuple[str, ...], Future[subprocess.CompletedProcess[str]]] = {}
        day = write_json(tmp_path_factory.mktemp("import") / "2026-03-02.json",
                         [hf_item("2603.00001")])
        for args in EVERY_COMMAND:
            runs[("unreachable", *args)] = start(
                *[str(day) if a == "PLACEHOLDER" else a for a in args],
                DAILYPAPERS_DATABASE_URL=refused_url())
        for url, _needles in BAD_URLS:
            for command in ("status", "serve"):
                runs[("bad url", url, command)] = start(command, DAILYPAPERS_DATABASE_URL=url)
        for args in USAGE_ERRORS:
            runs[("usage", *args)] = start(*args)
        yield runs


# --- the database setting ----------------------------------------------------------------------


@pytest.mark.parametrize("args", EVERY_COMMAND, ids=lambda a: " ".join(a[:2]))
def test_an_unreachable_database_is_one_line_from_every_command(ahead, args: list[str]) -> None:
    result = ahead[("unreachable", *args)].result()

    one_error_line(result, "DAILYPAPERS_DATABASE_URL", "connection refused",
                          "start the database")
    assert "hunter2" not in result.stdout + result.stderr  # the password never shows
    assert "Serving" not in result.stdout


@pytest.mark.parametrize("case", ["unknown role", "unknown database"])
def test_a_database_server_that_refuses_the_login_names_what_is_missing(
    tmp_path: Path, postgres_url: str, case: str
) -> None:
    url = sa.engine.make_url(postgres_url)
    url = (url.set(username="no_such_role_dp") if case == "unknown role"
           else url.set(database="no_such_database_dp"))
    result = dailypapers(tmp_path, "status",
                         DAILYPAPERS_DATABASE_URL=url.render_as_string(hide_password=False))

    if case == "unknown role":
        one_error_line(result, "DAILYPAPERS_DATABASE_URL", "no role 'no_such_role_dp'",
                       "createuser")
    else:
        one_error_line(result, "DAILYPAPERS_DATABASE_URL", "no database 'no_such_database_dp'",
                       "createdb")


def test_an_unknown_database_host(tmp_path: Path) -> None:
    result = dailypapers(tmp_path, "status",
                         DAILYPAPERS_DATABASE_URL="postgresql://u@no-such-host.invalid/test")
    one_error_line(result, "DAILYPAPERS_DATABASE_URL", "unknown host 'no-such-host.invalid'")


@pytest.mark.parametrize("url, needles", BAD_URLS,
                         ids=["unparseable", "unknown dialect", "driver absent"])
def test_a_bad_database_url_says_what_a_good_one_looks_like(
    ahead, url: str, needles: list[str]
) -> None:
    if url.startswith("mysql"):
        assert importlib.util.find_spec("MySQLdb") is None  # the premise: no MySQL driver here
    for command in ("status", "serve"):
        result = ahead[("bad url", url, command)].result()
        one_error_line(result, "DAILYPAPERS_DATABASE_URL", *needles)
        assert "hunter2" not in result.stderr


def test_an_invalid_setting_value_names_the_variable(tmp_path: Path) -> None:
    result = dailypapers(tmp_path, "status", DAILYPAPERS_SEARCH_CONCURRENCY="0",
                         DAILYPAPERS_SYNC_MAX_RETRIES="many")
    line = one_error_line(result, "DAILYPAPERS_SEARCH_CONCURRENCY", "greater than or equal to 1",
                          "DAILYPAPERS_SYNC_MAX_RETRIES", "'many'")
    assert "validation error" not in line  # pydantic's own multi-line report is not shown


def test_an_unknown_embedder_is_named_at_start_not_at_the_first_search(tmp_path: Path) -> None:
    result = dailypapers(tmp_path, "search", "attention", DAILYPAPERS_EMBEDDER="bert")
    one_error_line(result, "DAILYPAPERS_EMBEDDER", "unknown embedder", "minilm-int8", "'bert'")


def test_a_config_file_that_is_missing_or_not_toml(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.toml"
    one_error_line(dailypapers(tmp_path, "status", DAILYPAPERS_CONFIG=str(missing)),
                   "DAILYPAPERS_CONFIG", str(missing), "is not a file")
    broken = tmp_path / "broken.toml"
    broken.write_text("site_name = \n")
    one_error_line(dailypapers(tmp_path, "status", DAILYPAPERS_CONFIG=str(broken)),
                   "DAILYPAPERS_CONFIG", str(broken), "not valid TOML", "line 1")


def test_verbose_and_debug_show_the_traceback(tmp_path: Path) -> None:
    for args, env in ((["-v", "status"], {}), (["status"], {"DAILYPAPERS_DEBUG": "1"})):
        result = dailypapers(tmp_path, *args, DAILYPAPERS_DATABASE_URL=refused_url(), **env)
        assert result.returncode == 1
        assert "Traceback" in result.stderr and "OperationalError" in result.stderr
        assert result.stderr.rstrip().splitlines()[-1].startswith(
            "Error: DAILYPAPERS_DATABASE_URL: nothing answers")


# --- serve's address ---------------------------------------------------------------------------


def test_a_port_out_of_range(tmp_path: Path) -> None:
    result = dailypapers(tmp_path, "serve", "--no-sync", "--port", "99999")
    one_error_line(result, "--port 99999", "out of range", "1 to 65535")
    assert "Serving" not in result.stdout and "startup" not in result.stdout


def test_a_port_in_use_is_refused_before_anything_says_serving(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = dailypapers(tmp_path, "serve", "--no-sync", "--port", str(port))
    one_error_line(result, f"--port {port}", "already in use", "choose another port")
    assert "Serving" not in result.stdout


def test_an_unknown_host(tmp_path: Path) -> None:
    result = dailypapers(tmp_path, "serve", "--no-sync", "--host", "no-such-host.invalid")
    one_error_line(result, "--host no-such-host.invalid", "unknown host")
    assert "Serving" not in result.stdout


# --- usage errors ------------------------------------------------------------------------------


@pytest.mark.parametrize("args", USAGE_ERRORS)
def test_usage_errors_exit_64_not_2(ahead, args: list[str]) -> None:
    result = ahead[("usage", *args)].result()
    assert result.returncode == 64, (result.stdout, result.stderr)
    assert "Usage:" in result.stderr and "Traceback" not in result.stderr


def test_a_short_previous_secret_key_is_named_and_never_echoed(tmp_path: Path) -> None:
    secret = "hunter2-but-too-short"
    result = dailypapers(tmp_path, "status", DAILYPAPERS_SECRET_KEY_PREVIOUS=f"{'k' * 40},{secret}",
                         DAILYPAPERS_MAIL_SMTP_PASSWORD="x", DAILYPAPERS_MAIL_SMTP_PORT="0")
    line = one_error_line(result, "DAILYPAPERS_SECRET_KEY_PREVIOUS", "at least 32 characters",
                          "DAILYPAPERS_MAIL_SMTP_PORT", "(got '0')")
    assert secret not in line and "k" * 40 not in line
