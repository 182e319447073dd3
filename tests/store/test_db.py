"""The engine's SQLite write lock: writers of one process queue in arrival order."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlalchemy import text

from alliance.store.db import _FairLock, make_engine, make_session_factory, transaction


def test_concurrent_read_modify_write_transactions_lose_no_update(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}", pool_size=20, max_overflow=0)
    factory = make_session_factory(engine)
    with transaction(factory) as session:
        session.execute(text("CREATE TABLE counter (n INTEGER NOT NULL)"))
        session.execute(text("INSERT INTO counter VALUES (0)"))
    errors: list[BaseException] = []

    def bump() -> None:
        try:
            with transaction(factory) as session:
                n = session.execute(text("SELECT n FROM counter")).scalar_one()
                time.sleep(0.002)  # widen the window a lost update would need
                session.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})
        except BaseException as error:  # collected and asserted on below
            errors.append(error)

    threads = [threading.Thread(target=bump) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with transaction(factory) as session:
        assert session.execute(text("SELECT n FROM counter")).scalar_one() == 20
    engine.dispose()


def test_a_rolled_back_transaction_lets_the_next_writer_in(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    factory = make_session_factory(engine)
    try:
        with transaction(factory) as session:
            session.execute(text("CREATE TABLE t (n INTEGER)"))
            raise RuntimeError("abandon")
    except RuntimeError:
        pass
    done = threading.Event()

    def write() -> None:
        with transaction(factory) as session:
            session.execute(text("CREATE TABLE t (n INTEGER)"))
        done.set()

    threading.Thread(target=write, daemon=True).start()
    assert done.wait(10)
    engine.dispose()


def test_the_fair_lock_serves_waiters_in_arrival_order() -> None:
    lock = _FairLock()
    assert lock.acquire(1)
    order: list[int] = []
    started: list[threading.Thread] = []
    for i in range(5):

        def wait(i: int = i) -> None:
            assert lock.acquire(10)
            lock.claim()
            order.append(i)
            lock.release()

        t = threading.Thread(target=wait)
        t.start()
        started.append(t)
        while len(lock._waiters) < i + 1:  # each waiter queued before the next starts
            time.sleep(0.001)
    lock.release()
    for t in started:
        t.join()
    assert order == [0, 1, 2, 3, 4]


def test_the_fair_lock_refuses_its_own_holder_and_times_out() -> None:
    lock = _FairLock()
    assert lock.acquire(1)
    assert not lock.acquire(1)  # same thread: no self-deadlock
    got: list[bool] = []
    t = threading.Thread(target=lambda: got.append(lock.acquire(0.05)))
    t.start()
    t.join()
    assert got == [False]
    assert not lock._waiters
    lock.release()
    assert lock.acquire(0)
