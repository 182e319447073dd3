"""Alembic environment: runs migrations on the engine :mod:`alliance.store.db` builds, so
SQLite gets the same pragmas as the app."""

from __future__ import annotations

from alembic import context

from alliance.store.db import make_engine
from alliance.store.models import Base

config = context.config
url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
if not url:
    raise RuntimeError("no database URL given to the migrations")

engine = make_engine(url)
try:
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
finally:
    engine.dispose()
