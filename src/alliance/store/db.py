"""Engine, session factory and the one way to run a transaction.

SQLite (the embedded default) is opened with WAL, ``synchronous=FULL`` (an acknowledged commit
survives power loss) and foreign keys on. Every SQLite transaction starts with
``BEGIN IMMEDIATE``: even reads write an audit event, and taking the write lock up front avoids
the "cannot upgrade a read snapshot" failure (SQLITE_BUSY_SNAPSHOT) that deferred transactions
hit under concurrent writers. Before ``BEGIN IMMEDIATE`` a transaction also takes a process-wide
first-come-first-served lock for its database file, held until its COMMIT or ROLLBACK has
returned: SQLite itself makes a blocked writer sleep and poll (unfair under 20 concurrent
requests: waits of several seconds while others went straight through), so writers of one
process queue here instead, and ``busy_timeout`` stays the fallback between processes.
PostgreSQL is reached through psycopg 3.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

SessionFactory = sessionmaker[Session]

SQLITE_BUSY_TIMEOUT_S = 30.0


class _FairLock:
    """A first-come-first-served lock: each waiter gets its own gate, opened in arrival order.

    ``threading.Lock`` makes no ordering promise; this one does, so a burst of writers is
    served in the order it arrived and no request waits behind a stream of later ones.
    """

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._waiters: deque[threading.Lock] = deque()
        self._owner: int | None = None

    def acquire(self, timeout: float) -> bool:
        """Take the lock, waiting at most ``timeout`` seconds; False when not taken.

        A thread that already holds it is refused at once (a nested transaction on a second
        connection would wait for itself): it then meets SQLite's own lock, as before.
        """
        me = threading.get_ident()
        with self._mutex:
            if self._owner == me:
                return False
            if self._owner is None and not self._waiters:
                self._owner = me
                return True
            gate = threading.Lock()
            gate.acquire()
            self._waiters.append(gate)
        if gate.acquire(timeout=timeout):
            return True  # release() handed the lock over and set us as owner
        with self._mutex:
            try:
                self._waiters.remove(gate)
            except ValueError:
                return True  # handed over while the wait was timing out
            return False

    def release(self) -> None:
        with self._mutex:
            if self._waiters:
                # The owner is set here, under the mutex, so the lock never looks free between
                # one holder and the next.
                gate = self._waiters.popleft()
                self._owner = -1
                gate.release()
            else:
                self._owner = None

    def claim(self) -> None:
        """Record the calling thread as owner (after a hand-over)."""
        with self._mutex:
            self._owner = threading.get_ident()


_write_locks: dict[str, _FairLock] = {}
_write_locks_guard = threading.Lock()


def _write_lock(database: str) -> _FairLock:
    with _write_locks_guard:
        return _write_locks.setdefault(database, _FairLock())


def _sqlite_connection_class(lock: _FairLock) -> type[sqlite3.Connection]:
    """A DB-API connection class that gives ``lock`` back once its COMMIT/ROLLBACK returned
    (SQLAlchemy's commit and rollback events fire before, too early to let the next writer
    in while this one is still syncing the WAL)."""

    class _LockingConnection(sqlite3.Connection):
        holds_write_lock = False

        def take_write_lock(self) -> None:
            if lock.acquire(SQLITE_BUSY_TIMEOUT_S):
                lock.claim()
                self.holds_write_lock = True

        def give_back_write_lock(self) -> None:
            if self.holds_write_lock:
                self.holds_write_lock = False
                lock.release()

        def commit(self) -> None:
            try:
                super().commit()
            finally:
                self.give_back_write_lock()

        def rollback(self) -> None:
            try:
                super().rollback()
            finally:
                self.give_back_write_lock()

        def close(self) -> None:
            try:
                super().close()
            finally:
                self.give_back_write_lock()

    return _LockingConnection


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` as psycopg 3 URLs; pass others through."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def sqlite_url(path: str | Path) -> str:
    """The SQLAlchemy URL of a SQLite file."""
    return f"sqlite:///{Path(path).expanduser().resolve()}"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for ``url`` with this project's per-backend settings.

    A SQLite file's parent directory is created when missing.
    """
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        lock = _write_lock(str(Path(database).resolve()) if database else ":memory:")
        engine = create_engine(
            url,
            connect_args={
                "timeout": SQLITE_BUSY_TIMEOUT_S,
                "check_same_thread": False,
                "factory": _sqlite_connection_class(lock),
            },
            **kwargs,
        )
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's implicit BEGIN is
        # deferred and cannot be made IMMEDIATE).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        dbapi_connection = connection.connection.dbapi_connection
        take = getattr(dbapi_connection, "take_write_lock", None)
        if take is not None:
            take()
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            give_back = getattr(dbapi_connection, "give_back_write_lock", None)
            if give_back is not None:
                give_back()
            raise


def make_session_factory(engine: Engine) -> SessionFactory:
    """A session factory whose objects stay readable after commit (``expire_on_commit=False``)."""
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


@contextmanager
def transaction(session_factory: SessionFactory) -> Iterator[Session]:
    """Run one unit of work: commit when the block ends normally, roll back on any exception."""
    session = session_factory()
    try:
        with session.begin():
            yield session
    finally:
        session.close()


def is_sqlite(session: Session) -> bool:
    """True when ``session`` talks to SQLite (some statements differ per backend)."""
    return session.get_bind().dialect.name == "sqlite"
