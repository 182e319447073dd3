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
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pyotp
import pytest

from alliance.config import Settings
from alliance.demo import DemoInfo
from alliance.measures.plan import BUNDLED_CADENCES, every_session_plan
from alliance.services import admin, alerts, auth, checkins, clients, goals, sessions
from alliance.services.authz import Actor, system_actor
from alliance.services.clinic_settings import ClinicSettings
from alliance.services.context import ServiceContext
from alliance.store.db import make_engine, sqlite_url
from alliance.store.migrations import upgrade
from demo_copies import DEMO_NOW, DemoCopy, demo_settings

PASSWORD = "correct horse battery"
COMMENT = "My manager shouted at me again"
GOAL = "Ask for a quieter desk"


class Clock:
    """A settable clock so tests can move time (expiry, idle sessions)."""

    def __init__(self) -> None:
        self.now = DEMO_NOW

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


@contextmanager
def _demo_context(copy: DemoCopy) -> Iterator[tuple[ServiceContext, DemoInfo]]:
    engine = make_engine(copy.url)
    try:
        # The seed's keys and "today" (Clock starts at DEMO_NOW): a copy is read as it was written.
        ctx = ServiceContext.create(demo_settings(copy.url), engine=engine, clock=Clock())
        yield ctx, copy.info
    finally:
        engine.dispose()


@pytest.fixture
def demo(demo_copy: DemoCopy) -> Iterator[tuple[ServiceContext, DemoInfo]]:
    """The seeded demo clinic, on each backend: this test's own copy, free to change."""
    with _demo_context(demo_copy) as demo:
        yield demo


@pytest.fixture(scope="module")
def module_demo(module_demo_copy: DemoCopy) -> Iterator[tuple[ServiceContext, DemoInfo]]:
    """One copy of the demo shared by the tests of a module, for modules that build on it once
    and then only read."""
    with _demo_context(module_demo_copy) as demo:
        yield demo


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
    # Every questionnaire at every check-in, as before measurement plans, so these tests
    # see a score per instrument per session; the default plan has its own tests
    # (tests/measures/test_plan.py, tests/services/test_plans.py).
    everything = ClinicSettings(measurement_plan=every_session_plan(BUNDLED_CADENCES))
    north = admin.create_clinic(ctx, actor=system_actor(), name="Northside", settings=everything).id
    south = admin.create_clinic(ctx, actor=system_actor(), name="Southside", settings=everything).id
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


def weekly_check_ins(
    world: World, clock: Clock, episode: int, actor: Actor, levels: list[tuple[int, int]]
) -> None:
    """Weekly attended sessions, each followed by a check-in (alliance, symptom level)."""
    for alliance, symptoms in levels:
        clock.advance(days=7)
        sessions.schedule_session(
            world.ctx, actor=actor, episode_id=episode, scheduled_at=clock.now, status="attended"
        )
        link = checkins.create_checkin_link(world.ctx, actor=actor, episode_id=episode)
        checkins.record_check_in(
            world.ctx, link.token, full_answers(alliance=alliance, symptoms=symptoms)
        )


def rupture(world: World, clock: Clock) -> int:
    """John's alliance drops at his fourth weekly check-in: the id of the rupture alert."""
    weekly_check_ins(world, clock, world.john_episode, world.bob, [(4, 2), (4, 2), (5, 2), (1, 2)])
    [alert] = [
        a
        for a in alerts.list_client_alerts(world.ctx, actor=world.bob, client_id=world.john)
        if a.kind == "rupture"
    ]
    return alert.id


def seed_goal_and_check_ins(world: World, clock: Clock) -> None:
    """Sarah agrees GOAL and checks in twice after attended sessions, commenting COMMENT."""
    goals.agree_goals(world.ctx, actor=world.alice, episode_id=world.sarah_episode, goals=[GOAL])
    for level in (3, 4):
        clock.advance(days=7)
        sessions.schedule_session(
            world.ctx,
            actor=world.alice,
            episode_id=world.sarah_episode,
            scheduled_at=clock.now,
            status="attended",
        )
        link = checkins.create_checkin_link(
            world.ctx, actor=world.alice, episode_id=world.sarah_episode
        )
        checkins.record_check_in(
            world.ctx, link.token, full_answers(alliance=level, comment=COMMENT)
        )


def enrol_totp(world: World, clock: Clock, actor: Actor) -> pyotp.TOTP:
    """Turn on the second factor for ``actor``; the clock moves past the enrolment code."""
    secret, _ = auth.start_totp_enrolment(world.ctx, actor=actor)
    totp = pyotp.TOTP(secret)
    auth.confirm_totp(world.ctx, actor=actor, code=totp.at(clock()))
    clock.advance(seconds=90)
    return totp


def wrong_code(totp: pyotp.TOTP, clock: Clock) -> str:
    """A six-digit code that is not valid now (nor one step either side)."""
    right = {totp.at(clock(), counter_offset=offset) for offset in (-1, 0, 1)}
    return next(c for c in ("000000", "111111", "222222") if c not in right)
