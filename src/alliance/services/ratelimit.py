"""Rate limits kept in the database, so every stateless app worker shares one count.

A fixed window per key: the first hit in a window inserts (or resets) the row, later hits add
one. The increment is a single ``INSERT … ON CONFLICT DO UPDATE … RETURNING`` statement, atomic
on SQLite and PostgreSQL, so concurrent workers cannot both slip under the limit.

Keys may carry what a visitor typed (an e-mail address): :func:`storable_key` turns any key
the ``key`` column cannot hold as it is (NUL, a lone surrogate, more than 255 characters) into
a hash of it, so no input can make counting fail. :func:`refund` takes one count back, for
counters of failures that count an attempt before its outcome is known (see
:mod:`alliance.services.login_throttle`).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, case, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from alliance.services.context import ServiceContext
from alliance.services.errors import InvalidInput
from alliance.store.db import is_sqlite, transaction
from alliance.store.models import RateLimitBucket


def hit(
    session: Session, key: str, limit: int, window_seconds: int, *, now: datetime | None = None
) -> bool:
    """Count one request for ``key``; True while the window's count is within ``limit``."""
    if limit < 1:
        raise InvalidInput("limit", "limit and window must be positive")
    return count(session, key, window_seconds, now=now) <= limit


def count(session: Session, key: str, window_seconds: int, *, now: datetime | None = None) -> int:
    """Count one request for ``key`` and return the window's count, this request included."""
    if window_seconds < 1:
        raise InvalidInput("limit", "limit and window must be positive")
    now = now or datetime.now(UTC)
    dialect = "sqlite" if is_sqlite(session) else "postgresql"
    params = {
        "key": storable_key(key),
        "now": now,
        "window_start": now - timedelta(seconds=window_seconds),
    }
    return int(session.connection().execute(_COUNT[dialect], params).scalar_one())


def _count_statement(dialect: Any) -> Any:
    """The counting upsert for one dialect, with bind parameters (built once at import: it
    runs on every link and sign-in request)."""
    table = RateLimitBucket.__table__
    now = bindparam("now", type_=table.c.window_start.type)
    window_start = bindparam("window_start", type_=table.c.window_start.type)
    stmt = dialect.insert(table).values(
        key=bindparam("key", type_=table.c.key.type), window_start=now, count=1
    )
    expired = table.c.window_start <= window_start
    return stmt.on_conflict_do_update(
        index_elements=[table.c.key],
        set_={
            "count": case((expired, 1), else_=table.c.count + 1),
            "window_start": case((expired, now), else_=table.c.window_start),
        },
    ).returning(table.c.count)


_COUNT = {"sqlite": _count_statement(sqlite), "postgresql": _count_statement(postgresql)}


def storable_key(key: str) -> str:
    """``key`` itself when the text column holds it unchanged, else ``kind:#sha256``.

    PostgreSQL text cannot hold NUL and no driver can encode a lone surrogate; a long key is
    hashed rather than cut so that two long keys never share a count by accident."""
    if len(key) <= 255 and _plain(key):
        return key
    kind = ":".join(part[:40] for part in key.split(":", 2)[:2] if _plain(part))
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{kind}:#{digest}"


def _plain(text: str) -> bool:
    return "\x00" not in text and not any("\ud800" <= c <= "\udfff" for c in text)


def refund(session: Session, key: str) -> None:
    """Take back one count of ``key`` (never below zero): the attempt it counted succeeded."""
    session.execute(
        update(RateLimitBucket)
        .where(RateLimitBucket.key == storable_key(key), RateLimitBucket.count > 0)
        .values(count=RateLimitBucket.count - 1)
    )


def check(ctx: ServiceContext, key: str, limit: int, window_seconds: int) -> bool:
    """:func:`hit` in its own short transaction (what a web dependency calls per request)."""
    with transaction(ctx.session_factory) as session:
        return hit(session, key, limit, window_seconds, now=ctx.now())


def purge(ctx: ServiceContext, older_than_seconds: int = 86400) -> int:
    """Delete buckets whose window started long ago (housekeeping)."""
    from sqlalchemy import delete

    cutoff = ctx.now() - timedelta(seconds=older_than_seconds)
    with transaction(ctx.session_factory) as session:
        result = session.execute(
            delete(RateLimitBucket).where(RateLimitBucket.window_start < cutoff)
        )
        return int(getattr(result, "rowcount", 0) or 0)
