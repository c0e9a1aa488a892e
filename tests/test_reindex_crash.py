"""`dailypapers reindex` killed mid-build (SIGKILL, a real process): the running service keeps
answering from the old index, and the next start clears the leftovers. SQLite only: a rebuild
only reads the database; what is at stake is the index folder."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from dailypapers.db.engine import make_engine
from dailypapers.index.keyword import KeywordIndex
from dailypapers.index.keyword_store import keyword_dir
from dailypapers.ingest.files import import_paths
from tests.conftest import REPO, shared


def test_killed_reindex_leaves_a_working_index(sqlite_url, tmp_path):
    engine = make_engine(sqlite_url)
    pages = [shared("arxiv", "oai-pmh-cs-2016", f"listrecords-{n:03d}.xml.gz") for n in range(1, 13)]
    import_paths(engine, pages)
    path = keyword_dir(tmp_path)
    served = KeywordIndex.ensure(engine, path)
    before = [h.paper_id for h in served.search("graph decompositions pebble game").hits]
    assert before and before[0] == "0704.0002"
    generation = served.generation

    env = {**os.environ, "DAILYPAPERS_DATABASE_URL": sqlite_url, "DAILYPAPERS_DATA_DIR": str(tmp_path),
           "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, "-m", "dailypapers", "reindex", "--no-embed"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    try:
        while not list(Path(path).glob("build-*.tmp")):
            assert child.poll() is None, "reindex finished before it could be interrupted"
            assert time.monotonic() < deadline
            time.sleep(0.005)
        time.sleep(0.2)  # well into writing segments
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(10)
    assert child.returncode == -signal.SIGKILL
    assert list(Path(path).glob("build-*.tmp")), "the kill should leave a half-built folder"

    # The serving process never noticed.
    assert [h.paper_id for h in served.search("graph decompositions pebble game").hits] == before
    assert served.generation == generation
    # The next start repairs: leftovers gone, same answers, and a rebuild completes.
    reopened = KeywordIndex.open(path)
    assert not list(Path(path).glob("build-*.tmp"))
    assert [h.paper_id for h in reopened.search("graph decompositions pebble game").hits] == before
    reopened.rebuild(engine)
    assert reopened.generation != generation
    assert [h.paper_id for h in reopened.search("graph decompositions pebble game").hits] == before
    engine.dispose()
