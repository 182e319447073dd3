"""``alliance report client``: the report as the named staff member may see it, written as PDF
or HTML by its suffix, never over an existing file without ``--force``; bad input is one line
and exit code 2 with nothing written."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from alliance.cli import app

PASSWORD = "a long enough password"


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ALLIANCE_PASSWORD_HASH_PROFILE", "fast-insecure-tests")
    monkeypatch.setenv("ALLIANCE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("ALLIANCE_DATABASE_URL", raising=False)


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def clinic(tmp_path: Path) -> tuple[str, int]:
    """A clinic with therapists Tia and Uma; Tia's client Casey checked in twice (PHQ-9 18
    then 9)."""
    from alliance.config import Settings
    from alliance.services import admin, auth, checkins, clients
    from alliance.services.authz import system_actor
    from alliance.services.context import ServiceContext
    from alliance.store.db import sqlite_url

    db = str(tmp_path / "clinic.sqlite3")
    assert run("db", "upgrade", "--db", db)[0] == 0
    ctx = ServiceContext.create(
        Settings(database_url=sqlite_url(db), password_hash_profile="fast-insecure-tests")
    )
    clinic_id = admin.create_clinic(ctx, actor=system_actor(), name="Northside").id
    for name in ("tia", "uma"):
        auth.create_staff_user(
            ctx,
            actor=system_actor(),
            clinic_id=clinic_id,
            email=f"{name}@north.example",
            display_name=name.title(),
            role="therapist",
            password=PASSWORD,
        )
    tia = auth.actor_for_email(ctx, "tia@north.example")
    client, episode = clients.create_client(ctx, actor=tia, display_name="Casey")
    for level in (2, 1):
        link = checkins.create_checkin_link(ctx, actor=tia, episode_id=episode.id)
        answers = {f"phq9_{i}": level for i in range(1, 10)}
        answers["phq9_9"] = 0
        checkins.record_check_in(ctx, link.token, {"phq9": answers})
    return db, client.id


def test_it_writes_the_pdf_with_the_clients_figures(
    clinic: tuple[str, int], tmp_path: Path
) -> None:
    from pypdf import PdfReader

    db, client_id = clinic
    out = tmp_path / "casey.pdf"
    code, stdout, stderr = run(
        "report", "client", str(client_id), "--as", "tia@north.example", "-o", str(out), "--db", db
    )
    assert code == 0, stderr
    assert stdout.strip() == f"wrote the progress report of client {client_id} to {out}"
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(out.read_bytes())).pages)
    text = re.sub(r"\s+", " ", text)
    assert "Casey" in text
    assert re.search(r"Baseline 16 \(moderately severe\)", text)
    assert re.search(r"Latest 8 \(mild\)", text)
    assert "RCI -2.62" in text  # (8 − 16) / (√2 · 6.52 · √(1 − .89))


def test_it_writes_a_standalone_html_file(clinic: tuple[str, int], tmp_path: Path) -> None:
    db, client_id = clinic
    out = tmp_path / "casey.html"
    code, _, stderr = run(
        "report", "client", str(client_id), "--as", "tia@north.example", "-o", str(out), "--db", db
    )
    assert code == 0, stderr
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!doctype html>")
    assert "<style>" in html
    assert "/static/" not in html  # nothing to fetch: the file stands alone
    assert "Casey" in html
    assert "<svg" in html


def test_an_existing_file_is_kept_unless_force(clinic: tuple[str, int], tmp_path: Path) -> None:
    db, client_id = clinic
    out = tmp_path / "casey.html"
    out.write_text("keep me", encoding="utf-8")
    args = ["report", "client", str(client_id), "--as", "tia@north.example", "-o", str(out)]
    code, _, stderr = run(*args, "--db", db)
    assert code == 2
    assert stderr.strip() == f"error: {out}: already exists; add --force to replace it"
    assert out.read_text(encoding="utf-8") == "keep me"
    code, _, stderr = run(*args, "--db", db, "--force")
    assert code == 0, stderr
    assert "Casey" in out.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--as", "uma@north.example", "-o", "r.pdf"], "error: client {client} not found"),
        (["--as", "nobody@north.example", "-o", "r.pdf"], "error: no active user with e-mail"),
        (["-o", "r.pdf"], "error: --as EMAIL is required"),
        (["--as", "tia@north.example", "-o", "r.docx"], "the file name must end in .pdf or .html"),
    ],
)
def test_bad_input_is_one_line_and_nothing_is_written(
    clinic: tuple[str, int], tmp_path: Path, args: list[str], message: str
) -> None:
    db, client_id = clinic
    args = [str(tmp_path / a) if a.startswith("r.") else a for a in args]
    code, stdout, stderr = run("report", "client", str(client_id), *args, "--db", db)
    assert code == 2
    assert stdout == ""
    assert len(stderr.strip().splitlines()) == 1
    assert message.format(client=client_id) in stderr
    assert list(tmp_path.glob("r.*")) == []
