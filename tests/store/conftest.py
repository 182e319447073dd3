"""Store-test fixtures: an *empty* database (no migrations run) on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from alliance.store.db import sqlite_url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return sqlite_url(tmp_path / "store-test.sqlite3")
    return str(request.getfixturevalue("postgres_database_url"))
