"""Fixtures shared by the whole suite.

The demo clinic: ``demo_copy`` is a fresh copy, on SQLite and on PostgreSQL, of a demo seeded
once per run (see ``demo_copies``); ``module_demo_copy`` is one copy shared by a module's tests.

``sink``: a real SMTP server (aiosmtpd) for one test, from ``smtp_sink``.

PostgreSQL: tests marked ``postgres`` get a URL to a fresh schema-isolated database on the
server at 127.0.0.1:5432 (override with ``ALLIANCE_TEST_POSTGRES_URL``). Without a server they
skip with a message, unless ``ALLIANCE_REQUIRE_POSTGRES=1`` (set by ``.ci/run``), where a
missing server fails the run instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from demo_copies import DemoCopy, SeededDemo, copy_of, run_directory, seeded_postgres, seeded_sqlite
from smtp_sink import RunningSink, SmtpSink

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
POSTGRES_URL = os.environ.get(
    "ALLIANCE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("ALLIANCE_REQUIRE_POSTGRES") == "1"


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    """A real SMTP server (aiosmtpd) on a free local port for one test (tests/smtp_sink.py)."""
    running = RunningSink()
    try:
        yield running.sink
    finally:
        running.stop()


def _postgres_available() -> str | None:
    """Return None when the server answers, else the reason it does not."""
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - psycopg is a dependency
        return f"psycopg not importable: {exc}"
    dsn = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    try:
        with psycopg.connect(dsn, connect_timeout=3):
            return None
    except psycopg.OperationalError as exc:
        return f"PostgreSQL not reachable at {POSTGRES_URL}: {str(exc).strip()[:120]}"


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    """URL of the test server's database; skips (or fails in CI) when it is not there."""
    reason = _postgres_available()
    if reason is not None:
        if REQUIRE_POSTGRES:
            pytest.fail(f"ALLIANCE_REQUIRE_POSTGRES=1 but {reason}")
        pytest.skip(reason)
    return POSTGRES_URL


@pytest.fixture
def postgres_database_url(postgres_server_url: str) -> Iterator[str]:
    """A brand-new, empty database for one test, dropped afterwards (runs never collide)."""
    import psycopg

    name = f"alliance_test_{uuid.uuid4().hex[:12]}"
    admin_dsn = postgres_server_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = postgres_server_url.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, or skip: a user's clone has no training data."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"training/evaluation data not found at {SHARED_DATA}")
    return SHARED_DATA


DEMO_BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def demo_seed_sqlite(tmp_path_factory: pytest.TempPathFactory) -> SeededDemo:
    """The demo seeded into SQLite once per run (the xdist workers share it)."""
    return seeded_sqlite(run_directory(tmp_path_factory.getbasetemp()))


@pytest.fixture(scope="session")
def demo_seed_postgres(postgres_server_url: str) -> Iterator[SeededDemo]:
    """The demo seeded into a PostgreSQL template database, once per test process."""
    with seeded_postgres(postgres_server_url) as seeded:
        yield seeded


def _copy(request: pytest.FixtureRequest, directory: Path) -> Iterator[DemoCopy]:
    if request.param == "sqlite":
        seeded, server = request.getfixturevalue("demo_seed_sqlite"), None
    else:
        seeded = request.getfixturevalue("demo_seed_postgres")
        server = request.getfixturevalue("postgres_server_url")
    with copy_of(seeded, directory, server) as copy:
        yield copy


@pytest.fixture(params=DEMO_BACKENDS)
def demo_copy(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DemoCopy]:
    """This test's own copy of the seeded demo: it may write, no other test sees it."""
    yield from _copy(request, tmp_path)


@pytest.fixture(scope="module", params=DEMO_BACKENDS)
def module_demo_copy(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DemoCopy]:
    """One copy of the seeded demo for all the tests of a module (which only read it)."""
    yield from _copy(request, tmp_path_factory.mktemp("demo"))
