"""huggingface_hub's own papers tests, and its ``hf papers`` commands, against a live server.

``TestPaperApi`` is vendored unmodified from the huggingface_hub 2.4.0 sdist
(tests/hf_hub_papers_tests.py); here it runs against a server on each database, holding the
feature days it asks about (a slice of ../shared/data/hf-daily) and the paper-info answer of
2601.15621 with its linked repos (tests/data/hf-paper-info).
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dailypapers.db.engine import make_engine
from dailypapers.index.worker import IndexWorker
from dailypapers.ingest.files import import_paths
from dailypapers.settings import Settings
from tests import hf_hub_papers_tests as vendored
from tests.conftest import LiveServer, empty_postgres, shared
from tests.helpers import search_service

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

# What TestPaperApi asks about: "llama" (2024-08-01 holds The Llama 3 Herd of Models, and papers
# submitted by akhaliq), 2025-10-29 and its ISO week and month, the latest day, and 2601.15621.
DAYS = ("2024-08-01", "2025-10-27", "2025-10-28", "2025-10-29", "2025-10-30", "2025-10-31",
        "2026-01-23")
ANSWER = Path(__file__).parent / "data" / "hf-paper-info" / "2601.15621.json"
HF = Path(sys.executable).with_name("hf")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"], autouse=True)
def hub_server(request, tmp_path_factory, sqlite_template):
    """One loaded server per database for the whole module; module scope makes it start before
    the vendored class's own (function-scoped) ``_api`` fixture reads the endpoint."""
    data_dir = tmp_path_factory.mktemp(f"hub-{request.param}")
    if request.param == "sqlite":
        shutil.copyfile(sqlite_template, data_dir / "db.sqlite3")
        url = f"sqlite:///{data_dir / 'db.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres_url")
    if request.param == "postgresql":
        empty_postgres(url)
    engine = make_engine(url)
    import_paths(engine, [*(shared("hf-daily", f"{day}.json") for day in DAYS), ANSWER])
    settings = Settings(database_url=url, data_dir=data_dir)
    from dailypapers.web.app import create_app

    app = create_app(settings, engine, search=search_service(engine, settings))
    IndexWorker(app.state.search, embed=False).run_once()  # keyword index only: fast
    before = vendored.ENDPOINT_PRODUCTION
    with LiveServer(app) as server:
        vendored.ENDPOINT_PRODUCTION = server.url
        try:
            yield server
        finally:
            vendored.ENDPOINT_PRODUCTION = before
    engine.dispose()


class TestPaperApi(vendored.TestPaperApi):
    """huggingface_hub 2.4.0's TestPaperApi, as shipped."""


def _hf(server, tmp_path, *args):
    env = {**os.environ, "HF_ENDPOINT": server.url, "HF_HOME": str(tmp_path / "hf-home"),
           "HF_HUB_DISABLE_TELEMETRY": "1", "NO_COLOR": "1", "COLUMNS": "200"}
    env.pop("HF_TOKEN", None)
    done = subprocess.run([str(HF), "papers", *args], env=env, capture_output=True, text=True,
                          timeout=120)
    return done


def test_hf_papers_cli(hub_server, tmp_path):
    assert HF.exists(), f"huggingface_hub's CLI not installed next to {sys.executable}"
    source = json.loads(shared("hf-daily", "2025-10-29.json").read_text())

    listed = _hf(hub_server, tmp_path, "ls", "--date", "2025-10-29", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert sorted(r["id"] for r in rows) == sorted(i["paper"]["id"] for i in source)
    by_id = {i["paper"]["id"]: i for i in source}
    for row in rows:
        assert row["title"] == by_id[row["id"]]["title"]

    found = _hf(hub_server, tmp_path, "search", "The Llama 3 Herd of Models", "--limit", "3",
                "--format", "json")
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)[0]["id"] == "2407.21783"

    info = _hf(hub_server, tmp_path, "info", "2601.15621", "--format", "json")
    assert info.returncode == 0, info.stderr
    body = json.loads(info.stdout)
    assert body["title"] == "Qwen3-TTS Technical Report" and body["num_total_models"] == 23
    assert [m["id"] for m in body["linked_models"]][:2] == [
        "Qwen/Qwen3-TTS-12Hz-1.7B-Base", "Qwen/Qwen3-TTS-12Hz-1.7B-CustomVoice"]

    read = _hf(hub_server, tmp_path, "read", "2601.15621")
    assert read.returncode == 0, read.stderr
    assert read.stdout.splitlines()[0] == "# Qwen3-TTS Technical Report"
    assert "## Models citing this paper (23)" in read.stdout

    missing = _hf(hub_server, tmp_path, "read", "1234.56789")
    assert missing.returncode != 0 and "not found" in (missing.stderr + missing.stdout)
