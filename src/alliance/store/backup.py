"""Backing up the database to one file and restoring such a file into an empty database.

SQLite: the online backup API (:meth:`sqlite3.Connection.backup`) copies a consistent
snapshot while the app keeps writing (WAL contents included) into a self-contained file (no
``-wal`` beside it), checked with ``PRAGMA integrity_check`` before it replaces FILE.
PostgreSQL: ``pg_dump --format=custom``, restored with ``pg_restore --single-transaction``;
the client tools are chosen to match the server's major version (pg_dump refuses a newer
server), from ``PATH`` and ``/usr/lib/postgresql/*/bin``.

A restore first reads the file: its kind (a SQLite database, a pg_dump archive, or something
else, said in words), that it is an Alliance database, and its schema revision (one this
Alliance does not know is newer: refused; an older one is upgraded after the restore). It
refuses a target that already holds tables unless ``force`` is given. Both kinds of backup
carry the triggers that keep ``audit_events`` append-only.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import URL, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from alliance.store.db import make_engine, normalise_url
from alliance.store.migrations import alembic_config, current_revision, head_revision, upgrade

Backend = Literal["sqlite", "postgresql"]
BackupKind = Literal["sqlite", "postgresql", "gzip", "empty", "unknown"]

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_DUMP_MAGIC = b"PGDMP"  # the custom-format archive header of pg_dump
GZIP_MAGIC = b"\x1f\x8b"
PG_BIN_GLOBS = ("/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin")
PG_TOOL_TIMEOUT_S = 3600


class BackupError(Exception):
    """A backup or restore refused or failed; the message is one readable sentence."""


@dataclass(frozen=True)
class BackupInfo:
    path: Path
    backend: Backend
    database: str  # the file or URL (without password) that was backed up
    revision: str
    size: int


@dataclass(frozen=True)
class RestoreInfo:
    path: Path
    backend: Backend
    database: str  # the file or URL (without password) restored into
    backup_revision: str
    revision: str
    replaced: bool  # the target held tables and ``force`` replaced them

    @property
    def upgraded(self) -> bool:
        return self.backup_revision != self.revision


def backend_of(url: str) -> Backend:
    name = make_url(normalise_url(url)).get_backend_name()
    if name == "sqlite":
        return "sqlite"
    if name == "postgresql":
        return "postgresql"
    raise BackupError(f"backups support SQLite and PostgreSQL databases, not {name}")


def describe(url: str) -> str:
    """The database in words: a SQLite file's path, else the URL without its password."""
    parsed = make_url(normalise_url(url))
    if parsed.get_backend_name() == "sqlite":
        return parsed.database or ":memory:"
    return parsed.render_as_string(hide_password=True)


def kind_of(path: Path) -> BackupKind:
    """What ``path`` holds, judged by its first bytes."""
    with path.open("rb") as file:
        head = file.read(len(SQLITE_MAGIC))
    if not head:
        return "empty"
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PG_DUMP_MAGIC):
        return "postgresql"
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    return "unknown"


# --- backup ------------------------------------------------------------------------------------


def backup(url: str, target: Path, *, force: bool = False) -> BackupInfo:
    """Write a backup of the database at ``url`` to ``target`` (refuses to overwrite an
    existing file unless ``force``). The file appears whole or not at all."""
    backend = backend_of(url)
    target = target.expanduser()
    if target.is_dir():
        raise BackupError(f"{target} is a directory: give the backup file's name")
    if target.exists() and not force:
        raise BackupError(f"{target} exists: choose a new name, or add --force to overwrite it")
    if not target.parent.is_dir():
        raise BackupError(f"{target.parent} does not exist: create the directory first")
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    try:
        if backend == "sqlite":
            with _sqlite_errors(_sqlite_path(url)):
                revision = _sqlite_backup(_sqlite_path(url), partial)
        else:
            revision = _postgres_backup(url, partial)
        _fsync(partial)
        os.replace(partial, target)
    except OSError as exc:
        raise BackupError(f"{target}: {exc.strerror or exc}") from exc
    finally:
        partial.unlink(missing_ok=True)
    return BackupInfo(target, backend, describe(url), revision, target.stat().st_size)


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up or restored")
    return Path(database)


def _sqlite_backup(source: Path, partial: Path) -> str:
    if not source.is_file():
        raise BackupError(f"no database at {source}")
    with closing(sqlite3.connect(source)) as live, closing(sqlite3.connect(partial)) as copy:
        revision = _sqlite_revision(live, source)
        # pages=-1 (the default): one step, under one read snapshot, so the copy is
        # consistent however busy the app is (WAL lets it keep writing meanwhile).
        live.backup(copy)
        # A self-contained file: no -wal beside it to lose when it is copied elsewhere.
        copy.execute("PRAGMA journal_mode=DELETE")
        _sqlite_check(copy, partial)
    return revision


@contextmanager
def _sqlite_errors(path: Path) -> Iterator[None]:
    """SQLite's own errors (a locked or unreadable file) as one line naming the file."""
    try:
        yield
    except sqlite3.Error as exc:
        hint = " (is the app still writing to it?)" if "locked" in str(exc) else ""
        raise BackupError(f"{path}: {exc}{hint}") from exc


def _sqlite_revision(connection: sqlite3.Connection, path: Path) -> str:
    try:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError as exc:
        if "no such table" in str(exc):
            raise BackupError(
                f"{path} is a SQLite database but not an Alliance one (it has no schema "
                "revision; is it the right file, and has `alliance db upgrade` been run?)"
            ) from exc
        raise BackupError(f"{path}: {exc}") from exc
    if row is None:
        raise BackupError(f"{path} is an Alliance database without a schema revision")
    return str(row[0])


def _sqlite_check(connection: sqlite3.Connection, path: Path) -> None:
    result = [str(row[0]) for row in connection.execute("PRAGMA integrity_check")]
    if result != ["ok"]:
        raise BackupError(f"{path} is damaged (integrity_check: {'; '.join(result[:3])})")


def _fsync(path: Path) -> None:
    with path.open("rb") as file:
        os.fsync(file.fileno())


# --- restore -----------------------------------------------------------------------------------


def restore(url: str, source: Path, *, force: bool = False) -> RestoreInfo:
    """Restore the backup ``source`` into the database at ``url``, which must be empty (no
    tables) unless ``force``; then upgrade it if the backup's schema is older than this
    Alliance's. Nothing is changed when the file is refused."""
    backend = backend_of(url)
    source = source.expanduser()
    if not source.is_file():
        raise BackupError(f"no backup file at {source}")
    _require_kind(source, backend)
    if backend == "sqlite":
        target = _sqlite_path(url)
        with _sqlite_errors(target), closing(_open_backup_file(source)) as backup_db:
            _sqlite_check(backup_db, source)
            backup_revision = _sqlite_revision(backup_db, source)
            _require_known(backup_revision, source)
            replaced = _require_empty(_sqlite_tables(target), str(target), force)
            target.parent.mkdir(parents=True, exist_ok=True)
            with closing(sqlite3.connect(target)) as restored:
                backup_db.backup(restored)
    else:
        tools = _PgTools.for_server(url)
        backup_revision = _dump_revision(tools, source)
        _require_known(backup_revision, source)
        replaced = _require_empty(_postgres_tables(url), describe(url), force)
        if replaced:
            _empty_postgres(url)
        tools.run(
            "pg_restore",
            [
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                "--single-transaction",
                "--dbname",
                _libpq_dsn(url),
                str(source),
            ],
            url,
        )
    if backup_revision != head_revision():
        upgrade(url)
    revision = current_revision(url) or ""
    return RestoreInfo(source, backend, describe(url), backup_revision, revision, replaced)


def _require_kind(source: Path, backend: Backend) -> None:
    kind = kind_of(source)
    if kind == backend:
        return
    messages = {
        "empty": f"{source} is empty: not a backup",
        "gzip": f"{source} is gzip-compressed: decompress it first (gunzip)",
        "unknown": (
            f"{source} is not an Alliance backup (neither a SQLite database nor a pg_dump "
            "custom-format archive)"
        ),
        "sqlite": (
            f"{source} is a SQLite backup but the database is PostgreSQL: restore it into a "
            "SQLite file (--db PATH)"
        ),
        "postgresql": (
            f"{source} is a PostgreSQL dump (pg_dump) but the database is SQLite: restore it "
            "into a PostgreSQL database (ALLIANCE_DATABASE_URL=postgresql+psycopg://…)"
        ),
    }
    raise BackupError(messages[kind])


def _open_backup_file(source: Path) -> sqlite3.Connection:
    try:
        # Read-only: restoring never changes the backup file.
        return sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise BackupError(f"{source} cannot be opened: {exc}") from exc


def _require_known(revision: str, source: Path) -> None:
    """Refuse a backup whose schema revision this Alliance does not have (a newer one)."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    try:
        script.get_revision(revision)
    except CommandError:
        raise BackupError(
            f"{source} is at schema revision {revision}, which this Alliance does not know "
            f"(its newest is {head_revision()}): the backup comes from a newer Alliance; "
            "restore it with that version or a later one"
        ) from None


def _require_empty(tables: Sequence[str], where: str, force: bool) -> bool:
    """True when ``tables`` is not empty and ``force`` allows replacing them."""
    if not tables:
        return False
    if not force:
        raise BackupError(
            f"{where} is not empty ({len(tables)} table(s), e.g. {', '.join(sorted(tables)[:3])}):"
            " restore into a new, empty database, or add --force to replace everything in it"
        )
    return True


def _sqlite_tables(path: Path) -> list[str]:
    if not path.exists() or path.stat().st_size == 0:
        return []
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
            rows = db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            ).fetchall()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} exists and is not a SQLite database ({exc})") from exc
    return [str(row[0]) for row in rows]


def _postgres_tables(url: str) -> list[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm')"
                )
            ).all()
    finally:
        engine.dispose()
    return [str(row[0]) for row in rows]


def _empty_postgres(url: str) -> None:
    """Drop everything in the public schema (``--force``), in one transaction."""
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()


def _dump_revision(tools: _PgTools, source: Path) -> str:
    """The alembic revision stored in a pg_dump archive (read without restoring it)."""
    listing = tools.run("pg_restore", ["--list", str(source)], None)
    if not re.search(r"TABLE DATA public alembic_version ", listing):
        raise BackupError(
            f"{source} is a PostgreSQL dump but not of an Alliance database (it has no schema "
            "revision)"
        )
    script = tools.run(
        "pg_restore",
        ["--data-only", "--table=alembic_version", "--file=-", str(source)],
        None,
    )
    match = re.search(
        r"^COPY [^\n]*alembic_version[^\n]*\n(?P<rows>.*?)^\\\.$", script, re.M | re.S
    )
    versions = match.group("rows").split() if match else []
    if len(versions) != 1:
        raise BackupError(f"{source} is an Alliance dump without a schema revision")
    return versions[0]


# --- PostgreSQL client tools -------------------------------------------------------------------


def _pg_url(url: str) -> URL:
    return make_url(normalise_url(url))


def _libpq_dsn(url: str) -> str:
    """The URL as libpq reads it, without the password (that travels in PGPASSWORD, so it is
    not on a command line for every user of the machine to see)."""
    parsed = _pg_url(url).set(drivername="postgresql", password=None)
    return parsed.render_as_string(hide_password=False)


def _tool_major(path: str) -> int | None:
    try:
        out = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"\(PostgreSQL\)\s+(\d+)", out)
    return int(match.group(1)) if match else None


def _candidates(name: str) -> list[str]:
    found: list[str] = []
    on_path = shutil.which(name)
    if on_path:
        found.append(on_path)
    for pattern in PG_BIN_GLOBS:
        for directory in sorted(glob.glob(pattern)):
            candidate = os.path.join(directory, name)
            if os.access(candidate, os.X_OK) and candidate not in found:
                found.append(candidate)
    return found


def pick_tool(name: str, server_major: int, available: dict[str, int | None]) -> str:
    """From ``available`` (path → major version), the tool for a server of ``server_major``:
    the same major version, else the oldest newer one (pg_dump refuses a newer server and
    reads older ones)."""
    same = [path for path, major in available.items() if major == server_major]
    if same:
        return same[0]
    newer = sorted(
        (major, path) for path, major in available.items() if major and major > server_major
    )
    if newer:
        return newer[0][1]
    have = ", ".join(f"{p} ({m})" for p, m in available.items()) or "none"
    raise BackupError(
        f"no {name} for PostgreSQL {server_major} (found: {have}): install the matching client "
        f"tools, e.g. `apt-get install postgresql-client-{server_major}`"
    )


@dataclass(frozen=True)
class _PgTools:
    """pg_dump and pg_restore of the server's major version."""

    server_major: int

    @classmethod
    def for_server(cls, url: str) -> _PgTools:
        engine = make_engine(url)
        try:
            with engine.connect() as connection:
                number = int(connection.execute(text("SHOW server_version_num")).scalar_one())
        except SQLAlchemyError as exc:
            detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise BackupError(f"cannot reach {describe(url)}: {detail}") from exc
        finally:
            engine.dispose()
        return cls(number // 10000)

    def path(self, name: str) -> str:
        return pick_tool(
            name, self.server_major, {path: _tool_major(path) for path in _candidates(name)}
        )

    def run(self, name: str, arguments: list[str], url: str | None) -> str:
        env = dict(os.environ)
        password = _pg_url(url).password if url else None
        if password:
            env["PGPASSWORD"] = str(password)
        try:
            done = subprocess.run(
                [self.path(name), *arguments],
                capture_output=True,
                text=True,
                env=env,
                timeout=PG_TOOL_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise BackupError(f"{name} could not run: {exc}") from exc
        if done.returncode != 0:
            lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
            raise BackupError(
                f"{name} failed: {lines[0] if lines else 'exit ' + str(done.returncode)}"
            )
        return done.stdout


def _postgres_backup(url: str, partial: Path) -> str:
    tools = _PgTools.for_server(url)
    revision = current_revision(url)
    if revision is None:
        raise BackupError(
            f"{describe(url)} has no Alliance schema: nothing to back up (has `alliance db "
            "upgrade` been run?)"
        )
    tools.run(
        "pg_dump",
        ["--format=custom", "--file", str(partial), "--dbname", _libpq_dsn(url)],
        url,
    )
    return revision
