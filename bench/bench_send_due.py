"""Benchmark ``alliance checkins send-due`` over 10,000 due episodes on SQLite.

    .venv/bin/python bench/bench_send_due.py              # 10,000 episodes
    .venv/bin/python bench/bench_send_due.py --episodes 2000

A migrated SQLite file gets one clinic, one therapist and N clients, each with an open
episode, an e-mail address and a session recorded as attended an hour ago (inserted in bulk:
the set-up is not what is measured). Then, timed, through the real command
(``CliRunner``, so settings, context and the one-line output are part of it):

1. ``send-due --dry-run`` on that database: plans all N invitations, counts them, rolls back;
2. ``send-due`` with a local aiosmtpd server (its own process) as the SMTP sink: plans N
   invitations (a link each), claims them in batches, sends N messages over
   ``smtp_connections`` SMTP connections at once (4 by default), records each;
3. ``send-due`` again: nothing is due (the cost of a quiet cron tick on a full table).

Aim (issue 10): run 2 under 10 s for 10,000 due episodes (latest figures: docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))


def seed(path: Path, episodes: int) -> None:
    from alliance.config import Settings
    from alliance.store.crypto import FieldCipher
    from alliance.store.db import make_engine, make_session_factory, sqlite_url, transaction
    from alliance.store.migrations import upgrade
    from alliance.store.models import Client, Clinic, Episode, StaffUser, TherapySession

    url = sqlite_url(path)
    upgrade(url)
    settings = Settings(password_hash_profile="fast-insecure-tests")
    cipher = FieldCipher.from_setting(settings.encryption_keys)
    now = datetime.now(UTC)
    engine = make_engine(url)
    with transaction(make_session_factory(engine)) as session:
        clinic = Clinic(name="Northside", settings={}, created_at=now)
        session.add(clinic)
        session.flush()
        therapist = StaffUser(
            clinic_id=clinic.id,
            email="alice@north.example",
            display_name="Alice",
            role="therapist",
            password_hash="!",  # never logs in: no hash matches this
            created_at=now,
        )
        session.add(therapist)
        session.flush()
        people = [
            Client(
                clinic_id=clinic.id,
                display_name=f"Client {i}",
                contact_email_enc=cipher.encrypt(
                    f"client{i}@mail.example", field="clients.contact_email"
                ),
                created_at=now,
            )
            for i in range(episodes)
        ]
        session.add_all(people)
        session.flush()
        care = [
            Episode(
                client_id=c.id,
                therapist_id=therapist.id,
                started_at=now - timedelta(days=30),
                instruments=["wai_sr", "phq9", "gad7", "session_feedback"],
            )
            for c in people
        ]
        session.add_all(care)
        session.flush()
        session.add_all(
            TherapySession(
                episode_id=e.id,
                number=1,
                scheduled_at=now - timedelta(hours=1),
                status="attended",
            )
            for e in care
        )
    engine.dispose()


class _Counter:
    """An aiosmtpd handler that only counts (into memory shared with the parent)."""

    def __init__(self, count: Any) -> None:
        self.count = count

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.count.get_lock():
            self.count.value += 1
        return "250 Message accepted"


def _serve(port: int, count: Any, ready: Any, stop: Any) -> None:
    from aiosmtpd.controller import Controller

    controller = Controller(_Counter(count), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    stop.wait()
    controller.stop()


def timed(args: list[str]) -> tuple[float, str, int]:
    from typer.testing import CliRunner

    from alliance.cli import app

    start = time.perf_counter()
    result = CliRunner().invoke(app, args)
    return time.perf_counter() - start, result.stdout.strip(), result.exit_code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=10_000)
    options = parser.parse_args()
    n = options.episodes

    from smtp_sink import free_port

    # The sink runs in its own process, as a real mail server would: in this process it
    # would compete with the sender for the GIL and the figure would be about that.
    port = free_port()
    count = mp.Value("i", 0)
    ready, stop = mp.Event(), mp.Event()
    server = mp.Process(target=_serve, args=(port, count, ready, stop), daemon=True)
    server.start()
    ready.wait(30)
    os.environ.update(
        ALLIANCE_SMTP_HOST="127.0.0.1",
        ALLIANCE_SMTP_PORT=str(port),
        ALLIANCE_SMTP_STARTTLS="false",
        ALLIANCE_PASSWORD_HASH_PROFILE="fast-insecure-tests",
        ALLIANCE_BASE_URL="https://alliance.example",
    )
    os.environ.pop("ALLIANCE_DATABASE_URL", None)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            db = Path(tmp) / "bench.sqlite3"
            start = time.perf_counter()
            seed(db, n)
            print(f"set-up: {n:,} due episodes in {time.perf_counter() - start:.1f} s (not timed)")
            dry, out, code = timed(["checkins", "send-due", "--dry-run", "--db", str(db)])
            assert code == 0, out
            print(f"send-due --dry-run: {dry:6.2f} s  ({n / dry:,.0f} episodes/s)  {out}")
            real, out, code = timed(["checkins", "send-due", "--db", str(db)])
            assert code == 0, out
            got = count.value
            assert got == n, f"the sink got {got} messages, expected {n}"
            print(f"send-due (aiosmtpd sink): {real:6.2f} s  ({n / real:,.0f} messages/s)  {out}")
            quiet, out, code = timed(["checkins", "send-due", "--db", str(db)])
            assert code == 0, out
            print(f"send-due, nothing due: {quiet:6.2f} s  {out}")
            aim = 10.0 * n / 10_000
            verdict = "meets" if real < aim else "MISSES"
            print(f"aim: real sending of {n:,} under {aim:.1f} s: {verdict} ({real / aim:.2f}×)")
    finally:
        stop.set()
        server.join(10)


if __name__ == "__main__":
    main()
