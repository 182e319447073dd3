"""Migrations: an empty database upgrades on both backends, matches the models, the audit
trail is append-only in the database itself, and data moves where a revision says."""

from __future__ import annotations

import json
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


def test_revision_0004_moves_hand_over_notes_out_of_the_audit_trail(
    empty_database_url: str,
) -> None:
    upgrade(empty_database_url, "0003")
    engine = make_engine(empty_database_url)
    at = datetime(2026, 11, 1, 9, tzinfo=UTC)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO clinics (id, name, settings, created_at) "
                    "VALUES (1, 'C', '{}', :at)"
                ),
                {"at": at},
            )
            conn.execute(
                text(
                    "INSERT INTO staff_users (id, clinic_id, email, display_name, role, "
                    "password_hash, totp_enabled, active, created_at) "
                    "VALUES (7, 1, 't@x.example', 'T', 'therapist', 'h', false, true, :at)"
                ),
                {"at": at},
            )
            conn.execute(
                text(
                    "INSERT INTO clients (id, clinic_id, display_name, created_at) "
                    "VALUES (3, 1, 'K', :at)"
                ),
                {"at": at},
            )
            conn.execute(
                text(
                    "INSERT INTO episodes (id, client_id, therapist_id, started_at, ended_at, "
                    "end_reason, instruments) VALUES (5, 3, 7, :at, :at, 'fit', '[]')"
                ),
                {"at": at},
            )
            # The older hand-over wrote the note into its audit event: one with a note, one
            # without, and one whose episode was erased since.
            for entity_id, note in (("5", "enc1:k0:AAAA"), ("5", None), ("99", "enc1:k0:BBBB")):
                audit_detail = {"op": "end", "reason": "fit", "handed_to": 8, "note_enc": note}
                conn.execute(
                    text(
                        "INSERT INTO audit_events (at, actor_type, actor_id, clinic_id, action, "
                        "entity_type, entity_id, detail) "
                        "VALUES (:at, 'staff', 7, 1, 'write', 'episode', :entity, :detail)"
                    ),
                    {"at": at, "entity": entity_id, "detail": json.dumps(audit_detail)},
                )
        upgrade(empty_database_url)
        with engine.connect() as conn:
            notes = conn.execute(
                text("SELECT episode_id, clinic_id, written_by, note_enc FROM handover_notes")
            ).all()
            details = [
                d if isinstance(d, dict) else json.loads(d)
                for d in conn.execute(text("SELECT detail FROM audit_events ORDER BY id")).scalars()
            ]
        assert [tuple(n) for n in notes] == [(5, 1, 7, "enc1:k0:AAAA")]
        assert [d.get("handover_note") for d in details] == [True, False, True]
        assert not any("note_enc" in d for d in details)
        assert all(d["handed_to"] == 8 for d in details)
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text("UPDATE audit_events SET action = 'read'"))

        upgrade_down(empty_database_url, "0003")
        with engine.connect() as conn:
            back = [
                d if isinstance(d, dict) else json.loads(d)
                for d in conn.execute(text("SELECT detail FROM audit_events ORDER BY id")).scalars()
            ]
        assert [d["note_enc"] for d in back] == ["enc1:k0:AAAA", None, None]
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text("UPDATE audit_events SET action = 'read'"))
    finally:
        engine.dispose()


def upgrade_down(url: str, revision: str) -> None:
    from alembic import command

    from alliance.store.migrations import alembic_config

    command.downgrade(alembic_config(url), revision)


def test_revision_0006_folds_therapist_profiles_into_matching_profiles(
    empty_database_url: str,
) -> None:
    upgrade(empty_database_url, "0005")
    engine = make_engine(empty_database_url)
    at = datetime(2026, 12, 1, 9, tzinfo=UTC)
    kept = {"modalities": ["dbt"], "styles": {"directive": 2.0}, "fee": 80}
    try:
        with engine.begin() as conn:
            for clinic in (1, 2):
                conn.execute(
                    text(
                        "INSERT INTO clinics (id, name, settings, created_at) "
                        "VALUES (:id, 'C', '{}', :at)"
                    ),
                    {"id": clinic, "at": at},
                )
            # 7 and 8 in clinic 1 (8 already has a matching profile), 9 in clinic 2 (nothing
            # of theirs maps), 10 in clinic 2 with empty lists.
            for user, clinic in ((7, 1), (8, 1), (9, 2), (10, 2)):
                conn.execute(
                    text(
                        "INSERT INTO staff_users (id, clinic_id, email, display_name, role, "
                        "password_hash, totp_enabled, active, created_at) VALUES (:id, :clinic, "
                        ":email, 'T', 'therapist', 'h', false, true, :at)"
                    ),
                    {"id": user, "clinic": clinic, "email": f"t{user}@x.example", "at": at},
                )
            conn.execute(
                text(
                    "INSERT INTO matching_profiles (user_id, clinic_id, profile, updated_at) "
                    "VALUES (8, 1, :profile, :at)"
                ),
                {"profile": json.dumps(kept), "at": at},
            )
            old = (
                (7, ["CBT", "Person-centred", "Gestalt", "cbt"], ["directive", "warm"], ["En"], {}),
                (8, ["CBT"], ["supportive"], ["english"], {}),
                (9, ["Gestalt"], ["firm"], [], {"capacity": 5}),
                (10, [], [], [], {}),
            )
            for user, modalities, styles, languages, extra in old:
                conn.execute(
                    text(
                        "INSERT INTO therapist_profiles (user_id, modalities, styles, languages, "
                        "extra) VALUES (:user, :modalities, :styles, :languages, :extra)"
                    ),
                    {
                        "user": user,
                        "modalities": json.dumps(modalities),
                        "styles": json.dumps(styles),
                        "languages": json.dumps(languages),
                        "extra": json.dumps(extra),
                    },
                )
        upgrade(empty_database_url)
        with engine.connect() as conn:
            profiles = {
                user: (clinic, profile if isinstance(profile, dict) else json.loads(profile))
                for user, clinic, profile in conn.execute(
                    text("SELECT user_id, clinic_id, profile FROM matching_profiles")
                ).all()
            }
            events = {
                int(entity): (clinic, d if isinstance(d, dict) else json.loads(d))
                for entity, clinic, d in conn.execute(
                    text(
                        "SELECT entity_id, clinic_id, detail FROM audit_events "
                        "WHERE entity_type = 'matching_profile' AND actor_type = 'system'"
                    )
                ).all()
            }
            tables = set(inspect(conn).get_table_names())
        assert "therapist_profiles" not in tables
        assert profiles == {
            7: (
                1,
                {
                    "modalities": ["cbt", "person_centred"],
                    "styles": {"directive": 1.0},
                    "languages": ["en"],
                },
            ),
            8: (1, kept),  # the validated profile they edit wins
        }
        assert {user: e[1]["outcome"] for user, e in events.items()} == {
            7: "copied",
            8: "kept",
            9: "empty",
            10: "empty",
        }
        assert {user: e[0] for user, e in events.items()} == {7: 1, 8: 1, 9: 2, 10: 2}
        assert events[7][1]["unmapped"] == {"modalities": ["Gestalt"], "styles": ["warm"]}
        assert events[9][1]["unmapped"] == {
            "modalities": ["Gestalt"],
            "styles": ["firm"],
            "extra_keys": ["capacity"],
        }
        assert events[10][1]["unmapped"] == {}

        upgrade_down(empty_database_url, "0005")
        with engine.connect() as conn:
            back = {
                user: [v if isinstance(v, list) else json.loads(v) for v in values]
                for user, *values in conn.execute(
                    text("SELECT user_id, modalities, styles, languages FROM therapist_profiles")
                ).all()
            }
        assert back == {
            7: [["CBT", "person-centred / humanistic"], ["directive"], ["en"]],
            8: [["DBT"], ["directive"], []],
        }
    finally:
        engine.dispose()
