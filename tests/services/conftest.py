"""Service-test fixtures (defined in ``clinic_world``): every test runs on SQLite and on
PostgreSQL."""

from clinic_world import (
    clock,
    ctx,
    database_url,
    demo,
    module_demo,
    postgres_template,
    postgres_worker_database,
    sqlite_template,
    world,
)

__all__ = [
    "clock",
    "ctx",
    "database_url",
    "demo",
    "module_demo",
    "postgres_template",
    "postgres_worker_database",
    "sqlite_template",
    "world",
]
