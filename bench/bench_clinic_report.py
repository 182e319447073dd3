"""Benchmark the clinic outcome report over 500 therapists × 20,000 episodes on PostgreSQL.

    .venv/bin/python bench/bench_clinic_report.py
    .venv/bin/python bench/bench_clinic_report.py --episodes 5000 --therapists 100
    ALLIANCE_BENCH_POSTGRES=postgresql+psycopg://postgres@127.0.0.1:5432/test  (the server)

A fresh database (created on the server and dropped at the end) gets one clinic, 50
supervisors each leading 9 therapists (500 clinicians, each with a matching profile), and N
clients, each with one episode (a third ended in the year, some as dropouts), an encrypted
intake with a main concern, 2–12 weekly check-ins (some never completed) each scoring PHQ-9
and WAI-SR. Inserted with COPY: the set-up is not what is measured.

Timed: ``clinic_outcomes`` as the clinic's admin over the year (every episode), best of 3,
then the HTML rendering of that view (``--pdf``: the PDF too), and the same report for one
supervisor's team.

Aim (issue 14): the admin's report under 10 s for 500 therapists × 20,000 episodes.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

AIM_S = 10.0
SERVER = os.environ.get(
    "ALLIANCE_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _copy(
    conn: object, table: str, columns: tuple[str, ...], rows: list[tuple[object, ...]]
) -> None:
    buffer = io.StringIO()
    for row in rows:
        buffer.write("\t".join("\\N" if v is None else str(v) for v in row) + "\n")
    with (
        conn.cursor() as cur,
        cur.copy(  # type: ignore[attr-defined]
            f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        ) as copy,
    ):
        copy.write(buffer.getvalue())


def _band(total: int) -> str:
    for top, label in ((4, "minimal"), (9, "mild"), (14, "moderate"), (19, "moderately severe")):
        if total <= top:
            return label
    return "severe"


def seed(url: str, episodes: int, therapists: int, start: date) -> int:
    """Fill the database at ``url``; returns the admin's user id."""
    import psycopg

    from alliance.config import Settings
    from alliance.matching import vocabulary
    from alliance.services.matching import INTAKE_FIELD
    from alliance.store.crypto import FieldCipher
    from alliance.store.migrations import upgrade

    upgrade(url)
    rng = random.Random(14)
    settings = Settings(password_hash_profile="fast-insecure-tests")
    cipher = FieldCipher.from_setting(settings.encryption_keys)
    voc = vocabulary()
    modalities, concerns = list(voc.modalities), list(voc.concerns)
    t0 = datetime.combine(start, datetime.min.time(), UTC)
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "INSERT INTO clinics (id, name, settings, created_at) VALUES (1, 'Bench', '{}', %s)",
            (t0,),
        )
        staff: list[tuple[object, ...]] = [
            (1, 1, "admin@bench.example", "Admin", "admin", "!", None, False, True, False, t0)
        ]
        supervisors = max(1, therapists // 10)
        clinicians: list[int] = []
        for i in range(therapists):
            uid = 2 + i
            lead = 2 + (i % supervisors)
            role = "supervisor" if i < supervisors else "therapist"
            staff.append(
                (
                    uid,
                    1,
                    f"t{i}@bench.example",
                    f"Therapist {i:03d}",
                    role,
                    "!",
                    None if role == "supervisor" else lead,
                    False,
                    True,
                    False,
                    t0,
                )
            )
            clinicians.append(uid)
        _copy(
            conn,
            "staff_users",
            (
                "id",
                "clinic_id",
                "email",
                "display_name",
                "role",
                "password_hash",
                "supervisor_id",
                "totp_enabled",
                "active",
                "must_change_password",
                "created_at",
            ),
            staff,
        )
        profiles = [
            (uid, 1, json.dumps({"modalities": [rng.choice(modalities)]}), t0) for uid in clinicians
        ]
        _copy(
            conn, "matching_profiles", ("user_id", "clinic_id", "profile", "updated_at"), profiles
        )
        clients, eps, intakes, checkins, responses, scores = [], [], [], [], [], []
        checkin_id = response_id = 0
        for e in range(1, episodes + 1):
            started = t0 + timedelta(days=rng.randrange(0, 300), hours=rng.randrange(24))
            weeks = rng.randrange(2, 13)
            ended = rng.random() < 0.35
            ended_at = started + timedelta(weeks=weeks) if ended else None
            reason = rng.choice(["completed", "completed", "dropout"]) if ended else None
            clients.append((e, 1, f"Client {e}", started))
            eps.append(
                (e, e, rng.choice(clinicians), started, ended_at, reason, '["phq9", "wai_sr"]')
            )
            intake = {
                "id": f"i{e}",
                "concerns": [rng.choice(concerns)],
                "languages": ["english"],
                "consent": True,
            }
            intakes.append(
                (
                    e,
                    1,
                    cipher.encrypt(json.dumps(intake), field=INTAKE_FIELD),
                    "x",
                    "form",
                    "placed",
                    started,
                    e,
                    e,
                )
            )
            phq = rng.randrange(6, 27)
            wai = rng.uniform(2.5, 4.5)
            slope = rng.uniform(-2.0, 0.6)
            for week in range(weeks):
                at = started + timedelta(weeks=week)
                checkin_id += 1
                done = rng.random() < 0.9
                token = hashlib.sha256(f"{e}-{week}".encode()).hexdigest()
                checkins.append(
                    (
                        checkin_id,
                        e,
                        '["phq9", "wai_sr"]',
                        token,
                        at,
                        at + timedelta(days=7),
                        at if done else None,
                        "copy",
                        True,
                    )
                )
                if not done:
                    continue
                phq = max(0, min(27, round(phq + slope + rng.gauss(0, 2))))
                wai = max(1.0, min(5.0, wai + rng.gauss(0.05, 0.4)))
                for instrument_id, total, band in (
                    ("phq9", phq, _band(phq)),
                    ("wai_sr", round(wai, 2), None),
                ):
                    response_id += 1
                    responses.append((response_id, checkin_id, instrument_id, "{}", at))
                    scores.append(
                        (
                            response_id,
                            response_id,
                            e,
                            instrument_id,
                            week + 1,
                            total,
                            "{}",
                            band,
                            True,
                            at,
                        )
                    )
        _copy(conn, "clients", ("id", "clinic_id", "display_name", "created_at"), clients)
        _copy(
            conn,
            "episodes",
            (
                "id",
                "client_id",
                "therapist_id",
                "started_at",
                "ended_at",
                "end_reason",
                "instruments",
            ),
            eps,
        )
        _copy(
            conn,
            "intake_requests",
            (
                "id",
                "clinic_id",
                "intake_enc",
                "contact_name_enc",
                "source",
                "status",
                "created_at",
                "client_id",
                "episode_id",
            ),
            intakes,
        )
        _copy(
            conn,
            "checkins",
            (
                "id",
                "episode_id",
                "instruments",
                "token_hash",
                "created_at",
                "expires_at",
                "completed_at",
                "sent_via",
                "rate_goals",
            ),
            checkins,
        )
        _copy(
            conn,
            "responses",
            ("id", "checkin_id", "instrument_id", "answers", "created_at"),
            responses,
        )
        _copy(
            conn,
            "scores",
            (
                "id",
                "response_id",
                "episode_id",
                "instrument_id",
                "session_number",
                "total",
                "subscales",
                "band",
                "valid",
                "scored_at",
            ),
            scores,
        )
        for table in (
            "staff_users",
            "clients",
            "episodes",
            "intake_requests",
            "checkins",
            "responses",
            "scores",
        ):
            top = f"(SELECT max(id) FROM {table})"
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {top})")
        conn.execute("ANALYZE")
        conn.commit()
    print(
        f"seeded: {therapists} clinicians ({supervisors} supervisors), {episodes:,} episodes,"
        f" {len(checkins):,} check-ins, {len(scores):,} scores"
    )
    return 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--episodes", type=int, default=20_000)
    parser.add_argument("--therapists", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pdf", action="store_true", help="also time the PDF (slow: WeasyPrint)")
    args = parser.parse_args()

    import psycopg

    from alliance.config import Settings
    from alliance.services.authz import Actor
    from alliance.services.context import ServiceContext
    from alliance.services.outcomes import clinic_outcomes
    from alliance.store.db import make_engine
    from alliance.web import reports
    from alliance.web.templating import make_templates

    name = f"alliance_bench_{uuid.uuid4().hex[:10]}"
    admin_dsn = SERVER.replace("postgresql+psycopg://", "postgresql://")
    url = f"{SERVER.rsplit('/', 1)[0]}/{name}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    start = date(2025, 1, 1)
    end = start + timedelta(days=364)
    try:
        t = time.perf_counter()
        admin_id = seed(url, args.episodes, args.therapists, start)
        print(f"set-up (not timed): {time.perf_counter() - t:.1f} s")
        engine = make_engine(url)
        settings = Settings(  # type: ignore[call-arg]
            database_url=url, password_hash_profile="fast-insecure-tests"
        )
        ctx = ServiceContext.create(settings, engine=engine)
        admin = Actor(kind="staff", clinic_id=1, user_id=admin_id, role="admin")
        times, cpu = [], []
        for _ in range(args.repeat):
            t, c = time.perf_counter(), time.process_time()
            view = clinic_outcomes(ctx, actor=admin, start=start, end=end)
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        best = min(times)
        row = view.clinic
        print(
            f"clinic_outcomes (admin, {start} to {end}): best {best:.2f} s wall of {args.repeat}"
            f" ({', '.join(f'{x:.2f}' for x in times)}); Python CPU"
            f" {', '.join(f'{x:.2f}' for x in cpu)} s (the database server's time is not in it)"
        )
        print(
            f"  episodes {row.episodes.value:,}, with two scores {row.with_two_scores.value:,},"
            f" reliable improvement {row.reliable_improvement.value:.3f},"
            f" recovery {row.recovery.value:.3f}, therapist rows"
            f" {len(view.breakdown('therapist').rows)}"
        )
        print(
            f"  aim {AIM_S:.0f} s: {'met' if best < AIM_S else 'NOT met'};"
            f" time / aim = {best / AIM_S:.2f} (aim / time = {AIM_S / best:.1f}x)"
        )
        env = make_templates(ctx.instruments).env
        t = time.perf_counter()
        html = reports.clinic_report_html(env, view)
        t_html = time.perf_counter() - t
        print(f"render: HTML {t_html:.2f} s ({len(html) / 1024:.0f} KiB)")
        if args.pdf:
            t = time.perf_counter()
            pdf = reports.clinic_report_pdf(env, view)
            print(f"render: PDF {time.perf_counter() - t:.2f} s ({len(pdf) / 1024:.0f} KiB)")
        sup = Actor(kind="staff", clinic_id=1, user_id=2, role="supervisor")
        t = time.perf_counter()
        team = clinic_outcomes(ctx, actor=sup, start=start, end=end)
        print(
            f"clinic_outcomes (one supervisor's team, {team.clinic.episodes.value:,} episodes):"
            f" {time.perf_counter() - t:.2f} s"
        )
        print(f"load average: {os.getloadavg()[0]:.1f}; CPUs: {os.cpu_count()}")
        engine.dispose()
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
