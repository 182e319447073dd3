"""What every service function needs besides its arguments: the database, settings, the field
cipher, a clock (replaceable so tests and the demo can move time), and the two process-wide
caches a service reads on every check-in — the instrument registry and the fitted
expected-trajectory models. Owning them here (not in module globals) means a context built for a
test, the demo or another database never sees another's cached state."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine

from alliance.config import Settings
from alliance.measures.registry import InstrumentRegistry
from alliance.services.trajectories import TrajectoryCache
from alliance.store.crypto import FieldCipher
from alliance.store.db import SessionFactory, make_engine, make_session_factory


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ServiceContext:
    """Built once per process (web app start, CLI command) and passed to every service."""

    session_factory: SessionFactory
    settings: Settings
    cipher: FieldCipher
    clock: Callable[[], datetime] = field(default=utcnow)
    instruments: InstrumentRegistry = field(init=False, repr=False, compare=False)
    trajectories: TrajectoryCache = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Derived from the other fields; frozen, so set once here.
        object.__setattr__(self, "instruments", InstrumentRegistry(self.settings.instruments_dir))
        object.__setattr__(self, "trajectories", TrajectoryCache(self.session_factory))

    @classmethod
    def create(
        cls,
        settings: Settings,
        *,
        engine: Engine | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> ServiceContext:
        """From settings: opens an engine on ``settings.effective_database_url`` unless given."""
        engine = engine or make_engine(settings.effective_database_url)
        return cls(
            session_factory=make_session_factory(engine),
            settings=settings,
            cipher=FieldCipher.from_setting(settings.encryption_keys),
            clock=clock,
        )

    def now(self) -> datetime:
        return self.clock()
