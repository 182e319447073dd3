"""The backup commands in docs/admin-guide.md restore a working database: ``sqlite3 .backup``
for SQLite and ``pg_dump -Fc`` / ``pg_restore`` for PostgreSQL."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import psycopg
import pytest

from alliance.config import Settings
from alliance.services import auth, checkins, clients, goals, timelines
from alliance.services.authz import system_actor
from alliance.services.context import ServiceContext
from alliance.store.db import make_engine, sqlite_url
from alliance.store.migrations import current_revision, head_revision, upgrade

GOAL = "Sleep before midnight"


def _fill(url: str) -> None:
    from alliance.services import admin

    upgrade(url)
    engine = make_engine(url)
    ctx = ServiceContext.create(
        Settings(database_url=url, password_hash_profile="fast-insecure-tests"), engine=engine
    )
    clinic = admin.create_clinic(ctx, actor=system_actor(), name="Backup clinic")
    auth.create_staff_user(
        ctx,
        actor=system_actor(),
        clinic_id=clinic.id,
        email="t@backup.example",
        display_name="T",
        role="therapist",
        password="a long enough password",
    )
    therapist = auth.actor_for_email(ctx, "t@backup.example")
    _, episode = clients.create_client(ctx, actor=therapist, display_name="Robin")
    goals.agree_goals(ctx, actor=therapist, episode_id=episode.id, goals=[GOAL])
    link = checkins.create_checkin_link(ctx, actor=therapist, episode_id=episode.id)
    checkins.record_check_in(ctx, link.token, {"gad7": {f"gad7_{i}": 2 for i in range(1, 8)}})
    engine.dispose()


def _check(url: str) -> None:
    assert current_revision(url) == head_revision()
    engine = make_engine(url)
    try:
        ctx = ServiceContext.create(Settings(database_url=url), engine=engine)
        therapist = auth.actor_for_email(ctx, "t@backup.example")
        [row] = timelines.caseload(ctx, actor=therapist)
        view = timelines.client_timeline(ctx, actor=therapist, client_id=row.client_id)
        assert [g.goal.text for g in view.goals] == [GOAL]
        gad = next(s for s in view.series if s.instrument_id == "gad7")
        assert [p.value for p in gad.points] == [14]
    finally:
        engine.dispose()


@pytest.mark.skipif(shutil.which("sqlite3") is None, reason="sqlite3 command not installed")
def test_a_sqlite_online_backup_restores(tmp_path: Path) -> None:
    live = tmp_path / "alliance.sqlite3"
    _fill(sqlite_url(live))
    backup = tmp_path / "backup.sqlite3"
    subprocess.run(["sqlite3", str(live), f".backup '{backup}'"], check=True)
    restored = tmp_path / "restored" / "alliance.sqlite3"
    restored.parent.mkdir()
    shutil.copyfile(backup, restored)
    _check(sqlite_url(restored))


@pytest.mark.postgres
@pytest.mark.skipif(shutil.which("pg_dump") is None, reason="pg_dump not installed")
def test_a_postgres_dump_restores_into_a_new_database(
    postgres_database_url: str, tmp_path: Path
) -> None:
    _fill(postgres_database_url)
    dsn = postgres_database_url.replace("postgresql+psycopg://", "postgresql://")
    dump = tmp_path / "alliance.dump"
    subprocess.run(["pg_dump", "-Fc", "-f", str(dump), "--dbname", dsn], check=True)
    base, _ = dsn.rsplit("/", 1)
    name = f"alliance_restore_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(dsn.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        subprocess.run(
            ["pg_restore", "--no-owner", "--dbname", f"{base}/{name}", str(dump)], check=True
        )
        _check(f"{postgres_database_url.rsplit('/', 1)[0]}/{name}")
    finally:
        with psycopg.connect(dsn.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
