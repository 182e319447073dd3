"""The database: typed tables (:mod:`.models`), engine and transactions (:mod:`.db`), field
encryption (:mod:`.crypto`), the append-only audit repository (:mod:`.audit`) and the Alembic
migrations (:mod:`.migrations`, ``upgrade(url)``)."""
