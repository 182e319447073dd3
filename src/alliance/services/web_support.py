"""Use cases the web layer needs that the other service modules do not (yet) offer.

- :func:`record_denial`: audit a request refused because of the caller's role (a therapist
  opening the team page); record-level denials are audited by :mod:`alliance.services.authz`.
"""

from __future__ import annotations

from alliance.services.authz import Actor
from alliance.services.context import ServiceContext
from alliance.services.unit import unit_of_work
from alliance.store import audit


def record_denial(ctx: ServiceContext, actor: Actor | None, why: str, *, path: str) -> None:
    """Audit a request refused for the caller's role (who, what they tried, when)."""
    with unit_of_work(ctx) as session:
        audit.append(
            session,
            at=ctx.now(),
            actor_type=actor.audit_type if actor else "anonymous",
            actor_id=actor.audit_id if actor else None,
            clinic_id=actor.clinic_id if actor else None,
            action="deny",
            entity_type="route",
            entity_id=path[:64],
            detail={"why": why, "role": actor.role if actor else None},
        )
