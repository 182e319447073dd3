"""The clinic commands: db upgrade, clinic/user create, export, client export/erase, demo.

They drive the same services as the web app; here we check the thin layer: arguments, files,
and one-line errors with exit code 2.
"""

from __future__ import annotations

import json
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
    monkeypatch.setenv("ALLIANCE_NEW_USER_PASSWORD", PASSWORD)


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = str(tmp_path / "clinic.sqlite3")
    assert run("db", "upgrade", "--db", path)[0] == 0
    assert run("clinic", "create", "Northside", "--db", path)[1].startswith("clinic 1:")
    code, out, _ = run(
        "user",
        "create",
        "--email",
        "ada@north.example",
        "--role",
        "admin",
        "--clinic",
        "1",
        "--name",
        "Ada",
        "--db",
        path,
    )
    assert code == 0, out
    return path


def _seed_client(db: str) -> int:
    from alliance.config import Settings
    from alliance.services import auth, checkins, clients
    from alliance.services.context import ServiceContext
    from alliance.store.db import sqlite_url

    ctx = ServiceContext.create(
        Settings(database_url=sqlite_url(db), password_hash_profile="fast-insecure-tests")
    )
    ada = auth.actor_for_email(ctx, "ada@north.example")
    auth.create_staff_user(
        ctx,
        actor=ada,
        clinic_id=1,
        email="tia@north.example",
        display_name="Tia",
        role="therapist",
        password=PASSWORD,
    )
    tia = auth.actor_for_email(ctx, "tia@north.example")
    client, episode = clients.create_client(ctx, actor=tia, display_name="Casey")
    link = checkins.create_checkin_link(ctx, actor=tia, episode_id=episode.id)
    checkins.record_check_in(ctx, link.token, {"phq9": {f"phq9_{i}": 1 for i in range(1, 10)}})
    return client.id


def test_db_upgrade_creates_the_schema_in_a_new_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "new.sqlite3"
    code, out, _ = run("db", "upgrade", "--db", str(path))
    assert code == 0
    assert out.startswith("database at revision ")
    assert path.exists()


@pytest.mark.postgres
def test_db_upgrade_uses_the_database_url(
    postgres_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALLIANCE_DATABASE_URL", postgres_database_url)
    code, out, _ = run("db", "upgrade")
    assert code == 0, out
    assert run("clinic", "create", "On Postgres")[1].startswith("clinic 1:")


def test_user_create_refuses_bad_input_with_one_line(db: str) -> None:
    code, _, err = run(
        "user",
        "create",
        "--email",
        "x@north.example",
        "--role",
        "wizard",
        "--clinic",
        "1",
        "--db",
        db,
    )
    assert code == 2
    assert err.strip().splitlines() == [
        "error: --role 'wizard': must be one of admin, supervisor, therapist"
    ]
    code, _, err = run(
        "user",
        "create",
        "--email",
        "ada@north.example",
        "--role",
        "admin",
        "--clinic",
        "1",
        "--db",
        db,
    )
    assert code == 2
    assert "already exists" in err


def test_user_create_without_a_terminal_or_a_password_variable_exits_2_with_one_line(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ALLIANCE_NEW_USER_PASSWORD")
    code, _, err = run(
        "user", "create", "--email", "x@north.example", "--role", "therapist", "--clinic", "1",
        "--db", db,
    )  # fmt: skip
    assert code == 2
    assert err.strip().splitlines() == [
        "error: no password: set ALLIANCE_NEW_USER_PASSWORD or run this in a terminal to be asked"
    ]


def test_export_writes_one_file_per_table(db: str, tmp_path: Path) -> None:
    _seed_client(db)
    out = tmp_path / "export"
    code, stdout, err = run(
        "export",
        "--format",
        "csv",
        "--deidentified",
        "-o",
        str(out),
        "--as",
        "ada@north.example",
        "--db",
        db,
    )
    assert code == 0, err
    assert "scores.csv" in {p.name for p in out.iterdir()}
    assert "Casey" not in (out / "clients.csv").read_text()
    assert err.startswith("wrote ")  # the summary, on stderr as every command puts it
    assert stdout == ""


def test_export_without_a_format_writes_csv_with_its_codebook(db: str, tmp_path: Path) -> None:
    _seed_client(db)
    out = tmp_path / "export"
    code, _, err = run("export", "-o", str(out), "--as", "ada@north.example", "--db", db)
    assert code == 0, err
    names = {p.name for p in out.iterdir()}
    assert {"clients.csv", "scores.csv", "codebook.md", "datapackage.json"} <= names
    assert not [
        n
        for n in names
        if n.endswith((".parquet", ".sav", ".dta", ".rds", ".json")) and n != "datapackage.json"
    ]
    assert "Casey" in (out / "clients.csv").read_text()  # full, not de-identified, by default


def test_export_refuses_to_overwrite_without_force(db: str, tmp_path: Path) -> None:
    _seed_client(db)
    out = tmp_path / "export"
    args = ("export", "--format", "spss", "-o", str(out), "--as", "ada@north.example", "--db", db)
    assert run(*args)[0] == 0
    assert {"scores.sav", "codebook.md", "datapackage.json"} <= {p.name for p in out.iterdir()}
    (out / "scores.sav").write_bytes(b"my own analysis")
    code, _, err = run(*args)
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert "already exist" in err
    assert "--force" in err
    assert (out / "scores.sav").read_bytes() == b"my own analysis"  # nothing was replaced
    assert run(*args, "--force")[0] == 0
    assert (out / "scores.sav").read_bytes() != b"my own analysis"
    assert not [p.name for p in out.iterdir() if p.name.endswith(".part")]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["export", "--format", "xml", "-o", "x", "--as", "ada@north.example"], "format"),
        (["export", "--format", "csv", "-o", "x"], "--as EMAIL is required"),
        (["export", "--format", "csv", "-o", "x", "--as", "nobody@x.org"], "no active user"),
        (["client", "erase", "1", "--as", "ada@north.example"], "--yes"),
        (["client", "export", "999", "-o", "x.json", "--as", "ada@north.example"], "not found"),
    ],
)
def test_bad_input_exits_2_with_one_line(db: str, args: list[str], message: str) -> None:
    code, _, err = run(*args, "--db", db)
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert message in err


def test_client_export_then_erase(db: str, tmp_path: Path) -> None:
    client_id = _seed_client(db)
    target = tmp_path / "casey.json"
    code, _, err = run(
        "client",
        "export",
        str(client_id),
        "-o",
        str(target),
        "--as",
        "ada@north.example",
        "--db",
        db,
    )
    assert code == 0, err
    document = json.loads(target.read_text())
    assert document["clients"][0]["display_name"] == "Casey"
    assert document["fhir"]["resourceType"] == "Bundle"
    code, out, err = run(
        "client", "erase", str(client_id), "--yes", "--as", "ada@north.example", "--db", db
    )
    assert code == 0, err
    assert "responses 1" in out
    code, _, err = run(
        "client",
        "export",
        str(client_id),
        "-o",
        str(target),
        "--force",
        "--as",
        "ada@north.example",
        "--db",
        db,
    )
    assert code == 2
    assert "not found" in err


def test_client_export_refuses_to_overwrite_without_force(db: str, tmp_path: Path) -> None:
    client_id = _seed_client(db)
    target = tmp_path / "casey.json"
    target.write_text("my notes")
    args = ("client", "export", str(client_id), "-o", str(target))
    code, _, err = run(*args, "--as", "ada@north.example", "--db", db)
    assert code == 2
    assert err.strip().splitlines() == [
        f"error: {target}: already exists; add --force to replace it"
    ]
    assert target.read_text() == "my notes"
    assert run(*args, "--force", "--as", "ada@north.example", "--db", db)[0] == 0
    assert json.loads(target.read_text())["clients"][0]["display_name"] == "Casey"


def test_every_export_format_writes_files_that_read_back(db: str, tmp_path: Path) -> None:
    import io
    import warnings

    import pandas as pd
    import pyreadstat
    import rdata

    _seed_client(db)
    for fmt, probe in [
        ("csv", "scores.csv"),
        ("parquet", "scores.parquet"),
        ("spss", "scores.sav"),
        ("stata", "scores.dta"),
        ("rds", "scores.rds"),
        ("fhir", "bundle.fhir.json"),
    ]:
        out = tmp_path / fmt
        code, _, err = run(
            "export", "--format", fmt, "-o", str(out), "--as", "ada@north.example", "--db", db
        )
        assert code == 0, (fmt, err)
        path = out / probe
        if fmt == "csv":
            frame = pd.read_csv(path)
        elif fmt == "parquet":
            frame = pd.read_parquet(io.BytesIO(path.read_bytes()))
        elif fmt in ("spss", "stata"):
            frame, _ = (pyreadstat.read_sav if fmt == "spss" else pyreadstat.read_dta)(str(path))
        elif fmt == "rds":
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", "Missing constructor", UserWarning)
                frame = rdata.read_rds(path)
                wide = rdata.read_rds(out / "responses_wide.rds")
            assert wide["phq9_band"].cat.ordered  # an R ordered factor
        else:
            bundle = json.loads(path.read_text())
            kinds = {e["resource"]["resourceType"] for e in bundle["entry"]}
            assert {"Patient", "Questionnaire", "QuestionnaireResponse"} <= kinds
            continue
        assert len(frame) == 1, fmt  # Casey's one PHQ-9
        assert frame["total"].tolist() == [9], fmt
        assert {"codebook.md", "datapackage.json"} <= {p.name for p in out.iterdir()}


def test_demo_without_serving_prints_logins_and_a_link(tmp_path: Path) -> None:
    path = tmp_path / "demo.sqlite3"
    code, out, err = run("demo", "--db", str(path), "--port", "8123", "--no-serve")
    assert code == 0, err
    assert "maya@riverside.example" in out
    assert "http://127.0.0.1:8123/c/" in out
    assert "http://127.0.0.1:8123/intake/" in out
    code, out, _ = run("demo", "--db", str(path), "--port", "8123", "--no-serve")
    assert code == 0
    assert out.startswith("Using the demo clinic")


def test_an_admin_can_deactivate_a_user_and_reset_their_second_factor(db: str) -> None:
    _seed_client(db)
    code, out, err = run(
        "user", "reset-mfa", "tia@north.example", "--as", "ada@north.example", "--db", db
    )
    assert code == 0, err
    assert "second factor removed" in out
    code, out, err = run(
        "user", "deactivate", "tia@north.example", "--as", "ada@north.example", "--db", db
    )
    assert code == 0, err
    code, _, err = run(
        "user", "deactivate", "tia@north.example", "--as", "ada@north.example", "--db", db
    )
    assert code == 2  # no longer an active user
    code, _, err = run(
        "user", "deactivate", "ada@north.example", "--as", "tia@north.example", "--db", db
    )
    assert code == 2


def test_refresh_alerts_runs_over_every_open_episode(db: str) -> None:
    _seed_client(db)
    code, out, err = run("clinic", "refresh-alerts", "--db", db)
    assert code == 0, err
    assert out.strip().endswith("alert(s) raised or updated")
