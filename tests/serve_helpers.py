"""`dailypapers serve` as a real process (or several: `--workers N`), for the tests that need
processes: start-up done once, jobs run once, indexes shared, a database outage."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import REPO, TEST_SECRET_KEY, free_port


def serve_env(database_url: str, data_dir: Path, **settings: Any) -> dict[str, str]:
    """The environment of a `serve` process: this checkout's code, no stray DAILYPAPERS_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAILYPAPERS_")}
    env.update(PYTHONPATH=str(REPO), DAILYPAPERS_DATABASE_URL=database_url,
               DAILYPAPERS_DATA_DIR=str(data_dir), DAILYPAPERS_SECRET_KEY=TEST_SECRET_KEY,
               DAILYPAPERS_MEDIA_FETCH_MAX="0")
    env.update({f"DAILYPAPERS_{k.upper()}": str(v) for k, v in settings.items()})
    return env


class ServeProcess:
    """`dailypapers serve ARGS` on a free loopback port, its output in ``log``; stopped with
    SIGTERM (then SIGKILL) on exit."""

    def __init__(self, env: dict[str, str], *args: str, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env, self.args, self.log = env, args, log
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ServeProcess:
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "dailypapers", "serve", "--port", str(self.port),
                 *self.args], env=self.env, stdout=out, stderr=subprocess.STDOUT,
                cwd=self.log.parent, start_new_session=True)  # its own group: see stop
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until /readyz answers 200 (each web process has its indexes loaded by then, or soon
        after: the kernel hands the probe to any of them)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited with {self.process.returncode}:\n"
                                     + self.output())
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.02)
        raise AssertionError("serve did not become ready:\n" + self.output())

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:  # the web processes too, not only the supervisor
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode

    def __exit__(self, *exc: object) -> None:
        self.stop()
