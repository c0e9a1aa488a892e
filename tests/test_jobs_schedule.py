"""The scheduled jobs (issue 9 item 6): one list of named jobs, their next times in the digest's
time zone, one thread that runs them, and the digest job itself (safe to run twice); plus
`dailypapers digest send` and `dailypapers status` on a paused outbox."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from click.testing import CliRunner

from dailypapers.cli import main
from dailypapers.jobs import Job, Scheduler, next_daily, next_weekly, scheduled_jobs
from dailypapers.settings import Settings, get_settings
from tests.conftest import TEST_SECRET_KEY
from tests.digest_helpers import ScriptedInbox, feature, outbox_rows, smtp_settings, subscribe
from tests.mail_helpers import smtp_server

UTC = dt.timezone.utc


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_next_daily_and_weekly_times_follow_the_time_zone_across_a_dst_change(tmp_path):
    cfg = Settings(data_dir=tmp_path, digest_time="07:30", digest_timezone="Europe/Paris",
                   digest_weekday="wednesday")
    # 07:30 in Paris is 06:30 UTC in winter...
    assert next_daily(cfg, at("2026-03-02T06:00")) == at("2026-03-02T06:30")
    assert next_daily(cfg, at("2026-03-02T06:30")) == at("2026-03-03T06:30")  # strictly after
    # ... and 05:30 UTC once the clocks went forward (Sunday March 29, 2026).
    assert next_daily(cfg, at("2026-03-28T07:00")) == at("2026-03-29T05:30")
    # Monday → the Wednesday; a Wednesday after the time → next week's.
    assert next_weekly(cfg, at("2026-03-02T10:00")) == at("2026-03-04T06:30")
    assert next_weekly(cfg, at("2026-03-04T07:00")) == at("2026-03-11T06:30")


@pytest.mark.parametrize("value,setting", [("7h", "DIGEST_TIME"), ("Mars/Olympus", "DIGEST_TIMEZONE"),
                                           ("someday", "DIGEST_WEEKDAY")])
def test_a_bad_schedule_setting_is_one_line_naming_it(tmp_path, value, setting):
    with pytest.raises(ValueError, match=f"DAILYPAPERS_{setting}"):
        Settings(data_dir=tmp_path, **{setting.lower(): value})


def test_serve_jobs_are_one_named_list_and_no_sync_drops_only_the_sync():
    assert [j.name for j in scheduled_jobs()] == ["sync", "digest-daily", "digest-weekly"]
    assert [j.name for j in scheduled_jobs(sync=False)] == ["digest-daily", "digest-weekly"]


def test_one_thread_runs_every_job_at_start_then_each_at_its_time_and_survives_a_failure(
        settings, engine):
    calls: list[str] = []
    ran = threading.Event()

    def good(s, e, stop):
        calls.append("good")
        if calls.count("good") >= 3:
            ran.set()

    def bad(s, e, stop):
        calls.append("bad")
        raise RuntimeError("relay down")

    soon = lambda s, last: last + dt.timedelta(seconds=0.05)  # noqa: E731
    later = lambda s, last: last + dt.timedelta(hours=1)  # noqa: E731
    scheduler = Scheduler(settings, engine, first_delay=0,
                          jobs=[Job("bad", bad, later), Job("good", good, soon)])
    scheduler.start()
    try:
        assert ran.wait(10)
    finally:
        scheduler.stop()
    assert calls[0] == "bad" and calls.count("bad") == 1  # failed once, not retried before its time
    assert scheduler.counts["good"] >= 3 and scheduler.counts["bad"] == 1
    assert scheduler.runs == 0  # no sync in this list


def test_the_daily_digest_job_sends_the_last_complete_day_once(settings, engine, tmp_path):
    inbox = ScriptedInbox()
    with smtp_server(inbox) as controller:
        cfg = smtp_settings(settings, controller.port)
        feature(engine, tmp_path, "2026-03-02", {"2603.00001": 1.0, "2603.00002": 2.0})
        subscribe(engine, "ann@example.org")
        subscribe(engine, "wk@example.org", frequency="weekly")
        daily = next(j for j in scheduled_jobs(sync=False) if j.name == "digest-daily")
        stop = threading.Event()
        daily.run(cfg, engine, stop)
        daily.run(cfg, engine, stop)  # twice: nothing new
    assert [m["To"] for m in inbox.messages] == ["ann@example.org"]
    assert "March 2, 2026" in str(inbox.messages[0]["Subject"])
    assert [r["state"] for r in outbox_rows(engine)] == ["sent"]


def test_digest_send_command_reports_a_pause_and_status_shows_the_outbox(
        db_url, engine, tmp_path, monkeypatch):
    inbox = ScriptedInbox()
    inbox.refuse_all = "421 4.7.0 slow down"
    with smtp_server(inbox) as controller:
        feature(engine, tmp_path, "2026-03-02", {"2603.00001": 1.0})
        for n in range(3):
            subscribe(engine, f"r{n}@example.org")
        env = {"DATABASE_URL": db_url, "DATA_DIR": str(tmp_path), "SECRET_KEY": TEST_SECRET_KEY,
               "MAIL_BACKEND": "smtp", "MAIL_SMTP_HOST": "127.0.0.1",
               "MAIL_SMTP_PORT": str(controller.port), "MAIL_SMTP_SECURITY": "none",
               "DIGEST_PAUSE_AFTER": "2", "DIGEST_RATE_PER_SECOND": "0"}
        for name, value in env.items():
            monkeypatch.setenv(f"DAILYPAPERS_{name}", value)
        monkeypatch.chdir(tmp_path)

        def run(*args: str):
            get_settings.cache_clear()
            try:
                return CliRunner().invoke(main, list(args))
            finally:
                get_settings.cache_clear()

        sent = run("digest", "send", "--period", "daily", "--date", "2026-03-02")
        status = run("status")
    assert sent.exit_code == 1
    assert "2 failures in a row" in sent.output and "421" in sent.output
    assert status.exit_code == 0, status.output
    assert "Digest outbox: 3 pending, 0 sending, 0 sent, 0 failed, 0 skipped" in status.output
    assert "senders paused until" in status.output


def test_a_clock_slot_runs_in_one_of_several_processes(settings, engine):
    """Two schedulers with the same clock job (as two workers would): after the unclaimed
    catch-up run at start, each slot runs once between them, claimed in job_slots."""
    import sqlalchemy as sa

    from dailypapers.db.schema import job_slots

    runs: list[str] = []
    lock = threading.Lock()

    def make(name):
        def run(s, e, stop):
            with lock:
                runs.append(name)
        return run

    def every_tenth_of_a_second(s, last):
        # Aligned like a clock: the next multiple of 0.1 s after ``last``.
        tenths = int(last.timestamp() * 10) + 1
        return dt.datetime.fromtimestamp(tenths / 10, tz=UTC)

    schedulers = [Scheduler(settings, engine, first_delay=0, jobs=[
        Job("tick", make(name), every_tenth_of_a_second, claims_slots=True)]) for name in "ab"]
    for scheduler in schedulers:
        scheduler.start()
    deadline = dt.datetime.now(UTC) + dt.timedelta(seconds=10)
    with engine.connect() as conn:
        while conn.execute(sa.select(sa.func.count()).select_from(job_slots)).scalar() < 8:
            assert dt.datetime.now(UTC) < deadline
            conn.rollback()
            threading.Event().wait(0.05)
    for scheduler in schedulers:
        scheduler.stop()
    with engine.connect() as conn:
        slots = conn.execute(sa.select(sa.func.count()).select_from(job_slots)).scalar()
    claimed_runs = sum(s.counts["tick"] for s in schedulers) - 2  # minus the two catch-ups
    assert claimed_runs == slots >= 8  # each slot ran once, in one of the two
    assert sum(s.skipped["tick"] for s in schedulers) >= slots - 2  # the other one skipped it
