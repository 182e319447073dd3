"""The expected-trajectory cache (alliance.services.trajectories): one fit per clinic and
instrument, refits off the request path, a bounded staleness and bounded memory.

The database reads and the mixed-model fit are replaced by counters here so that the rules of
the cache itself are what is tested; the services tests exercise it against real databases.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import Any

import pytest

from alliance.measures.registry import load_instrument
from alliance.services import trajectories
from alliance.services.trajectories import TrajectoryCache

PHQ9 = load_instrument("phq9")


@dataclass
class FakeData:
    """Stands in for the clinic's scores: a count and a fit counter."""

    count: int = 100
    fits: int = 0
    fit_gate: threading.Event | None = None
    models: list[object] = field(default_factory=list)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(trajectories, "_count_scores", lambda s, c, i: self.count)
        monkeypatch.setattr(trajectories, "_load_frame", lambda s, c, i: ("frame", self.count))
        monkeypatch.setattr(trajectories, "fit_trajectories", self._fit)
        monkeypatch.setattr(trajectories, "transaction", _no_transaction)

    def _fit(self, frame: Any, inst: Any) -> Any:
        if self.fit_gate is not None:
            self.fit_gate.wait(5)
        self.fits += 1
        model = object()
        self.models.append(model)
        return model


class _no_transaction:
    def __init__(self, factory: Any) -> None:
        pass

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class InlineExecutor(Executor):
    """Runs a "background" refit when the test says so, in the test's thread."""

    def __init__(self) -> None:
        self.queued: list[Callable[[], Any]] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.queued.append(lambda: fn(*args, **kwargs))
        return Future()

    def run_all(self) -> int:
        done = 0
        while self.queued:
            self.queued.pop(0)()
            done += 1
        return done


def _cache(clock: Clock, executor: InlineExecutor, **kw: Any) -> TrajectoryCache:
    return TrajectoryCache(
        session_factory=None,  # type: ignore[arg-type]  # reads are faked
        clock=clock,
        executor_factory=lambda: executor,
        **kw,
    )


def test_the_first_request_fits_and_later_ones_reuse_the_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = FakeData()
    data.install(monkeypatch)
    cache = _cache(Clock(), InlineExecutor(), recount=20)
    first = cache.model(None, 1, PHQ9)  # type: ignore[arg-type]
    for _ in range(10):
        assert cache.model(None, 1, PHQ9) is first  # type: ignore[arg-type]
    assert data.fits == 1
    cache.model(None, 2, PHQ9)  # type: ignore[arg-type]  # another clinic: its own model
    assert data.fits == 2
    assert len(cache) == 2


def test_a_request_never_refits_and_the_background_refit_obeys_the_growth_rule(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = FakeData(count=100)
    data.install(monkeypatch)
    executor = InlineExecutor()
    cache = _cache(Clock(), executor, recount=5)
    first = cache.model(None, 1, PHQ9)  # type: ignore[arg-type]
    data.count = 109  # grown by less than a tenth
    for _ in range(5):
        assert cache.model(None, 1, PHQ9) is first  # type: ignore[arg-type]
    assert executor.run_all() == 1  # the 5th use scheduled one check
    assert data.fits == 1  # ... which found the model fresh enough
    data.count = 111  # now more than a tenth
    for _ in range(5):
        assert cache.model(None, 1, PHQ9) is first  # type: ignore[arg-type]
    assert data.fits == 1  # still not fitted inside a request
    executor.run_all()
    assert data.fits == 2
    assert cache.model(None, 1, PHQ9) is data.models[-1]  # type: ignore[arg-type]


def test_a_model_older_than_the_ttl_is_refitted_after_the_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = FakeData()
    data.install(monkeypatch)
    clock, executor = Clock(), InlineExecutor()
    cache = _cache(clock, executor, ttl_s=600, recount=1000)
    first = cache.model(None, 1, PHQ9)  # type: ignore[arg-type]
    clock.now += 599
    assert cache.model(None, 1, PHQ9) is first  # type: ignore[arg-type]
    assert executor.run_all() == 0
    clock.now += 1
    assert cache.model(None, 1, PHQ9) is first  # type: ignore[arg-type]
    assert cache.model(None, 1, PHQ9) is first  # type: ignore[arg-type]  # one refit queued
    assert executor.run_all() == 1
    assert data.fits == 2


def test_inside_refits_inline_a_stale_model_is_refitted_in_the_calling_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = FakeData()
    data.install(monkeypatch)
    executor = InlineExecutor()
    cache = _cache(Clock(), executor, recount=2)
    cache.model(None, 1, PHQ9)  # type: ignore[arg-type]
    data.count = 500
    with cache.refits_inline():
        cache.model(None, 1, PHQ9)  # type: ignore[arg-type]
        fresh = cache.model(None, 1, PHQ9)  # type: ignore[arg-type]  # recount due: refit here
    assert data.fits == 2
    assert fresh is data.models[-1]
    assert executor.queued == []


def test_concurrent_first_requests_share_one_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    data = FakeData(fit_gate=threading.Event())
    data.install(monkeypatch)
    cache = _cache(Clock(), InlineExecutor())
    results: list[object] = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.model(None, 1, PHQ9)))  # type: ignore[arg-type]
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    data.fit_gate.set()  # type: ignore[union-attr]
    for thread in threads:
        thread.join(5)
    assert data.fits == 1
    assert len(results) == 4
    assert all(r is results[0] for r in results)


def test_memory_is_bounded_by_dropping_the_least_recently_used_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = FakeData()
    data.install(monkeypatch)
    cache = _cache(Clock(), InlineExecutor(), max_models=3)
    for clinic in (1, 2, 3):
        cache.model(None, clinic, PHQ9)  # type: ignore[arg-type]
    cache.model(None, 1, PHQ9)  # type: ignore[arg-type]  # 1 is now the most recent
    cache.model(None, 4, PHQ9)  # type: ignore[arg-type]  # drops clinic 2
    assert len(cache) == 3
    fits = data.fits
    cache.model(None, 1, PHQ9)  # type: ignore[arg-type]
    assert data.fits == fits
    cache.model(None, 2, PHQ9)  # type: ignore[arg-type]
    assert data.fits == fits + 1


def test_two_service_contexts_never_share_cached_models(tmp_path: Any) -> None:
    from alliance.config import Settings
    from alliance.services.context import ServiceContext

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'a.sqlite3'}")
    one = ServiceContext.create(settings)
    two = ServiceContext.create(settings)
    assert one.trajectories is not two.trajectories
    assert one.instruments is not two.instruments
