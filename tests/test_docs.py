"""The documentation stays true (in the spirit of Datasette's documentation tests): every setting
and every command is in README.md, what README.md names exists, its defaults are the real ones,
and its quick start is the two commands CI runs."""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from dailypapers.cli import main
from dailypapers.settings import Settings
from tests.conftest import REPO

README = (REPO / "README.md").read_text()
SETTING_ROW = re.compile(r"^\| `DAILYPAPERS_([A-Z0-9_]+)` \| `([^`]*)` \| (.+) \|$", re.M)
FIELDS = list(Settings.model_fields)


def walk(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in sorted(group.commands.items()):
        path = (*prefix, name)
        yield path
        if isinstance(command, click.Group):
            yield from walk(command, path)


COMMANDS = [" ".join(path) for path in walk(main)]


def code_spans(text: str) -> list[str]:
    return re.findall(r"`([^`\n]+)`", text)


def documented_settings() -> dict[str, str]:
    return {name.lower(): default for name, default, _meaning in SETTING_ROW.findall(README)}


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in [f"DAILYPAPERS_{f.upper()}" for f in FIELDS] + ["DAILYPAPERS_CONFIG"]:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


# --- settings ----------------------------------------------------------------------------------


def test_the_walks_find_what_they_should() -> None:
    assert {"data_dir", "database_url", "sync_max_retries"} <= set(FIELDS)
    assert {"serve", "import", "sync", "status", "db upgrade", "demo load",
            "demo remove"} <= set(COMMANDS)
    assert len(documented_settings()) >= 10


@pytest.mark.parametrize("field", FIELDS)
def test_every_setting_is_in_the_readme(field: str) -> None:
    assert f"`DAILYPAPERS_{field.upper()}`" in README
    assert field in documented_settings(), f"DAILYPAPERS_{field.upper()} has no row in the table"


def test_the_readme_names_no_setting_that_does_not_exist() -> None:
    named = set(re.findall(r"DAILYPAPERS_([A-Z0-9_]+)", README))
    assert named - {f.upper() for f in FIELDS} <= {"CONFIG"}


@pytest.mark.parametrize("field", [f for f in FIELDS if f != "database_url"])
def test_each_documented_default_is_the_real_default(
    field: str, clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Setting the documented default as the environment variable changes nothing."""
    documented = documented_settings()[field]
    monkeypatch.setenv(f"DAILYPAPERS_{field.upper()}", documented)
    from_readme = getattr(Settings(), field)
    monkeypatch.delenv(f"DAILYPAPERS_{field.upper()}")
    assert from_readme == getattr(Settings(), field), f"README says {documented!r}"


def test_the_documented_default_database_is_the_real_one(clean_env: Path) -> None:
    assert documented_settings()["database_url"] == "sqlite:///<data_dir>/dailypapers.sqlite3"
    settings = Settings(data_dir=clean_env / "elsewhere")
    assert settings.is_default_database
    assert settings.effective_database_url == (
        f"sqlite:///{(clean_env / 'elsewhere').resolve()}/dailypapers.sqlite3"
    )


def test_settings_come_from_the_environment_and_a_toml_file_and_the_environment_wins(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "`$DAILYPAPERS_CONFIG`" in README and "`./dailypapers.toml`" in README
    assert "the environment wins" in README
    (clean_env / "dailypapers.toml").write_text(
        'site_name = "From the local file"\nsync_max_retries = 9\n'
    )
    assert Settings().site_name == "From the local file"

    explicit = clean_env / "elsewhere.toml"
    explicit.write_text('site_name = "From $DAILYPAPERS_CONFIG"\nsync_backfill_days = 2\n')
    monkeypatch.setenv("DAILYPAPERS_CONFIG", str(explicit))
    monkeypatch.setenv("DAILYPAPERS_SYNC_BACKFILL_DAYS", "5")
    settings = Settings()
    assert settings.site_name == "From $DAILYPAPERS_CONFIG"  # $DAILYPAPERS_CONFIG, not ./
    assert settings.sync_max_retries == 4  # the local file is not read then
    assert settings.sync_backfill_days == 5  # the environment wins


# --- commands ----------------------------------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_is_in_the_readme(command: str) -> None:
    spans = code_spans(README)
    assert any(span == f"dailypapers {command}" or span.startswith(f"dailypapers {command} ")
               for span in spans), f"`dailypapers {command}` is not in README.md"


def test_every_command_the_readme_names_exists() -> None:
    named = [span for span in code_spans(README) if span.startswith("dailypapers ")]
    assert named
    for span in named:
        words = span.split()[1:]
        command: click.Command = main
        used = []
        while isinstance(command, click.Group) and words and re.fullmatch(r"[a-z]+", words[0]):
            sub = command.commands.get(words[0])
            assert sub is not None, f"README names `{span}`: no command {' '.join([*used, words[0]])!r}"
            used.append(words.pop(0))
            command = sub
        assert not isinstance(command, click.Group), f"`{span}` names a group, not a command"
        options = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
        for flag in re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", " ".join(words)):
            assert flag in options, f"README names `{span}`: {flag} is not an option"


# --- metrics -----------------------------------------------------------------------------------


def test_every_metric_is_in_the_readme() -> None:
    source = (REPO / "dailypapers" / "metrics.py").read_text()
    names = set(re.findall(r'"(dailypapers_[a-z_]+)"', source))
    assert {"dailypapers_outbox_mails", "dailypapers_http_requests"} <= names
    paragraph = README[README.index("**Metrics.**"):README.index("**Logs.**")]
    documented = set(code_spans(paragraph))
    for name in sorted(names):  # a counter is exposed (and documented) with its _total
        assert {name, f"{name}_total"} & documented, f"metric {name} is not in README.md"


# --- quick start and CI ------------------------------------------------------------------------


def shell_commands(block: str) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in block.splitlines())
    return [line for line in lines if line]


def test_the_quick_start_is_make_run_and_make_test() -> None:
    first_block = re.search(r"^```[a-z]*\n(.*?)^```", README, re.M | re.S)
    assert first_block, "README.md has no code block"
    quick_start = README.index("## Quick start")
    assert quick_start < first_block.start() < README.index("\n## ", quick_start + 1)
    assert shell_commands(first_block.group(1)) == ["make run", "make test"]


def test_the_makefile_has_those_targets_and_they_do_what_the_readme_says() -> None:
    makefile = (REPO / "Makefile").read_text()
    recipes: dict[str, list[str]] = {}
    target = None
    for line in makefile.splitlines():
        if line.startswith("\t") and target:
            recipes[target].append(line.strip())
        elif match := re.match(r"^([a-z]+):", line):
            target = match.group(1)
            recipes[target] = []
        else:
            target = None
    assert any(re.search(r"/dailypapers serve\b", r) for r in recipes["run"]), recipes.get("run")
    assert any(re.search(r"/pytest\b", r) for r in recipes["test"]), recipes.get("test")
    assert "serve" in COMMANDS


def test_ci_runs_make_test() -> None:
    script = REPO / ".ci" / "run"
    assert os.access(script, os.X_OK), ".ci/run is not executable"
    lines = shell_commands(script.read_text())
    assert "set -euo pipefail" in lines
    commands = [shlex.split(line) for line in lines]
    assert ["make", "test"] in commands
    assert commands[-1] == ["make", "test"]  # its exit status is the script's
