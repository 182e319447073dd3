"""The demo clinic for tests: seeded once per run, and a fresh copy for each test that uses it.

Seeding plays months of check-ins through the services (seconds of CPU); copying the seeded
database is a file copy on SQLite and ``CREATE DATABASE … TEMPLATE`` on PostgreSQL. So a test
that needs the demo gets its own writable copy, and no test sees another's changes.

* SQLite: one seeded file per pytest run, shared by the pytest-xdist workers through their
  common temporary directory (a lock file makes the first worker seed and the others wait).
* PostgreSQL: one seeded template database per test process (dropped at the end).

Every copy is read with the key material and clock the seed used (:data:`DEMO_KEYS`,
:data:`DEMO_NOW`): a copy opened with other keys could not decrypt a single value.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from alliance.config import DEV_ENCRYPTION_KEY, Settings
from alliance.demo import DemoInfo, DemoLogin, seed_demo
from alliance.services.context import ServiceContext
from alliance.store.db import make_engine, sqlite_url
from alliance.store.migrations import upgrade

#: The keys the demo is encrypted with: every copy must be opened with these.
DEMO_KEYS = DEV_ENCRYPTION_KEY
#: The simulated "today" of the seed (the service tests' clock starts here too).
DEMO_NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
BACKENDS = ("sqlite", "postgres")


def demo_settings(database_url: str, **overrides: object) -> Settings:
    """Settings the seed ran with; ``overrides`` must not change ``encryption_keys`` unless
    the new value still holds :data:`DEMO_KEYS` (a rotation test)."""
    values: dict[str, object] = {
        "database_url": database_url,
        "password_hash_profile": "fast-insecure-tests",
        "base_url": "https://alliance.example",
        "encryption_keys": DEMO_KEYS,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class SeededDemo:
    """A seeded demo to copy: a SQLite file or a PostgreSQL template database."""

    backend: str
    source: str  # the file's path, or the template database's name
    info: DemoInfo


@dataclass(frozen=True)
class DemoCopy:
    """One test's own copy of the demo clinic."""

    url: str
    info: DemoInfo


def _seed(url: str) -> DemoInfo:
    upgrade(url)
    engine = make_engine(url)
    try:
        ctx = ServiceContext.create(demo_settings(url), engine=engine, clock=lambda: DEMO_NOW)
        return seed_demo(ctx.session_factory, ctx.settings, now=DEMO_NOW)
    finally:
        engine.dispose()


def _info_to_json(info: DemoInfo) -> str:
    return json.dumps(dataclasses.asdict(info))


def _info_from_json(text: str) -> DemoInfo:
    data = json.loads(text)
    data["logins"] = tuple(DemoLogin(**login) for login in data["logins"])
    return DemoInfo(**data)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: each process seeds its own directory
        yield
        return
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def seeded_sqlite(run_dir: Path) -> SeededDemo:
    """The run's seeded SQLite file in ``run_dir`` (seeded by whoever gets there first)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path, done = run_dir / "demo.sqlite3", run_dir / "demo.json"
    with _locked(run_dir / "seed.lock"):
        if not done.exists():
            partial = run_dir / "seeding.sqlite3"
            partial.unlink(missing_ok=True)
            info = _seed(sqlite_url(partial))
            # Fold the write-ahead log into the file, so a plain copy of it has everything.
            with sqlite3.connect(partial) as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                conn.execute("PRAGMA journal_mode=DELETE")
            partial.replace(path)
            done.write_text(_info_to_json(info))
    return SeededDemo("sqlite", str(path), _info_from_json(done.read_text()))


def run_directory(basetemp: Path) -> Path:
    """A directory all the processes of one run share: xdist workers each get a basetemp
    inside the run's own."""
    shared = basetemp.parent if os.environ.get("PYTEST_XDIST_WORKER") else basetemp
    return shared / "alliance-demo"


@contextmanager
def seeded_postgres(server_url: str) -> Iterator[SeededDemo]:
    import psycopg

    name = f"alliance_demo_tpl_{uuid.uuid4().hex[:12]}"
    admin_dsn = server_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        info = _seed(f"{server_url.rsplit('/', 1)[0]}/{name}")
        yield SeededDemo("postgres", name, info)
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def copy_of(
    seeded: SeededDemo, directory: Path, server_url: str | None = None
) -> Iterator[DemoCopy]:
    """A fresh, writable copy of ``seeded`` (a file in ``directory``, or a new database on
    ``server_url``), removed afterwards."""
    if seeded.backend == "sqlite":
        path = directory / f"demo-{uuid.uuid4().hex[:8]}.sqlite3"
        shutil.copyfile(seeded.source, path)
        yield DemoCopy(sqlite_url(path), seeded.info)
        return
    import psycopg

    assert server_url is not None
    name = f"alliance_demo_{uuid.uuid4().hex[:12]}"
    admin_dsn = server_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{seeded.source}"')
    try:
        yield DemoCopy(f"{server_url.rsplit('/', 1)[0]}/{name}", seeded.info)
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
