"""The account rules as services (both databases), the `user create` command, the secret key,
the mail backends and the access log's redaction of reset links."""

from __future__ import annotations

import io
import logging
import stat
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from dailypapers.cli import main
from dailypapers.community.accounts import (
    AccountError, authenticate, create_user, username_problem,
)
from dailypapers.community.passwords import common_passwords, password_problem
from dailypapers.community.secret_key import SecretKeyError, load_secret_key
from dailypapers.db.engine import read_transaction, write_transaction
from dailypapers.db.schema import sent_mail, users
from dailypapers.ingest.files import import_paths
from dailypapers.notify.mail import ConsoleBackend, FileBackend, Mail, SmtpBackend, deliver
from dailypapers.settings import Settings, get_settings
from dailypapers.web.app import redact_reset_links_in_access_log
from tests.account_helpers import PASSWORD
from tests.conftest import TEST_SECRET_KEY, free_port
from tests.helpers import hf_item, write_json


def problem(engine: sa.Engine, name: str) -> str | None:
    with read_transaction(engine) as conn:
        return username_problem(conn, name)


def test_username_rules(engine: sa.Engine, tmp_path: Path) -> None:
    item = hf_item("2603.00001")
    item["submittedBy"]["name"] = "AKhaliq"  # a Hugging Face submitter, as imported
    import_paths(engine, [write_json(tmp_path / "day.json", [item])])
    with write_transaction(engine) as conn:
        create_user(conn, "Alice-1", PASSWORD)

    accepted = ["abc", "a" * 32, "A_b-9", "akhaliq_", "Alice-2", "grace"[:3] + "e_"]
    for name in accepted:
        assert problem(engine, name) is None, name
    refused = {
        "ab": "3 to 32", "a" * 33: "3 to 32", "": "3 to 32",
        "alice-1": "taken", "ALICE-1": "taken",
        "akhaliq": "Hugging Face", "AKHALIQ": "Hugging Face", "AKhaliq": "Hugging Face",
        "al ice": "only have", "alice!": "only have", "álvaro": "only have", "a.b.c": "only have",
        "ab\n": "only have", "abc\x00": "only have", "ｆｕｌｌ": "only have", "Admin": "reserved",
    }
    for name, reason in refused.items():
        assert reason in (problem(engine, name) or ""), name

    with write_transaction(engine) as conn, pytest.raises(AccountError) as refusal:
        create_user(conn, "AKhaliq", PASSWORD)
    assert refusal.value.field == "username"
    with read_transaction(engine) as conn:
        assert conn.execute(sa.select(users.c.username, users.c.username_key)).all() == [
            ("Alice-1", "alice-1")]  # kept as typed, keyed in lowercase


def test_two_accounts_cannot_share_an_email_address(engine: sa.Engine) -> None:
    with write_transaction(engine) as conn:
        create_user(conn, "first", PASSWORD, email="Same@Example.org")
    with write_transaction(engine) as conn, pytest.raises(AccountError) as refusal:
        create_user(conn, "second", PASSWORD, email="same@example.ORG")
    assert refusal.value.field == "email"
    with write_transaction(engine) as conn, pytest.raises(AccountError):
        create_user(conn, "third", PASSWORD, email="not an address")
    with read_transaction(engine) as conn:
        assert authenticate(conn, "SAME@example.org", PASSWORD).username == "first"


def test_password_rules() -> None:
    listed = common_passwords()
    assert len(listed) > 8000 and {"qwertyuiop", "iloveyou1", "password1"} <= listed
    assert all(len(p) >= 8 for p in listed)  # shorter ones fail on length anyway
    assert "at least 8" in password_problem("x" * 7)
    assert password_problem("x7#kq!Lm") is None  # 8, not listed
    assert "commonly" in password_problem("PassWord1")
    assert "username" in password_problem("Grace-Hopper", "grace-hopper")
    assert password_problem("y" * 1024) is None and "at most" in password_problem("y" * 1025)


# --- the command ----------------------------------------------------------------------------


@pytest.fixture
def cli_env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DAILYPAPERS_CONFIG", raising=False)
    monkeypatch.setenv("DAILYPAPERS_DATABASE_URL", db_url)
    monkeypatch.setenv("DAILYPAPERS_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def test_user_create_makes_an_administrator_from_a_password_on_stdin(cli_env, engine) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["user", "create", "Root_User", "--admin", "--email",
                                  "root@example.org"], input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert "User Root_User created" in result.output and "administrator" in result.output
    assert PASSWORD not in result.output
    with read_transaction(engine) as conn:
        row = conn.execute(sa.select(users)).one()
        assert (row.username, row.is_admin, row.is_moderator, row.email) == (
            "Root_User", True, False, "root@example.org")
        assert authenticate(conn, "root_user", PASSWORD).is_admin

    for args, stdin, reason in ((["root_user"], PASSWORD, "taken"),
                                (["ro"], PASSWORD, "3 to 32"),
                                (["mod_1", "--moderator"], "password1", "commonly used")):
        result = runner.invoke(main, ["user", "create", *args], input=stdin + "\n")
        assert result.exit_code == 1 and reason in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1
    with read_transaction(engine) as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(users)).scalar_one() == 1


def test_serve_on_postgresql_refuses_to_start_without_a_secret_key(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("DAILYPAPERS_CONFIG", "DAILYPAPERS_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DAILYPAPERS_DATABASE_URL", postgres_url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(main, ["serve", "--no-sync"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert "DAILYPAPERS_SECRET_KEY must be set" in line


def test_the_secret_key(tmp_path: Path) -> None:
    sqlite = Settings(data_dir=tmp_path / "data")
    key = load_secret_key(sqlite)
    path = tmp_path / "data" / "secret_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(key) >= 32 and load_secret_key(sqlite) == key  # made once, then kept
    assert load_secret_key(Settings(data_dir=tmp_path / "other")) != key

    postgres = Settings(database_url="postgresql://u@h/db", data_dir=tmp_path / "pg")
    with pytest.raises(SecretKeyError, match="DAILYPAPERS_SECRET_KEY must be set"):
        load_secret_key(postgres)
    assert not (tmp_path / "pg" / "secret_key").exists()
    given = postgres.model_copy(update={"secret_key": Settings(
        secret_key=TEST_SECRET_KEY).secret_key})
    assert load_secret_key(given) == TEST_SECRET_KEY.encode()
    with pytest.raises(SecretKeyError, match="at least 32"):
        load_secret_key(Settings(secret_key="short", data_dir=tmp_path))
    assert TEST_SECRET_KEY not in repr(given) and TEST_SECRET_KEY not in str(given)


# --- mail -----------------------------------------------------------------------------------


MAIL = Mail(to="ada@example.org", subject="Hello", text="Line one.\nhttp://x/reset/SECRET\n",
            kind="password_reset", user_id=None)


def test_file_and_console_backends_and_the_sent_mail_log(engine: sa.Engine, tmp_path: Path) -> None:
    folder = tmp_path / "mail"
    assert deliver(engine, FileBackend(folder), "Papers <p@example.org>", MAIL)
    (written,) = folder.glob("*.eml")
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    text = written.read_text()
    assert "To: ada@example.org" in text and "Subject: Hello" in text and "/reset/SECRET" in text

    stream = io.StringIO()
    assert deliver(engine, ConsoleBackend(stream), "p@example.org", MAIL)
    assert "Subject: Hello" in stream.getvalue()

    refused = SmtpBackend("127.0.0.1", free_port(), "none", timeout=5)
    assert deliver(engine, refused, "p@example.org", MAIL) is False  # logged, never raised
    with read_transaction(engine) as conn:
        rows = conn.execute(sa.select(sent_mail).order_by(sent_mail.c.id)).all()
    assert [(r.backend, r.status) for r in rows] == [
        ("file", "sent"), ("console", "sent"), ("smtp", "failed")]
    assert rows[2].error.startswith("ConnectionRefusedError")
    assert all("SECRET" not in str(tuple(r)) for r in rows)  # the body is never stored

    with pytest.raises(ValueError, match="DAILYPAPERS_MAIL_SMTP_SECURITY"):
        SmtpBackend("h", 25, "ssl")
    with pytest.raises(ValueError, match="DAILYPAPERS_MAIL_BACKEND"):
        Settings(mail_backend="sendmail")


def test_the_access_log_never_shows_a_reset_token() -> None:
    redact_reset_links_in_access_log()
    redact_reset_links_in_access_log()  # once is enough: no second filter
    access = logging.getLogger("uvicorn.access")
    assert len([f for f in access.filters if type(f).__name__ == "_RedactResetTokens"]) == 1
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1,
                               '%s - "%s %s HTTP/%s" %d', ("127.0.0.1:5", "POST",
                                                          "/reset/AbC_123-xyz?x=1", "1.1", 303),
                               None)
    for log_filter in access.filters:
        log_filter.filter(record)
    message = record.getMessage()
    assert "AbC_123-xyz" not in message and "/reset/…?x=1" in message


def test_expired_sessions_are_swept_at_the_next_sign_in(engine: sa.Engine) -> None:
    import datetime as dt

    from dailypapers.community.sessions import start_session, user_for_session
    from dailypapers.db.schema import user_sessions

    with write_transaction(engine) as conn:
        alice = create_user(conn, "alice", PASSWORD)
        bob = create_user(conn, "bob", PASSWORD)
        old, _ = start_session(conn, alice.id, dt.timedelta(seconds=-1))  # expired already
        bobs, _ = start_session(conn, bob.id, dt.timedelta(seconds=-1))
        assert user_for_session(conn, old) is None  # an expired session opens nothing
        current, _ = start_session(conn, alice.id, dt.timedelta(days=1))
        assert user_for_session(conn, current).user.username == "alice"
        rows = conn.execute(sa.select(user_sessions.c.user_id)).scalars().all()
    assert sorted(rows) == [alice.id, bob.id]  # alice's expired one went; bob's waits for bob
