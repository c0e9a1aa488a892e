"""deploy/ stays true to the code: every `dailypapers …` command that the compose file, the
systemd units and the Dockerfile run exists in the CLI with the options they pass, the services
and units that should be there are, what they mount or name exists, and systemd itself accepts
the units (`systemd-analyze verify`, where installed). Images cannot be pulled here, so nothing
is started: the files are read as docker compose and systemd would read them.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest
import yaml

from dailypapers.cli import main
from tests.conftest import REPO

DEPLOY = REPO / "deploy"
COMPOSE = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
UNITS = sorted((DEPLOY / "systemd").glob("*.service")) + sorted((DEPLOY / "systemd").glob("*.target"))
ROLES = {"postgres", "redis", "web", "worker", "scheduler", "proxy"}
# Units of Debian's packages that ours order themselves after.
DISTRO_UNITS = {"postgresql.service", "redis-server.service", "nginx.service",
                "network-online.target", "multi-user.target"}


def parse_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """A systemd unit as sections of keys, each with every value given (keys may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None and "=" in line, f"{path.name}: cannot read {raw!r}"
        key, _, val = line.partition("=")
        current.setdefault(key.strip(), []).append(val.strip())
    return sections


def cli_command(argv: list[str]) -> tuple[str, click.Command]:
    """The click command ``dailypapers argv…`` runs, checked option by option."""
    assert argv and Path(argv[0]).name == "dailypapers", argv
    words, command, path = list(argv[1:]), main, []
    while isinstance(command, click.Group):
        assert words, f"`{' '.join(argv)}` names the group {' '.join(path) or 'dailypapers'}"
        sub = command.commands.get(words[0])
        assert sub is not None, (f"`{' '.join(argv)}`: the CLI has no command "
                                 f"{' '.join([*path, words[0]])!r} (yet)")
        path.append(words.pop(0))
        command = sub
    options = {opt: param for param in command.params
               for opt in (*getattr(param, "opts", ()), *getattr(param, "secondary_opts", ()))}
    arguments = [p for p in command.params if isinstance(p, click.Argument)]
    positional = 0
    while words:
        word = words.pop(0)
        if word.startswith("-"):
            name, _, inline = word.partition("=")
            assert name in options, f"`{' '.join(argv)}`: {name} is not an option of {path}"
            param = options[name]
            if not getattr(param, "is_flag", False) and not inline:
                assert words, f"`{' '.join(argv)}`: {name} needs a value"
                words.pop(0)
        else:
            positional += 1
    assert positional <= len(arguments) or any(a.nargs == -1 for a in arguments), argv
    return " ".join(path), command


def compose_commands() -> dict[str, list[str]]:
    return {name: service["command"] for name, service in COMPOSE["services"].items()
            if isinstance(service.get("command"), list) and service["command"][0] == "dailypapers"}


def unit_commands() -> dict[str, list[str]]:
    found = {}
    for unit in UNITS:
        for key in ("ExecStart", "ExecStartPre", "ExecStartPost", "ExecReload", "ExecStop"):
            for line in parse_unit(unit).get("Service", {}).get(key, []):
                argv = shlex.split(line.lstrip("-@:+!"))
                if Path(argv[0]).name == "dailypapers":
                    found[f"{unit.name} {key}"] = argv
    return found


def dockerfile_cmd() -> list[str]:
    (line,) = [line for line in (DEPLOY / "Dockerfile").read_text().splitlines()
               if line.startswith("CMD ")]
    return json.loads(line[4:])


# --- every command run exists ------------------------------------------------------------------


def all_commands() -> dict[str, list[str]]:
    return {**{f"compose {k}": v for k, v in compose_commands().items()},
            **{f"unit {k}": v for k, v in unit_commands().items()},
            "Dockerfile CMD": dockerfile_cmd()}


def test_the_deploy_files_run_the_commands_a_deployment_needs() -> None:
    ran = {cli_path for cli_path in (" ".join(argv[1:2]) for argv in all_commands().values())}
    assert {"serve", "worker", "scheduler", "db"} <= ran, ran


@pytest.mark.parametrize("where", sorted(all_commands()))
def test_each_dailypapers_command_exists_with_its_options(where: str) -> None:
    """Derived from the CLI itself: `dailypapers worker` and `scheduler` fail here until the
    queue's commands exist, `serve --workers` until serve takes it."""
    cli_command(all_commands()[where])


def test_cli_command_refuses_what_the_cli_does_not_have() -> None:
    """The checker itself can fail."""
    for argv in (["dailypapers", "no-such-command"], ["dailypapers", "serve", "--no-such-flag"],
                 ["dailypapers", "db"], ["dailypapers", "serve", "--port"]):
        with pytest.raises(AssertionError):
            cli_command(argv)
    assert cli_command(["dailypapers", "db", "upgrade"])[0] == "db upgrade"
    assert cli_command(["dailypapers", "serve", "--port", "8000", "--no-demo"])[0] == "serve"


# --- compose -----------------------------------------------------------------------------------


def test_compose_has_every_role_and_pins_what_it_pulls() -> None:
    services = COMPOSE["services"]
    assert ROLES <= set(services)
    for name, service in services.items():
        if "build" in service:
            build = service["build"]
            assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == \
                (DEPLOY / "Dockerfile").resolve(), name
            continue
        image = service["image"]
        assert re.fullmatch(r"[a-z0-9./-]+:\d[\w.-]*", image), f"{name}: pin a version ({image})"
    for name in ("web", "worker", "scheduler", "migrate"):
        assert services[name]["command"][0] == "dailypapers", name


def test_compose_mounts_only_files_that_exist_and_names_known_services() -> None:
    services = COMPOSE["services"]
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name} mounts {source}, which is missing"
            else:
                assert source in COMPOSE["volumes"], f"{name}: volume {source} is not declared"
        depends = service.get("depends_on", {})
        for other in depends if isinstance(depends, (list, dict)) else []:
            assert other in services, f"{name} depends on {other}"


def test_the_application_talks_to_the_compose_services_and_the_web_embeds_nothing() -> None:
    services = COMPOSE["services"]
    web_env = services["web"]["environment"]
    for name in ("web", "worker", "scheduler", "migrate"):
        env = services[name]["environment"]
        assert "@postgres:5432/" in env["DAILYPAPERS_DATABASE_URL"], name
        assert env["DAILYPAPERS_RATELIMIT_STORAGE"].startswith("redis://redis:6379"), name
        assert env["DAILYPAPERS_QUEUE_URL"].startswith("redis://redis:6379"), name
    assert web_env["DAILYPAPERS_EMBED_IN_BACKGROUND"] == "false"
    assert services["proxy"]["environment"]["DAILYPAPERS_WEB_ADDRESS"] == "web:8000"
    web_command = services["web"]["command"]
    assert web_command[web_command.index("--port") + 1] == "8000"
    assert "ports" not in services["web"]  # only through the proxy


def test_the_proxy_caches_by_cache_control_skips_sessions_and_hides_metrics() -> None:
    conf = (DEPLOY / "nginx" / "dailypapers.conf.template").read_text()
    active = "\n".join(line.split("#", 1)[0] for line in conf.splitlines())
    assert "${DAILYPAPERS_WEB_ADDRESS}" in active
    assert re.search(r"location = /metrics \{\s*return 404;", active)
    for directive in ("proxy_cache dailypapers;", "proxy_cache_revalidate on;",
                      "proxy_cache_bypass $dailypapers_signed_in;",
                      "proxy_no_cache $dailypapers_signed_in;",
                      "proxy_set_header X-Request-ID $request_id;"):
        assert directive in active, directive
    # Lifetimes come from the app's Cache-Control alone: no blanket proxy_cache_valid, and no
    # directive telling nginx to ignore the app's headers.
    assert "proxy_cache_valid" not in active and "proxy_ignore_headers" not in active
    assert "dp_session" in active


# --- systemd -----------------------------------------------------------------------------------


def test_the_units_cover_every_role_and_order_after_what_they_need() -> None:
    names = {unit.name for unit in UNITS}
    assert {"dailypapers-web.service", "dailypapers-worker@.service",
            "dailypapers-scheduler.service", "dailypapers-migrate.service",
            "dailypapers.target"} <= names
    ours = names | {"dailypapers-worker@1.service", "dailypapers-worker@2.service"}
    for unit in UNITS:
        parsed = parse_unit(unit)
        for key in ("Requires", "After", "Wants", "PartOf", "WantedBy"):
            for section in parsed.values():
                for value in section.get(key, []):
                    for other in value.split():
                        assert other in ours or other in DISTRO_UNITS, f"{unit.name} {key}={other}"
        service = parsed.get("Service")
        if service is None:
            continue
        assert service["User"] == ["dailypapers"], unit.name
        assert service["EnvironmentFile"] == ["/etc/dailypapers/env"], unit.name
        if unit.name != "dailypapers-migrate.service":
            assert "dailypapers-migrate.service" in " ".join(parsed["Unit"]["Requires"]), unit.name
            assert service["KillSignal"] == ["SIGTERM"], unit.name
    web = parse_unit(DEPLOY / "systemd" / "dailypapers-web.service")["Service"]
    assert "DAILYPAPERS_EMBED_IN_BACKGROUND=false" in web["Environment"]
    assert "--host 127.0.0.1" in web["ExecStart"][0]  # nginx on the same machine in front


@pytest.mark.optional("systemd-analyze")
def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    """systemd's own reading: unknown keys, bad values and missing executables are reported.
    The units' /opt/dailypapers/venv path points at this interpreter for the check."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    executable = sys.executable  # systemd checks that the path runs, not what it is
    for unit in UNITS:
        (tmp_path / unit.name).write_text(
            unit.read_text().replace("/opt/dailypapers/venv/bin/dailypapers", executable))
    (tmp_path / "dailypapers-worker@1.service").write_text(
        (tmp_path / "dailypapers-worker@.service").read_text())
    checked = [str(tmp_path / u.name) for u in UNITS if "@." not in u.name]
    checked.append(str(tmp_path / "dailypapers-worker@1.service"))
    result = subprocess.run([analyze, "verify", "--man=no", *checked], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr


# --- Dockerfile --------------------------------------------------------------------------------


def test_the_dockerfile_copies_what_exists_and_installs_the_package() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    for line in text.splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (REPO / source).exists(), f"Dockerfile copies {source}, which is missing"
    assert re.search(r"^RUN pip install \. ", text, re.M)
    assert re.search(r"^USER dailypapers$", text, re.M)
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    assert {"!pyproject.toml", "!README.md", "!dailypapers/"} <= set(ignore)


# --- the proxy, running ------------------------------------------------------------------------


@pytest.mark.optional("nginx")
def test_nginx_caches_what_the_app_allows_and_nothing_of_a_session(
    sqlite_url: str, tmp_path: Path
) -> None:
    """deploy/nginx/dailypapers.conf.template as nginx runs it, in front of the app on loopback:
    a versioned static file (public, a year) is served from the cache the second time; an API
    answer (no-store) never is; a request with a session cookie bypasses the cache; /metrics
    stops at the proxy; the app receives nginx's request id and returns it."""
    import httpx

    from dailypapers.db.engine import make_engine
    from dailypapers.settings import Settings
    from dailypapers.web.app import create_app, static_url
    from tests.conftest import TEST_SECRET_KEY, LiveServer, free_port

    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if nginx is None:
        pytest.skip("nginx is not installed")
    engine = make_engine(sqlite_url)
    settings = Settings(database_url=sqlite_url, data_dir=tmp_path / "data",
                        secret_key=TEST_SECRET_KEY)
    port = free_port()
    with LiveServer(create_app(settings, engine)) as app:
        site = (DEPLOY / "nginx" / "dailypapers.conf.template").read_text()
        site = site.replace("${DAILYPAPERS_WEB_ADDRESS}", f"127.0.0.1:{app.port}")
        site = site.replace("/var/cache/nginx/dailypapers", str(tmp_path / "cache"))
        site = site.replace("listen 80;", f"listen 127.0.0.1:{port};")
        (tmp_path / "site.conf").write_text(site)
        temp = {name: tmp_path / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
        (tmp_path / "nginx.conf").write_text(
            f"daemon off;\nuser root root;\nworker_processes 1;\npid {tmp_path}/nginx.pid;\n"
            f"error_log stderr warn;\nevents {{}}\nhttp {{\n  access_log off;\n"
            f"  client_body_temp_path {temp['body']};\n  proxy_temp_path {temp['proxy']};\n"
            f"  fastcgi_temp_path {temp['fastcgi']};\n  uwsgi_temp_path {temp['uwsgi']};\n"
            f"  scgi_temp_path {temp['scgi']};\n  include {tmp_path}/site.conf;\n}}\n")
        proxy = subprocess.Popen([nginx, "-e", "stderr", "-p", str(tmp_path), "-c",
                                  str(tmp_path / "nginx.conf")], stderr=subprocess.PIPE, text=True)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 20
            while True:
                try:
                    httpx.get(f"{url}/favicon.ico", timeout=5)
                    break
                except httpx.TransportError:
                    assert proxy.poll() is None, proxy.stderr.read()  # type: ignore[union-attr]
                    assert time.monotonic() < deadline, "nginx did not start"
                    time.sleep(0.05)

            def status(path: str, **headers: str) -> tuple[int, str]:
                answer = httpx.get(f"{url}{path}", headers=headers, timeout=10)
                return answer.status_code, answer.headers.get("x-cache-status", "")

            css = static_url("css/site.css")
            assert status(css) == (200, "MISS")
            assert status(css) == (200, "HIT")
            assert status(css, Cookie="dp_session=abc") == (200, "BYPASS")
            assert status(css, Cookie="theme=dark; __Host-dp_session=abc") == (200, "BYPASS")
            assert [status("/api/daily_papers")[1] for _ in range(3)] == ["MISS"] * 3
            assert status("/metrics")[0] == 404
            answer = httpx.get(f"{url}/papers", headers={"X-Request-ID": "from-the-client"})
            assert re.fullmatch(r"[0-9a-f]{32}", answer.headers["x-request-id"])  # nginx's
        finally:
            proxy.terminate()
            proxy.wait(10)
            engine.dispose()
