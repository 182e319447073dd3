"""``alliance report clinic``: the clinic outcome report as the named admin or supervisor may
see it, as PDF or HTML by the suffix; a therapist is refused and bad dates are one line with
exit code 2 and nothing written."""

from __future__ import annotations

import io
import re
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from alliance.cli import app
from outcomes_seed import Course, seed

PASSWORD = "a long enough password"
PERIOD = ["--from", "2025-12-01", "--to", "2026-02-28"]


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ALLIANCE_PASSWORD_HASH_PROFILE", "fast-insecure-tests")
    monkeypatch.setenv("ALLIANCE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("ALLIANCE_DATABASE_URL", raising=False)


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def clinic(tmp_path: Path) -> str:
    """Northside: admin Ada, therapist Tia with eight seeded episodes (five recovered)."""
    from alliance.config import Settings
    from alliance.services import admin, auth
    from alliance.services.authz import system_actor
    from alliance.services.context import ServiceContext
    from alliance.store.db import sqlite_url

    db = str(tmp_path / "clinic.sqlite3")
    assert run("db", "upgrade", "--db", db)[0] == 0
    ctx = ServiceContext.create(
        Settings(database_url=sqlite_url(db), password_hash_profile="fast-insecure-tests")
    )
    clinic_id = admin.create_clinic(ctx, actor=system_actor(), name="Northside").id
    ids = {}
    for name, role in (("ada", "admin"), ("tia", "therapist")):
        ids[name] = auth.create_staff_user(
            ctx,
            actor=system_actor(),
            clinic_id=clinic_id,
            email=f"{name}@north.example",
            display_name=name.title(),
            role=role,
            password=PASSWORD,
        ).id
    courses = [Course((20, 12, 6), end_reason="completed") for _ in range(5)]
    seed(ctx, clinic_id, ids["tia"], [*courses, *[Course((18, 17)) for _ in range(3)]])
    return db


def _view(db: str) -> object:
    from alliance.config import Settings
    from alliance.services import auth
    from alliance.services.context import ServiceContext
    from alliance.services.outcomes import clinic_outcomes
    from alliance.store.db import sqlite_url

    ctx = ServiceContext.create(
        Settings(database_url=sqlite_url(db), password_hash_profile="fast-insecure-tests")
    )
    actor = auth.actor_for_email(ctx, "ada@north.example")
    return clinic_outcomes(ctx, actor=actor, start=date(2025, 12, 1), end=date(2026, 2, 28))


def test_it_writes_the_pdf_with_the_services_figures(clinic: str, tmp_path: Path) -> None:
    from pypdf import PdfReader

    out = tmp_path / "outcomes.pdf"
    code, stdout, stderr = run(
        "report", "clinic", "--as", "ada@north.example", *PERIOD, "-o", str(out), "--db", clinic
    )
    assert code == 0, stderr
    assert stdout.strip() == f"wrote the clinic outcome report 2025-12-01 to 2026-02-28 to {out}"
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(out.read_bytes())).pages)
    text = re.sub(r"\s+", " ", text)
    row = _view(clinic).clinic  # type: ignore[attr-defined]
    assert row.reliable_improvement.numerator == 5
    assert row.reliable_improvement.denominator == 8
    assert "62.5 %" in text
    assert "5/8" in text
    assert "Northside" in text


def test_it_writes_a_standalone_html_file(clinic: str, tmp_path: Path) -> None:
    out = tmp_path / "outcomes.html"
    code, _, stderr = run(
        "report", "clinic", "--as", "ada@north.example", *PERIOD, "-o", str(out), "--db", clinic
    )
    assert code == 0, stderr
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!doctype html>")
    assert "<style>" in html
    assert "/static/" not in html
    assert "/caseload?" not in html  # no links into the app from a saved file


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--as", "tia@north.example", "-o", "r.pdf"], "error: your role may not"),
        (["--as", "ada@north.example", "--from", "2026-02-30", "-o", "r.pdf"], "--from"),
        (
            [
                "--as",
                "ada@north.example",
                "--from",
                "2026-02-01",
                "--to",
                "2026-01-01",
                "-o",
                "r.pdf",
            ],
            "before it starts",
        ),
        (["-o", "r.pdf"], "error: --as EMAIL is required"),
        (["--as", "ada@north.example", "-o", "r.txt"], "must end in .pdf or .html"),
    ],
)
def test_bad_input_is_one_line_and_nothing_is_written(
    clinic: str, tmp_path: Path, args: list[str], message: str
) -> None:
    args = [str(tmp_path / a) if a.startswith("r.") else a for a in args]
    code, stdout, stderr = run("report", "clinic", *args, "--db", clinic)
    assert code == 2
    assert stdout == ""
    assert len(stderr.strip().splitlines()) == 1
    assert message in stderr
    assert list(tmp_path.glob("r.*")) == []
