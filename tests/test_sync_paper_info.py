"""The sync fetches paper info (linked models, datasets, Spaces) for recently featured papers,
from the loopback fake upstream (tests/fake_upstream.py), within a per-sync budget."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from dailypapers.db.engine import read_transaction
from dailypapers.db.schema import feature_days, linked_repo_totals
from dailypapers.sync import run_sync
from tests.conftest import shared
from tests.fake_upstream import HF_PAPER_PATH, FakeUpstream

ANSWER = Path(__file__).parent / "data" / "hf-paper-info" / "2601.15621.json"
PID = "2601.15621"
NOW = dt.datetime(2026, 1, 24, 12, 0, tzinfo=dt.timezone.utc)  # a Saturday: 01-23 is the newest day


@pytest.fixture
def fake():
    with FakeUpstream(shared("hf-daily").parent) as upstream:
        upstream.paper_info[PID] = ANSWER.read_bytes()
        yield upstream


def _cfg(settings, fake, **extra):
    return settings.model_copy(update={
        "hf_base_url": fake.url, "sync_min_interval_seconds": 0.0, "sync_max_retries": 1,
        "sync_timeout_seconds": 5.0, "sync_backfill_days": 3, "sync_refresh_days": 3,
        "sync_paper_info_max": 10, **extra,
    })


def _asked(fake):
    return [r.path[len(HF_PAPER_PATH):] for r in fake.requests if r.path.startswith(HF_PAPER_PATH)]


def _sync(cfg, engine, now=NOW):
    report = run_sync(cfg, engine, now=now, sources=["hf"], log=lambda _m: None)
    assert report.ok, report.errors
    return report


def _featured_on(engine, day):
    with read_transaction(engine) as conn:
        return set(conn.execute(sa.select(feature_days.c.paper_id)
                                .where(feature_days.c.day == day)).scalars())


def test_newest_featured_first_within_the_budget_then_the_rest(settings, engine, fake, client):
    cfg = _cfg(settings, fake)
    _sync(cfg, engine)
    first = _asked(fake)
    newest_day = _featured_on(engine, dt.date(2026, 1, 23))
    assert len(first) == 10 and set(first) <= newest_day and PID in first
    body = client.get(f"/api/papers/{PID}").json()
    assert body["numTotalModels"] == 23 and len(body["linkedModels"]) == 5
    assert [s["id"] for s in body["linkedSpaces"]] == ["Qwen/Qwen3-TTS-Demo", "akhaliq/Qwen3-TTS"]

    # The same day again: neither the stored paper nor the ones HF did not know (404) are asked
    # again before the papers never asked about.
    fake.clear()
    _sync(cfg, engine)
    second = _asked(fake)
    assert len(second) == 10 and not set(second) & set(first)
    window = newest_day | _featured_on(engine, dt.date(2026, 1, 22)) | _featured_on(
        engine, dt.date(2026, 1, 21))
    assert set(second) <= window

    # With budget for everything, the stored paper comes last and its new answer replaces it.
    changed = json.loads(ANSWER.read_text())
    changed["linkedModels"] = changed["linkedModels"][:1]
    changed["numTotalModels"] = 1
    fake.paper_info[PID] = json.dumps(changed).encode()
    fake.clear()
    _sync(_cfg(settings, fake, sync_paper_info_max=500), engine)
    third = _asked(fake)
    assert third[-1] == PID and len(third) == len(window) - len(first) - len(second) + 1
    body = client.get(f"/api/papers/{PID}").json()
    assert (body["numTotalModels"], len(body["linkedModels"])) == (1, 1)


def test_a_new_day_asks_the_missing_ones_again_and_zero_disables(settings, engine, fake):
    _sync(_cfg(settings, fake, sync_paper_info_max=3), engine)
    first = _asked(fake)
    fake.clear()
    _sync(_cfg(settings, fake, sync_paper_info_max=3), engine, now=NOW + dt.timedelta(days=1))
    second = _asked(fake)
    # Yesterday's 404s are asked again today (before anything ever stored).
    assert len(second) == 3 and set(first) - {PID} <= set(second) and PID not in second
    fake.clear()
    _sync(_cfg(settings, fake, sync_paper_info_max=0), engine, now=NOW + dt.timedelta(days=1))
    assert _asked(fake) == []


def test_an_answer_about_another_paper_is_refused(settings, engine, fake):
    other = json.loads(ANSWER.read_text())
    other["id"] = "2601.00001"
    fake.paper_info[PID] = json.dumps(other).encode()
    report = _sync(_cfg(settings, fake, sync_paper_info_max=50), engine)
    assert report.sources["hf"].counts.refused == 1
    with read_transaction(engine) as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(linked_repo_totals)).scalar() == 0
