"""Migrations: an empty database upgrades on both backends, matches the models, and the
audit trail is append-only in the database itself."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError

from alliance.store import audit
from alliance.store.db import make_engine, make_session_factory, transaction
from alliance.store.migrations import current_revision, head_revision, upgrade
from alliance.store.models import Base


def test_migrations_upgrade_an_empty_database(empty_database_url: str) -> None:
    assert current_revision(empty_database_url) is None
    upgrade(empty_database_url)
    assert current_revision(empty_database_url) == head_revision()
    engine = make_engine(empty_database_url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert set(Base.metadata.tables) <= tables
    upgrade(empty_database_url)  # a second run is a no-op


def test_the_migrated_schema_matches_the_models(empty_database_url: str) -> None:
    upgrade(empty_database_url)
    engine = make_engine(empty_database_url)
    try:
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_the_audit_trail_refuses_update_and_delete(empty_database_url: str) -> None:
    upgrade(empty_database_url)
    engine = make_engine(empty_database_url)
    factory = make_session_factory(engine)
    try:
        with transaction(factory) as session:
            audit.append(
                session,
                at=datetime.now(UTC),
                actor_type="system",
                actor_id=None,
                clinic_id=None,
                action="write",
                entity_type="test",
                entity_id=1,
            )
        for statement in ("UPDATE audit_events SET action = 'read'", "DELETE FROM audit_events"):
            with pytest.raises(DBAPIError, match="append-only"), transaction(factory) as session:
                session.execute(text(statement))
        with transaction(factory) as session:
            assert [e.action for e in audit.events(session)] == ["write"]
    finally:
        engine.dispose()


def test_sqlite_runs_in_wal_mode_with_full_sync_and_foreign_keys(tmp_path: object) -> None:
    from pathlib import Path

    from alliance.store.db import sqlite_url

    assert isinstance(tmp_path, Path)
    engine = make_engine(sqlite_url(tmp_path / "pragma.sqlite3"))
    try:
        with engine.connect() as connection:
            pragmas = {
                name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "synchronous", "foreign_keys")
            }
    finally:
        engine.dispose()
    assert pragmas == {"journal_mode": "wal", "synchronous": 2, "foreign_keys": 1}
