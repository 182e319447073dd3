"""Builds FHIR Bundles of stored responses with :mod:`alliance.measures.fhir`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from alliance.services.context import ServiceContext
from alliance.store.models import Client


def bundle(
    session: Session,
    ctx: ServiceContext,
    clients: list[Client],
    *,
    pseudo: Callable[[int], str],
    deidentified: bool,
) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "collection", "entry": []}
