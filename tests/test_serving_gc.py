"""While the app serves, the cyclic collector runs its full pass rarely: under load a full pass
held the interpreter ~55 ms about once a second, and every request in flight waited
(web/app.py's SERVING_GC_THRESHOLDS). The process's own thresholds come back at shutdown."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from dailypapers.settings import Settings
from dailypapers.web.app import create_app
from tests.conftest import sqlite_only

DEFAULT_THRESHOLDS = (700, 10, 10)  # CPython's
SURVIVORS = 300_000  # about 7 s of a loaded web process's allocations (bench/load.py)
# Three quarters of what starts a full pass while serving (10,000 x 20 x 10 new containers):
# thresholds of half that would run one.
SURVIVORS_SERVING = 1_500_000


def collections_while_keeping(count: int, generation: int) -> int:
    """How many passes over ``generation`` (2: full) run while ``count`` new containers are
    made and kept, as a server's caches keep what its renders made."""
    passes: list[int] = []

    def note(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info["generation"] == generation:
            passes.append(1)

    gc.collect()  # every generation's count starts at zero
    gc.callbacks.append(note)
    try:
        kept = [[index] for index in range(count)]
    finally:
        gc.callbacks.remove(note)
    del kept
    return len(passes)


@pytest.fixture
def default_thresholds() -> Iterator[None]:
    before = gc.get_threshold()
    gc.set_threshold(*DEFAULT_THRESHOLDS)
    yield
    gc.set_threshold(*before)


@sqlite_only
def test_no_full_collection_while_serving_and_the_default_back_after(
        settings: Settings, engine: sa.Engine, default_thresholds: None) -> None:
    # The same allocations under CPython's thresholds run full passes: the count below can tell.
    assert collections_while_keeping(SURVIVORS, 2) >= 1
    with TestClient(create_app(settings, engine, index_worker=False)) as client:
        assert client.get("/healthz").status_code == 200
        assert collections_while_keeping(SURVIVORS_SERVING, 2) == 0
    assert gc.get_threshold() == DEFAULT_THRESHOLDS


@sqlite_only
def test_young_collections_still_run_while_serving(
        settings: Settings, engine: sa.Engine, default_thresholds: None) -> None:
    # Rare full passes, not none at all: garbage in cycles is still found young.
    with TestClient(create_app(settings, engine, index_worker=False)):
        young = collections_while_keeping(SURVIVORS, 0)
    # One young pass per 10,000 new containers: 30 here, against ~430 under the default.
    assert 20 <= young <= 40
