"""Alembic migrations, shipped inside the package so an installed Alliance can upgrade its
own database: ``alliance db upgrade`` or :func:`upgrade` from Python.

A new migration: ``alembic -c src/alliance/store/migrations/alembic.ini revision
--autogenerate -m "what changes"`` against an up-to-date database, then read and edit the
result (autogenerate misses triggers and data changes).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from alliance.store.db import make_engine, normalise_url

HERE = Path(__file__).resolve().parent


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at this package's scripts and ``url``."""
    config = Config()
    config.set_main_option("script_location", str(HERE))
    # Passed as an attribute, not an ini option: configparser would mangle '%' in passwords.
    config.attributes["database_url"] = normalise_url(url)
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` up to ``revision`` (creates every table on an empty one)."""
    command.upgrade(alembic_config(url), revision)


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def current_revision(url: str) -> str | None:
    """The revision the database is at (None for an empty database)."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
