"""``alliance checkins send-due``: the thin command over the delivery service, against a real
SMTP server in process."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from alliance.cli import app
from alliance.config import Settings
from alliance.services import admin, auth, clients, sessions
from alliance.services.authz import system_actor
from alliance.services.context import ServiceContext
from alliance.store.db import sqlite_url
from alliance.store.migrations import upgrade
from smtp_sink import RunningSink, SmtpSink


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ALLIANCE_PASSWORD_HASH_PROFILE", "fast-insecure-tests")
    monkeypatch.setenv("ALLIANCE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ALLIANCE_BASE_URL", "https://alliance.example")
    for name in ("DATABASE_URL", "SMTP_HOST", "SMTP_PORT", "SMTP_STARTTLS"):
        monkeypatch.delenv(f"ALLIANCE_{name}", raising=False)


@pytest.fixture
def sink(monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpSink]:
    running = RunningSink()
    monkeypatch.setenv("ALLIANCE_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("ALLIANCE_SMTP_PORT", str(running.sink.port))
    monkeypatch.setenv("ALLIANCE_SMTP_STARTTLS", "false")
    try:
        yield running.sink
    finally:
        running.stop()


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def db(tmp_path: Path) -> str:
    """A clinic with two clients whose sessions were just attended (one has no address)."""
    path = tmp_path / "clinic.sqlite3"
    upgrade(sqlite_url(path))
    settings = Settings(database_url=sqlite_url(path), password_hash_profile="fast-insecure-tests")
    ctx = ServiceContext.create(settings)
    clinic = admin.create_clinic(ctx, actor=system_actor(), name="Northside")
    user = auth.create_staff_user(
        ctx,
        actor=system_actor(),
        clinic_id=clinic.id,
        email="alice@north.example",
        display_name="Alice",
        role="therapist",
        password="a long enough password",
    )
    alice = auth.actor_for_user(ctx, user.id)
    for name, email in (("Sarah", "sarah@mail.example"), ("John", None)):
        client, _ = clients.create_client(ctx, actor=alice, display_name=name, contact_email=email)
        sessions.schedule_session(
            ctx,
            actor=alice,
            client_id=client.id,
            scheduled_at=datetime.now(UTC) - timedelta(hours=1),
            status="attended",
        )
    return str(path)


def test_send_due_sends_and_prints_one_line(db: str, sink: SmtpSink) -> None:
    code, out, err = run("checkins", "send-due", "--db", db)
    assert (code, err) == (0, "")
    assert out.strip() == (
        "queued 1 invitation(s) and 0 reminder(s), skipped 1, cancelled 0; sent 1, retrying 0, "
        "failed 0"
    )
    assert [str(m["To"]) for m in sink.messages] == ["sarah@mail.example"]
    code, out, _ = run("checkins", "send-due", "--db", db)
    assert code == 0
    assert out.startswith("queued 0 invitation(s)")
    assert len(sink.messages) == 1


def test_a_dry_run_sends_and_writes_nothing(db: str, sink: SmtpSink) -> None:
    code, out, _ = run("checkins", "send-due", "--dry-run", "--db", db)
    assert code == 0
    assert out.startswith("dry run: would queue 1 invitation(s)")
    assert "send 1 message(s) now" in out
    assert sink.messages == []
    assert run("checkins", "send-due", "--db", db)[1].startswith("queued 1 invitation(s)")


def test_a_dry_run_needs_no_smtp_server(db: str) -> None:
    assert run("checkins", "send-due", "--dry-run", "--db", db)[0] == 0


def test_without_smtp_it_exits_2_with_one_line(db: str) -> None:
    code, out, err = run("checkins", "send-due", "--db", db)
    assert code == 2
    assert out == ""
    assert err.strip().splitlines() == [
        "error: no SMTP server is configured (set ALLIANCE_SMTP_HOST), or use --dry-run"
    ]


def test_a_database_never_upgraded_exits_2_with_one_line(tmp_path: Path, sink: SmtpSink) -> None:
    code, _, err = run("checkins", "send-due", "--db", str(tmp_path / "empty.sqlite3"))
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert "alliance db upgrade" in err


def test_a_message_that_failed_for_good_exits_1(db: str, sink: SmtpSink) -> None:
    sink.refuse = "550"
    code, out, _ = run("checkins", "send-due", "--db", db)
    assert code == 1
    assert "failed 1" in out
