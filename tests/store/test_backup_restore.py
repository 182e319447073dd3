"""``alliance db backup`` / ``alliance db restore`` (alliance.store.backup and
alliance.services.backups), on SQLite and PostgreSQL: a backup restores into an empty
database with its data and its append-only audit trail; wrong files, non-empty targets and
newer schemas are refused with one line; older schemas are upgraded."""

from __future__ import annotations

import gzip
import shutil
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from alliance.cli import app
from alliance.config import Settings
from alliance.services import auth, checkins, clients, goals, timelines
from alliance.services.authz import system_actor
from alliance.services.context import ServiceContext
from alliance.store import audit
from alliance.store.backup import BackupError, _PgTools, backup, pick_tool
from alliance.store.db import make_engine, sqlite_url, transaction
from alliance.store.migrations import current_revision, head_revision, upgrade

GOAL = "Sleep before midnight"
NewDatabase = Callable[[], str]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def new_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NewDatabase]:
    """Makes brand-new, empty databases of one backend (dropped afterwards)."""
    made: list[str] = []
    if request.param == "sqlite":

        def new_sqlite() -> str:
            made.append(sqlite_url(tmp_path / f"db-{len(made)}.sqlite3"))
            return made[-1]

        yield new_sqlite
        return
    server = str(request.getfixturevalue("postgres_server_url"))
    if shutil.which("pg_dump") is None and not list(Path("/usr/lib/postgresql").glob("*/bin")):
        pytest.fail("pg_dump is not installed (apt-get install postgresql-client)")
    admin_dsn = server.replace("postgresql+psycopg://", "postgresql://")

    def new_postgres() -> str:
        name = f"alliance_backup_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        return f"{server.rsplit('/', 1)[0]}/{name}"

    yield new_postgres
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        for name in made:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def cli(url: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        app,
        ["db", *args],
        env={"ALLIANCE_DATABASE_URL": url, "ALLIANCE_PASSWORD_HASH_PROFILE": "fast-insecure-tests"},
    )
    return result.exit_code, result.stdout, result.stderr


def _context(url: str) -> ServiceContext:
    return ServiceContext.create(
        Settings(database_url=url, password_hash_profile="fast-insecure-tests")
    )


def _fill(url: str) -> None:
    """A clinic with one therapist and one client who agreed a goal and checked in once."""
    from alliance.services import admin

    upgrade(url)
    ctx = _context(url)
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


def _check(url: str) -> None:
    """The restored clinic opens, is at the current migration and decrypts."""
    assert current_revision(url) == head_revision()
    ctx = _context(url)
    therapist = auth.actor_for_email(ctx, "t@backup.example")
    [row] = timelines.caseload(ctx, actor=therapist)
    view = timelines.client_timeline(ctx, actor=therapist, client_id=row.client_id)
    assert [g.goal.text for g in view.goals] == [GOAL]
    gad = next(s for s in view.series if s.instrument_id == "gad7")
    assert [p.value for p in gad.points] == [14]


def _actions(url: str) -> list[str]:
    with transaction(_context(url).session_factory) as session:
        return [e.action for e in audit.events(session)]


def test_a_backup_restores_into_an_empty_database(
    new_database: NewDatabase, tmp_path: Path
) -> None:
    live = new_database()
    _fill(live)
    file = tmp_path / "alliance.backup"
    code, out, err = cli(live, "backup", str(file))
    assert code == 0, err
    backend = "sqlite" if live.startswith("sqlite") else "postgresql"
    assert out.startswith("backed up ")
    assert f"({backend}, revision {head_revision()}) to {file}" in out
    restored = new_database()
    code, out, err = cli(restored, "restore", str(file))
    assert code == 0, err
    assert ", 1 client(s), " in out
    assert "audit trail: append-only (an UPDATE was refused)" in out
    # Both are on record: the backup in the database it copied (written after the copy), the
    # restore in the database it filled.
    assert _actions(live)[0] == "backup"
    restored_actions = _actions(restored)
    assert restored_actions[0] == "restore"
    assert restored_actions[1:] == _actions(live)[1:]
    _check(restored)


def test_the_restored_audit_trail_still_refuses_update_and_delete(
    new_database: NewDatabase, tmp_path: Path
) -> None:
    live = new_database()
    _fill(live)
    file = tmp_path / "alliance.backup"
    assert cli(live, "backup", str(file))[0] == 0
    restored = new_database()
    assert cli(restored, "restore", str(file))[0] == 0
    engine = make_engine(restored)
    try:
        for statement in ("UPDATE audit_events SET action = 'read'", "DELETE FROM audit_events"):
            with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
                connection.execute(text(statement))
    finally:
        engine.dispose()


def test_it_refuses_a_database_that_is_not_empty_unless_forced(
    new_database: NewDatabase, tmp_path: Path
) -> None:
    live = new_database()
    _fill(live)
    file = tmp_path / "alliance.backup"
    assert cli(live, "backup", str(file))[0] == 0
    other = new_database()
    upgrade(other)
    code, out, err = cli(other, "restore", str(file))
    assert code == 2
    assert out == ""
    assert err.startswith("error: ")
    assert "is not empty (" in err
    assert "add --force to replace everything in it" in err
    assert len(err.strip().splitlines()) == 1
    code, out, err = cli(other, "restore", "--force", str(file))
    assert code == 0, err
    _check(other)


def test_it_refuses_to_overwrite_a_backup_file_unless_forced(
    new_database: NewDatabase, tmp_path: Path
) -> None:
    live = new_database()
    _fill(live)
    file = tmp_path / "alliance.backup"
    file.write_bytes(b"yesterday's backup")
    code, _, err = cli(live, "backup", str(file))
    assert code == 2
    assert "exists: choose a new name, or add --force to overwrite it" in err
    assert file.read_bytes() == b"yesterday's backup"
    assert cli(live, "backup", "--force", str(file))[0] == 0
    assert file.read_bytes() != b"yesterday's backup"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_it_says_what_a_wrong_file_is(new_database: NewDatabase, tmp_path: Path) -> None:
    target = new_database()
    is_sqlite = target.startswith("sqlite")
    plain = tmp_path / "notes.txt"
    plain.write_text("not a backup at all\n")
    empty = tmp_path / "empty.backup"
    empty.write_bytes(b"")
    zipped = tmp_path / "alliance.backup.gz"
    zipped.write_bytes(gzip.compress(b"SQLite format 3\x00" + bytes(100)))
    foreign = tmp_path / "foreign.sqlite3"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE notes (body TEXT)")
    other_kind = tmp_path / "other.backup"
    if is_sqlite:
        other_kind.write_bytes(b"PGDMP\x01\x0e\x00" + bytes(200))  # a pg_dump archive's header
        expected_other = "is a PostgreSQL dump (pg_dump) but the database is SQLite"
    else:
        shutil.copyfile(foreign, other_kind)
        expected_other = "is a SQLite backup but the database is PostgreSQL"
    cases = {
        plain: "is not an Alliance backup (neither a SQLite database nor a pg_dump",
        empty: "is empty: not a backup",
        zipped: "is gzip-compressed: decompress it first",
        other_kind: expected_other,
        tmp_path / "missing.backup": "no backup file at",
    }
    if is_sqlite:
        cases[foreign] = "is a SQLite database but not an Alliance one"
    for file, expected in cases.items():
        code, out, err = cli(target, "restore", str(file))
        assert (code, out) == (2, ""), file
        assert expected in err, (file, err)
        assert len(err.strip().splitlines()) == 1
    assert current_revision(target) is None  # nothing was written


def test_a_postgres_dump_of_another_database_is_not_taken_for_an_alliance_one(
    postgres_database_url: str, tmp_path: Path
) -> None:
    dsn = postgres_database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE notes (body text)")
    tools = _PgTools.for_server(postgres_database_url)
    dump = tmp_path / "foreign.dump"
    tools.run("pg_dump", ["--format=custom", "--file", str(dump), "--dbname", dsn], None)
    code, _, err = cli(postgres_database_url.rsplit("/", 1)[0] + "/postgres", "restore", str(dump))
    assert code == 2
    assert "is a PostgreSQL dump but not of an Alliance database" in err


def test_a_backup_from_a_newer_schema_is_refused(new_database: NewDatabase, tmp_path: Path) -> None:
    live = new_database()
    _fill(live)
    engine = make_engine(live)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0099_future'"))
    engine.dispose()
    file = tmp_path / "future.backup"
    assert cli(live, "backup", str(file))[0] == 0
    target = new_database()
    code, _, err = cli(target, "restore", str(file))
    assert code == 2
    assert "is at schema revision 0099_future, which this Alliance does not know" in err
    assert "comes from a newer Alliance" in err
    assert current_revision(target) is None


def test_a_backup_from_an_older_schema_is_upgraded(
    new_database: NewDatabase, tmp_path: Path
) -> None:
    live = new_database()
    upgrade(live, "0002")
    file = tmp_path / "old.backup"
    code, out, err = cli(live, "backup", str(file))
    assert code == 0, err
    assert "revision 0002" in out
    target = new_database()
    code, out, err = cli(target, "restore", str(file))
    assert code == 0, err
    assert f"revision {head_revision()} (upgraded from 0002)" in out
    assert current_revision(target) == head_revision()


def test_a_restore_without_the_audit_triggers_is_reported(tmp_path: Path) -> None:
    """A database whose triggers were dropped (say, by a hand-made copy) restores, but the
    command fails loudly so nobody starts the app on it."""
    live = sqlite_url(tmp_path / "live.sqlite3")
    _fill(live)
    with sqlite3.connect(tmp_path / "live.sqlite3") as db:
        db.execute("DROP TRIGGER audit_events_no_update")
        db.execute("DROP TRIGGER audit_events_no_delete")
    file = tmp_path / "alliance.backup"
    assert cli(live, "backup", str(file))[0] == 0
    code, _, err = cli(sqlite_url(tmp_path / "restored.sqlite3"), "restore", str(file))
    assert code == 2
    assert "the restored audit trail is NOT append-only" in err


def test_the_audit_check_looks_at_the_triggers_when_the_trail_is_empty(
    new_database: NewDatabase,
) -> None:
    url = new_database()
    upgrade(url)
    with transaction(_context(url).session_factory) as session:
        assert audit.append_only_enforced(session)
    engine = make_engine(url)
    with engine.begin() as connection:
        if url.startswith("sqlite"):
            connection.execute(text("DROP TRIGGER audit_events_no_update"))
        else:
            connection.execute(text("DROP TRIGGER audit_events_append_only ON audit_events"))
    engine.dispose()
    with transaction(_context(url).session_factory) as session:
        assert not audit.append_only_enforced(session)


def test_a_sqlite_backup_is_consistent_while_a_writer_holds_a_transaction(
    tmp_path: Path,
) -> None:
    """The online backup does not wait for, and does not include, an open write
    transaction; it does include what was committed but not yet checkpointed (in the WAL)."""
    path = tmp_path / "live.sqlite3"
    _fill(sqlite_url(path))
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA wal_autocheckpoint=0")  # keep the committed row in the -wal file
    insert = "INSERT INTO clinics (name, settings, created_at) VALUES (?, '{}', '2026-01-01')"
    writer.execute(insert, ("Committed",))
    writer.execute("BEGIN IMMEDIATE")
    writer.execute(insert, ("Open",))
    try:
        file = tmp_path / "alliance.backup"
        # The store function: the command would then wait to audit the backup, as every
        # writer waits for the one holding the lock.
        backup(sqlite_url(path), file)
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert not Path(f"{file}-wal").exists()
    with sqlite3.connect(file) as db:
        names = {row[0] for row in db.execute("SELECT name FROM clinics")}
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert names == {"Backup clinic", "Committed"}


def test_the_db_option_names_the_sqlite_file(tmp_path: Path) -> None:
    live = tmp_path / "live.sqlite3"
    _fill(sqlite_url(live))
    file = tmp_path / "alliance.backup"
    restored = tmp_path / "fresh" / "alliance.sqlite3"
    env = {"ALLIANCE_DATABASE_URL": "sqlite:////nonexistent/ignored.sqlite3"}
    runner = CliRunner()
    result = runner.invoke(app, ["db", "backup", str(file), "--db", str(live)], env=env)
    assert result.exit_code == 0, result.stderr
    result = runner.invoke(app, ["db", "restore", str(file), "--db", str(restored)], env=env)
    assert result.exit_code == 0, result.stderr
    _check(sqlite_url(restored))


def test_a_missing_sqlite_database_is_not_backed_up_as_an_empty_one(tmp_path: Path) -> None:
    code, _, err = cli(sqlite_url(tmp_path / "typo.sqlite3"), "backup", str(tmp_path / "b"))
    assert code == 2
    assert "no database at" in err
    assert not (tmp_path / "typo.sqlite3").exists()


def test_the_client_tools_match_the_server_major_version() -> None:
    tools = {"/usr/bin/pg_dump": 17, "/usr/lib/postgresql/15/bin/pg_dump": 15}
    assert pick_tool("pg_dump", 15, tools) == "/usr/lib/postgresql/15/bin/pg_dump"
    assert pick_tool("pg_dump", 16, tools) == "/usr/bin/pg_dump"  # newer reads older servers
    with pytest.raises(BackupError, match="apt-get install postgresql-client-18"):
        pick_tool("pg_dump", 18, tools)


@pytest.mark.postgres
def test_the_installed_pg_dump_matches_the_test_server(postgres_server_url: str) -> None:
    tools = _PgTools.for_server(postgres_server_url)
    path = tools.path("pg_dump")
    assert Path(path).exists()
    from alliance.store.backup import _tool_major

    assert _tool_major(path) == tools.server_major
