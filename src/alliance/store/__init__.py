"""The database: typed tables (:mod:`.models`), engine and transactions (:mod:`.db`), field
encryption (:mod:`.crypto`), the append-only audit repository (:mod:`.audit`) and the Alembic
migrations (:mod:`.migrations`, ``upgrade(url)``)."""

# Tables that live in their own module register on the shared metadata when the store is used.
from alliance.store import matching_tables as _matching_tables  # noqa: F401
