"""Fixtures for the service tests: every test runs on SQLite *and* on PostgreSQL.

``world`` is a small, named cast (after the healthchecks habit of Alice and Bob):

* clinic **Northside**: admin Ada, supervisor Sam, therapists Alice (in Sam's team) and Bob
  (in no team); clients Sarah (Alice's) and John (Bob's);
* clinic **Southside**: admin Carol, therapist Dave; client Eve (Dave's).
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alliance.config import Settings
from alliance.demo import DemoInfo, seed_demo
from alliance.services import admin, auth, clients
from alliance.services.authz import Actor, system_actor
from alliance.services.context import ServiceContext
from alliance.store.db import make_engine, sqlite_url
from alliance.store.migrations import upgrade

PASSWORD = "correct horse battery"


class Clock:
    """A settable clock so tests can move time (expiry, idle sessions)."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file, copied for each test (migrating each time is slow)."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    upgrade(sqlite_url(path))
    return path


@pytest.fixture(scope="session")
def postgres_template(postgres_server_url: str) -> Iterator[str]:
    """One migrated PostgreSQL database that each test's database is created from."""
    import psycopg

    name = f"alliance_tpl_{uuid.uuid4().hex[:12]}"
    admin_dsn = postgres_server_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    upgrade(f"{postgres_server_url.rsplit('/', 1)[0]}/{name}")
    try:
        yield name
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "alliance-test.sqlite3"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield sqlite_url(path)
        return
    # PostgreSQL: one migrated database per test process, emptied before each test
    # (TRUNCATE … RESTART IDENTITY is far cheaper than creating and dropping a database).
    import psycopg

    url = str(request.getfixturevalue("postgres_worker_database"))
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'alembic_version'"
            )
        ]
        conn.execute(
            "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"
        )
    yield url


@pytest.fixture(scope="session")
def postgres_worker_database(postgres_server_url: str, postgres_template: str) -> Iterator[str]:
    """A database created from the migrated template, shared by one test process's tests."""
    import psycopg

    name = f"alliance_test_{uuid.uuid4().hex[:12]}"
    admin_dsn = postgres_server_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"')
    try:
        yield f"{postgres_server_url.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def demo(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServiceContext, DemoInfo]]:
    """One seeded demo clinic per backend, shared by the tests of the module that asks for it
    (seeding takes a while)."""
    import psycopg

    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("demo") / "demo.sqlite3"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        url = sqlite_url(path)
        cleanup = None
    else:
        server = str(request.getfixturevalue("postgres_server_url"))
        template = request.getfixturevalue("postgres_template")
        name = f"alliance_demo_{uuid.uuid4().hex[:12]}"
        admin_dsn = server.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        url = f"{server.rsplit('/', 1)[0]}/{name}"
        cleanup = (admin_dsn, name)
    engine = make_engine(url)
    clock = Clock()
    ctx = ServiceContext.create(make_settings(url), engine=engine, clock=clock)
    try:
        yield ctx, seed_demo(ctx.session_factory, ctx.settings, now=clock.now)
    finally:
        engine.dispose()
        if cleanup is not None:
            with psycopg.connect(cleanup[0], autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{cleanup[1]}" WITH (FORCE)')


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_settings(database_url: str, **overrides: object) -> Settings:
    return Settings(  # type: ignore[call-arg]
        database_url=database_url,
        password_hash_profile="fast-insecure-tests",
        base_url="https://alliance.example",
        **overrides,
    )


@pytest.fixture
def ctx(database_url: str, clock: Clock) -> Iterator[ServiceContext]:
    engine = make_engine(database_url)
    try:
        yield ServiceContext.create(make_settings(database_url), engine=engine, clock=clock)
    finally:
        engine.dispose()


@dataclass
class World:
    ctx: ServiceContext
    north: int
    south: int
    ada: Actor
    sam: Actor
    alice: Actor
    bob: Actor
    carol: Actor
    dave: Actor
    sarah: int
    sarah_episode: int
    john: int
    john_episode: int
    eve: int
    eve_episode: int


def _user(
    ctx: ServiceContext, clinic: int, email: str, role: str, supervisor: int | None = None
) -> Actor:
    view = auth.create_staff_user(
        ctx,
        actor=system_actor(),
        clinic_id=clinic,
        email=email,
        display_name=email.split("@")[0].title(),
        role=role,
        password=PASSWORD,
        supervisor_id=supervisor,
    )
    return auth.actor_for_user(ctx, view.id)


@pytest.fixture
def world(ctx: ServiceContext) -> World:
    north = admin.create_clinic(ctx, actor=system_actor(), name="Northside").id
    south = admin.create_clinic(ctx, actor=system_actor(), name="Southside").id
    ada = _user(ctx, north, "ada@north.example", "admin")
    sam = _user(ctx, north, "sam@north.example", "supervisor")
    alice = _user(ctx, north, "alice@north.example", "therapist", supervisor=sam.user_id)
    bob = _user(ctx, north, "bob@north.example", "therapist")
    carol = _user(ctx, south, "carol@south.example", "admin")
    dave = _user(ctx, south, "dave@south.example", "therapist")
    sarah, sarah_ep = clients.create_client(
        ctx, actor=alice, display_name="Sarah", contact_email="sarah@mail.example"
    )
    john, john_ep = clients.create_client(ctx, actor=bob, display_name="John")
    eve, eve_ep = clients.create_client(ctx, actor=dave, display_name="Eve")
    return World(
        ctx,
        north,
        south,
        ada,
        sam,
        alice,
        bob,
        carol,
        dave,
        sarah.id,
        sarah_ep.id,
        john.id,
        john_ep.id,
        eve.id,
        eve_ep.id,
    )


def wai(level: int) -> dict[str, object]:
    """WAI-SR answers with every item at ``level`` (1-5)."""
    return {f"wai_{i}": level for i in range(1, 13)}


def phq9(level: int, item9: int = 0) -> dict[str, object]:
    """PHQ-9 answers totalling 9 × ``level`` (at most 24 when item 9 is 0), spread over items
    1-8. Item 9 (thoughts of death or self-harm) is 0 unless given: any other answer raises
    the urgent risk alert."""
    base, extra = divmod(max(0, min(9 * level - item9, 24)), 8)
    answers: dict[str, object] = {f"phq9_{i}": base + (1 if i <= extra else 0) for i in range(1, 9)}
    answers["phq9_9"] = item9
    return answers


def gad7(level: int) -> dict[str, object]:
    return {f"gad7_{i}": level for i in range(1, 8)}


def feedback(rating: int, fit: str = "yes", comment: str | None = None) -> dict[str, object]:
    answers: dict[str, object] = {
        "sf_heard": rating,
        "sf_focus": rating,
        "sf_approach": rating,
        "sf_fit": fit,
    }
    if comment is not None:
        answers["sf_comment"] = comment
    return answers


def full_answers(
    alliance: int = 4,
    symptoms: int = 1,
    rating: int = 8,
    comment: str | None = None,
    fit: str = "yes",
) -> dict[str, dict[str, object]]:
    return {
        "wai_sr": wai(alliance),
        "phq9": phq9(symptoms),
        "gad7": gad7(symptoms),
        "session_feedback": feedback(rating, fit, comment),
    }
