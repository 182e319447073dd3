"""Key rotation: re-encrypt every encrypted value with the active (first) key.

After putting a new key first in ``ALLIANCE_ENCRYPTION_KEYS`` (keeping the old ones after it),
new writes already use the new key and old values still decrypt. Running
:func:`rotate_encryption` (``alliance db rotate-keys``) rewrites the old values so the old key
can then be removed. Which values those are comes from the registry in
:mod:`alliance.store.encrypted`, so a table that declares an encrypted column is rotated without
anything here changing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.orm import Session

from alliance.services.authz import system_actor
from alliance.services.context import ServiceContext
from alliance.services.unit import record, unit_of_work
from alliance.store.crypto import FieldCipher, is_encrypted
from alliance.store.encrypted import EncryptedJson, Location
from alliance.store.models import encrypted_columns


def rotate_encryption(ctx: ServiceContext) -> dict[str, int]:
    """Re-encrypt old values with the active key, in one transaction; returns, per registered
    column (``table.column``), how many rows were rewritten."""
    counts: dict[str, int] = {}
    active = ctx.cipher.active_key_id
    with unit_of_work(ctx) as session:
        for location in encrypted_columns():
            counts[location.name] = _rotate(session, ctx.cipher, location)
        record(
            session,
            ctx,
            system_actor(),
            "write",
            "encryption",
            None,
            {"op": "rotate", "key_id": active, "counts": counts},
        )
    return counts


def _rotate(session: Session, cipher: FieldCipher, location: Location) -> int:
    table, column, spec = location.table, location.column, location.spec
    keys = list(table.primary_key.columns)
    needs = [table.c[name] for name in spec.row_columns] if isinstance(spec, EncryptedJson) else []
    rows = session.execute(select(*keys, column, *needs).where(column.is_not(None))).all()
    changed = 0
    for row in rows:
        value = row._mapping[column]
        new: Any
        if isinstance(spec, EncryptedJson):
            facts = {name: row._mapping[table.c[name]] for name in spec.row_columns}
            new = {
                key: _rotated(cipher, item, spec.field(key, facts)) for key, item in value.items()
            }
        else:
            new = cipher.rotate_value(value, field=spec.field)
        if new == value:
            continue
        where = and_(*(key == row._mapping[key] for key in keys))
        session.execute(update(table).where(where).values({column.name: new}))
        changed += 1
    return changed


def _rotated(cipher: FieldCipher, value: Any, field: str) -> Any:
    if is_encrypted(value):
        return cipher.rotate_value(value, field=field)
    return value
