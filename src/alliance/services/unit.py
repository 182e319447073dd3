"""The unit of work every service runs in, and the audit helper they share.

``unit_of_work(ctx)`` is :func:`alliance.store.db.transaction` plus one rule: when the block
raises a :class:`ServiceError` that carries an audit event (an authorization denial), that event
is written in its own transaction after the rollback, so the denial is on record while nothing
of the refused work is.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy.orm import Session

from alliance.services.authz import Actor
from alliance.services.context import ServiceContext
from alliance.services.errors import ServiceError
from alliance.store import audit
from alliance.store.db import transaction


def _write_denial(ctx: ServiceContext, error: ServiceError) -> None:
    if error.audit is not None:
        event, error.audit = error.audit, None  # written once, however often it is re-raised
        with transaction(ctx.session_factory) as session:
            audit.append(session, at=ctx.now(), **event)


@contextmanager
def unit_of_work(ctx: ServiceContext) -> Iterator[Session]:
    try:
        with transaction(ctx.session_factory) as session:
            yield session
    except ServiceError as error:
        _write_denial(ctx, error)
        raise


P = ParamSpec("P")
R = TypeVar("R")


def denials_audited(
    function: Callable[Concatenate[ServiceContext, P], R],
) -> Callable[Concatenate[ServiceContext, P], R]:
    """Audit a denial raised anywhere in a service, also by checks made before its unit of
    work starts (e.g. :func:`alliance.services.authz.require_staff`)."""

    @functools.wraps(function)
    def wrapper(ctx: ServiceContext, /, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(ctx, *args, **kwargs)
        except ServiceError as error:
            _write_denial(ctx, error)
            raise

    return wrapper


def record(
    session: Session,
    ctx: ServiceContext,
    actor: Actor,
    action: str,
    entity_type: str,
    entity_id: int | str | None,
    detail: Mapping[str, Any] | None = None,
    *,
    clinic_id: int | None = None,
) -> None:
    """Audit one action by ``actor`` inside the current unit of work."""
    audit.append(
        session,
        **_event(ctx.now(), actor, action, entity_type, entity_id, detail, clinic_id),
    )


def _event(
    at: datetime,
    actor: Actor,
    action: str,
    entity_type: str,
    entity_id: int | str | None,
    detail: Mapping[str, Any] | None,
    clinic_id: int | None,
) -> dict[str, Any]:
    """An audit event's values for ``actor`` (the actor's clinic unless ``clinic_id`` is given)."""
    return {
        "at": at,
        "actor_type": actor.audit_type,
        "actor_id": actor.audit_id,
        "clinic_id": clinic_id if clinic_id is not None else actor.clinic_id,
        "action": action,
        "entity_type": entity_type,
        "entity_id": entity_id,
        "detail": detail,
    }


def record_many(
    session: Session,
    ctx: ServiceContext,
    actor: Actor,
    entries: Sequence[tuple[str, str, int | str | None, Mapping[str, Any] | None, int | None]],
) -> None:
    """Audit several actions by ``actor`` at once (``(action, entity_type, entity_id, detail,
    clinic_id)`` each, ``clinic_id`` None for the actor's): as :func:`record`, written as one
    statement now rather than flushed one by one at the commit (a check-in audits itself and
    each alert it changes)."""
    at = ctx.now()
    audit.append_many(session, [_event(at, actor, *entry) for entry in entries])
