"""The process's expected-trajectory models: :class:`TrajectoryCache`, owned by the
:class:`~alliance.services.context.ServiceContext`.

A mixed-model fit (:func:`alliance.measures.trajectory.fit_trajectories`) costs far more than a
check-in, so each clinic's model per outcome instrument is fitted once and kept. The rules that
bound how stale a kept model may be:

* the first request for a (clinic, instrument) fits the model; concurrent first requests wait
  for that one fit instead of each fitting;
* after that a request never fits: every ``recount`` uses, or once ``ttl_s`` seconds have
  passed since the fit, one background thread counts the clinic's scores (in a short
  transaction of its own, after the request) and refits when the count has grown by more than
  a tenth or the model is older than ``ttl_s``; requests keep using the current model meanwhile.

So the model a check-in is judged against lags the clinic's data by at most a tenth of its
scores plus ``recount`` uses, or ``ttl_s`` seconds plus one fit. Inside :meth:`refits_inline`
(the demo seed, the daily sweep) a stale model is refitted in the calling thread instead, so
batch results do not depend on when a background refit finishes.

Memory is bounded: at most ``max_models`` models are kept, the least recently used dropped
first (each entry holds its own cold-fit lock, so nothing grows per key beyond the entries).
The clock is injected (seconds, monotonic) so tests can move time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alliance.measures.instrument import Instrument
from alliance.measures.trajectory import TrajectoryModel, fit_trajectories
from alliance.store.db import SessionFactory, transaction
from alliance.store.models import Client, Episode, Score

_log = logging.getLogger(__name__)

Key = tuple[int, str]  # (clinic id, instrument id)


@dataclass
class _Entry:
    fitted_at: float | None = None  # None until the first fit has finished
    count: int = 0
    model: TrajectoryModel | None = None
    uses: int = 0
    refitting: bool = False
    cold_lock: threading.Lock = field(default_factory=threading.Lock)


class TrajectoryCache:
    """Fitted expected-trajectory models per clinic and outcome instrument (see module doc)."""

    def __init__(
        self,
        session_factory: SessionFactory,
        *,
        ttl_s: float = 600.0,
        recount: int = 20,
        max_models: int = 256,
        clock: Callable[[], float] = time.monotonic,
        executor_factory: Callable[[], Executor] | None = None,
    ) -> None:
        self._session_factory = session_factory
        self.ttl_s = ttl_s
        self.recount = recount
        self.max_models = max_models
        self._clock = clock
        self._entries: OrderedDict[Key, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._executor: Executor | None = None
        # Background refits run one at a time (a fit takes a core for 0.3-0.7 s).
        self._executor_factory = executor_factory or (
            lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="alliance-trajectory")
        )
        self._inline: ContextVar[bool] = ContextVar(f"refits_inline_{id(self)}", default=False)

    # -- public ---------------------------------------------------------------------------

    def model(self, session: Session, clinic_id: int, inst: Instrument) -> TrajectoryModel:
        """The clinic's model for ``inst``, fitting or scheduling a refit as the rules say."""
        key = (clinic_id, inst.id)
        inline = self._inline.get()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = _Entry()
                self._evict()
            self._entries.move_to_end(key)
            if entry.model is not None:
                entry.uses += 1
                due = entry.uses >= self.recount or self._expired(entry)
                if due:
                    entry.uses = 0
                if not due:
                    return entry.model
                if not inline:
                    if not entry.refitting:
                        entry.refitting = True
                        self._submit(key, entry, clinic_id, inst)
                    return entry.model
        if entry.model is not None:  # due, inline: refit here when stale
            count = _count_scores(session, clinic_id, inst)
            if not self._stale(entry, count):
                return entry.model
            return self._fit(session, key, entry, clinic_id, inst, count)
        with entry.cold_lock:
            if entry.model is not None:  # another request fitted it while this one waited
                return entry.model
            return self._fit(session, key, entry, clinic_id, inst, None)

    @contextmanager
    def refits_inline(self) -> Iterator[None]:
        """Refit stale models in the calling thread while the block runs (batch jobs)."""
        token = self._inline.set(True)
        try:
            yield
        finally:
            self._inline.reset(token)

    def __len__(self) -> int:
        with self._lock:
            return sum(1 for e in self._entries.values() if e.model is not None)

    def close(self) -> None:
        """Stop the background thread (waits for a refit in progress)."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)

    # -- internals ------------------------------------------------------------------------

    def _expired(self, entry: _Entry) -> bool:
        return entry.fitted_at is None or self._clock() - entry.fitted_at >= self.ttl_s

    def _stale(self, entry: _Entry, count: int) -> bool:
        return self._expired(entry) or count > entry.count * 1.1

    def _evict(self) -> None:
        while len(self._entries) > self.max_models:
            self._entries.popitem(last=False)

    def _fit(
        self,
        session: Session,
        key: Key,
        entry: _Entry,
        clinic_id: int,
        inst: Instrument,
        count: int | None,
    ) -> TrajectoryModel:
        if count is None:
            count = _count_scores(session, clinic_id, inst)
        model = fit_trajectories(_load_frame(session, clinic_id, inst), inst)
        self._store(key, entry, model, count)
        return model

    def _store(self, key: Key, entry: _Entry, model: TrajectoryModel, count: int) -> None:
        with self._lock:
            entry.model, entry.count, entry.fitted_at = model, count, self._clock()
            if key not in self._entries:  # evicted or cleared while fitting: keep the result
                self._entries[key] = entry
                self._evict()

    def _submit(self, key: Key, entry: _Entry, clinic_id: int, inst: Instrument) -> None:
        # Called with self._lock held.
        if self._executor is None:
            self._executor = self._executor_factory()
        self._executor.submit(self._refit, key, entry, clinic_id, inst)

    def _refit(self, key: Key, entry: _Entry, clinic_id: int, inst: Instrument) -> None:
        """Background refit: read in a short transaction of its own, fit outside any
        transaction, then swap the model in (unless the entry was cleared meanwhile)."""
        try:
            with transaction(self._session_factory) as session:
                count = _count_scores(session, clinic_id, inst)
                frame = _load_frame(session, clinic_id, inst) if self._stale(entry, count) else None
            if frame is not None:
                model = fit_trajectories(frame, inst)
                with self._lock:
                    if self._entries.get(key) is entry:
                        entry.model, entry.count, entry.fitted_at = model, count, self._clock()
        except Exception:  # a failed refit keeps the old model; the next recount tries again
            _log.exception("refitting the %s trajectory of clinic %s failed", inst.id, clinic_id)
        finally:
            with self._lock:
                entry.refitting = False


def _filters(clinic_id: int, inst: Instrument) -> tuple[Any, ...]:
    return (
        Client.clinic_id == clinic_id,
        Score.instrument_id == inst.id,
        Score.valid.is_(True),
        Score.total.is_not(None),
    )


def _count_scores(session: Session, clinic_id: int, inst: Instrument) -> int:
    scope = (
        select(func.count(Score.id))
        .join(Episode, Episode.id == Score.episode_id)
        .join(Client, Client.id == Episode.client_id)
        .where(*_filters(clinic_id, inst))
    )
    return int(session.scalar(scope) or 0)


def _load_frame(session: Session, clinic_id: int, inst: Instrument) -> pd.DataFrame:
    rows = session.execute(
        select(Episode.id, Score.session_number, Score.total)
        .join(Episode, Episode.id == Score.episode_id)
        .join(Client, Client.id == Episode.client_id)
        .where(*_filters(clinic_id, inst), Score.session_number.is_not(None))
    ).all()
    return pd.DataFrame([tuple(row) for row in rows], columns=["client_id", "session", "score"])
