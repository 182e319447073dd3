"""Research exports asked for in the app and built in the background: who may, what is
audited, the file kept encrypted, failures in words with nothing half-written, a worker that
stopped, expiry and deletion. Every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import dataclasses
import io
import json
import time
import zipfile
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from clinic_world import COMMENT, Clock, World, seed_goal_and_check_ins
from sqlalchemy import select

from alliance.services import export_jobs, exports
from alliance.services.context import ServiceContext
from alliance.services.errors import Conflict, Forbidden, InvalidInput, NotFound
from alliance.store.db import transaction
from alliance.store.models import AuditEvent, ExportJob, StaffUser


@pytest.fixture
def xctx(world: World, clock: Clock, tmp_path: Path) -> ServiceContext:
    """The world's context with a data directory of this test's own and a clock of its own
    (moving it must not move the session-wide one)."""
    own = Clock()
    own.now = clock.now
    settings = world.ctx.settings.model_copy(update={"data_dir": tmp_path / "data"})
    return dataclasses.replace(world.ctx, settings=settings, clock=own)


def _folder(ctx: ServiceContext) -> Path:
    return export_jobs.exports_dir(ctx.settings)


def _files_on_disk(ctx: ServiceContext) -> list[str]:
    folder = _folder(ctx)
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def _events(ctx: ServiceContext, entity_type: str = "export_job") -> list[AuditEvent]:
    """What was done to ``entity_type`` records (denials left out)."""
    with transaction(ctx.session_factory) as session:
        rows = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.entity_type == entity_type, AuditEvent.action != "deny")
            .order_by(AuditEvent.id)
        ).all()
        session.expunge_all()
        return list(rows)


def _job(ctx: ServiceContext, job_id: int) -> ExportJob:
    with transaction(ctx.session_factory) as session:
        job = session.get(ExportJob, job_id)
        assert job is not None
        session.expunge(job)
        return job


def _unzipped(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_an_admin_requests_an_export_it_is_built_kept_encrypted_and_downloaded(
    world: World, clock: Clock, xctx: ServiceContext
) -> None:
    seed_goal_and_check_ins(world, clock)
    job = export_jobs.request_export(xctx, actor=world.ada, format="csv", deidentified=False)
    assert (job.status, job.requested_by, job.pending) == ("queued", "Ada", True)
    assert _files_on_disk(xctx) == []  # nothing is built on the request

    report = export_jobs.run_export_jobs(xctx, worker="w1")
    assert (report.built, report.failed) == (1, 0)
    (listed,) = export_jobs.list_exports(xctx, actor=world.ada)
    assert listed.status == "done"
    assert listed.file_count == len(exports.TABLES) + 2  # the tables, codebook.md, datapackage
    assert listed.expires_at == xctx.now() + timedelta(days=7)

    (stored,) = _files_on_disk(xctx)
    raw = (_folder(xctx) / stored).read_bytes()
    assert raw.startswith(b"enc1:")  # encrypted at rest: no ZIP, no names, no free text
    for secret in (b"PK\x03\x04", b"Sarah", COMMENT.encode()):
        assert secret not in raw

    download = export_jobs.download_export(xctx, actor=world.ada, job_id=job.id)
    assert download.filename == f"alliance-export-{job.id}-csv.zip"
    files = _unzipped(download.data)
    # The CLI's own files (the same service function), and they parse.
    cli = exports.export_clinic(xctx, actor=world.ada, format="csv", deidentified=False)
    assert set(files) == set(cli)
    assert files["clients.csv"] == cli["clients.csv"]
    names = set(pd.read_csv(io.BytesIO(files["clients.csv"]))["display_name"])
    assert names == {"Sarah", "John"}
    package = json.loads(files["datapackage.json"])
    assert {r["path"] for r in package["resources"]} >= {"scores.csv", "responses_wide.csv"}

    request, download_event = _events(xctx)
    assert (request.action, request.actor_id, request.entity_id) == (
        "export",
        world.ada.user_id,
        str(job.id),
    )
    assert request.detail == {"op": "request", "format": "csv", "deidentified": False}
    assert download_event.action == "export"
    assert download_event.detail["op"] == "download"
    assert download_event.actor_id == world.ada.user_id
    # The build itself is the clinic export, audited as the admin who asked for it.
    built = [e for e in _events(xctx, "clinic") if e.action == "export"]
    assert built[0].actor_id == world.ada.user_id
    assert built[0].detail["format"] == "csv"


@pytest.mark.parametrize("fmt", ["parquet", "spss", "stata", "rds", "fhir"])
def test_every_format_of_the_cli_is_built_and_reads_back(
    world: World, clock: Clock, xctx: ServiceContext, fmt: str
) -> None:
    seed_goal_and_check_ins(world, clock)
    job = export_jobs.request_export(xctx, actor=world.ada, format=fmt, deidentified=True)
    export_jobs.run_export_jobs(xctx, worker="w1")
    files = _unzipped(export_jobs.download_export(xctx, actor=world.ada, job_id=job.id).data)
    assert set(files) == set(
        exports.export_clinic(xctx, actor=world.ada, format=fmt, deidentified=True)
    )
    blob = b"".join(files.values())
    assert b"Sarah" not in blob
    assert COMMENT.encode() not in blob
    if fmt == "fhir":
        assert json.loads(files["bundle.fhir.json"])["resourceType"] == "Bundle"
    elif fmt == "parquet":
        assert len(pd.read_parquet(io.BytesIO(files["scores.parquet"]))) > 0


def test_only_an_admin_of_the_clinic_may_request_list_download_or_delete(
    world: World, xctx: ServiceContext
) -> None:
    job = export_jobs.request_export(xctx, actor=world.ada, format="csv", deidentified=True)
    export_jobs.run_export_jobs(xctx, worker="w1")
    for staff in (world.alice, world.sam):  # a therapist, a supervisor
        with pytest.raises(Forbidden):
            export_jobs.request_export(xctx, actor=staff, format="csv", deidentified=True)
        with pytest.raises(Forbidden):
            export_jobs.list_exports(xctx, actor=staff)
        with pytest.raises(Forbidden):
            export_jobs.download_export(xctx, actor=staff, job_id=job.id)
        with pytest.raises(Forbidden):
            export_jobs.delete_export(xctx, actor=staff, job_id=job.id)
    # Another clinic's admin: not even told it exists.
    with pytest.raises(NotFound):
        export_jobs.download_export(xctx, actor=world.carol, job_id=job.id)
    with pytest.raises(NotFound):
        export_jobs.delete_export(xctx, actor=world.carol, job_id=job.id)
    assert export_jobs.list_exports(xctx, actor=world.carol) == ()
    with transaction(xctx.session_factory) as session:
        denials = session.scalars(select(AuditEvent).where(AuditEvent.action == "deny")).all()
        refused = {(e.actor_id, e.entity_type) for e in denials}
    assert (world.alice.user_id, "clinic") in refused
    assert (world.carol.user_id, "export_job") in refused
    assert _job(xctx, job.id).status == "done"  # untouched by the refused delete
    assert [e.detail["op"] for e in _events(xctx)] == ["request"]  # no download happened


def test_a_bad_option_is_refused_in_words_and_nothing_is_stored(
    world: World, xctx: ServiceContext
) -> None:
    with pytest.raises(InvalidInput) as info:
        export_jobs.request_export(xctx, actor=world.ada, format="xlsx", deidentified=True)
    assert info.value.message == (
        "format: must be one of csv, parquet, spss, stata, rds, fhir, not 'xlsx'"
    )
    with transaction(xctx.session_factory) as session:
        assert session.scalars(select(ExportJob)).all() == []
    assert _events(xctx) == []
    assert export_jobs.run_export_jobs(xctx, worker="w1").built == 0
    assert _files_on_disk(xctx) == []


def test_a_job_that_fails_says_why_and_leaves_no_file(world: World, xctx: ServiceContext) -> None:
    # The requester lost their admin role before the job ran: the export's own check says so.
    job = export_jobs.request_export(xctx, actor=world.ada, format="csv", deidentified=True)
    _set_user(xctx, world.ada.user_id, role="therapist")
    report = export_jobs.run_export_jobs(xctx, worker="w1")
    assert (report.built, report.failed) == (0, 1)
    failed = _job(xctx, job.id)
    assert failed.status == "failed"
    assert failed.error == "your role may not do this (needs admin)"
    assert failed.file_name is None
    assert _files_on_disk(xctx) == []
    # Deactivated: said in words too.
    _set_user(xctx, world.ada.user_id, role="admin")
    second = export_jobs.request_export(xctx, actor=world.ada, format="csv", deidentified=True)
    _set_user(xctx, world.ada.user_id, active=False)
    export_jobs.run_export_jobs(xctx, worker="w1")
    assert _job(xctx, second.id).error == (
        "the admin who asked for it is no longer an active user of this clinic"
    )
    assert _files_on_disk(xctx) == []


def _set_user(ctx: ServiceContext, user_id: int | None, **values: object) -> None:
    """Change a staff row behind the services' back (no service changes a role)."""
    with transaction(ctx.session_factory) as session:
        user = session.get(StaffUser, user_id)
        assert user is not None
        for key, value in values.items():
            setattr(user, key, value)


def test_a_job_that_cannot_write_its_file_fails_in_words(
    world: World, xctx: ServiceContext
) -> None:
    xctx.settings.data_dir.mkdir(parents=True)
    _folder(xctx).write_text("a file where the exports folder should be")
    job = export_jobs.request_export(xctx, actor=world.ada, format="csv", deidentified=True)
    export_jobs.run_export_jobs(xctx, worker="w1")
    failed = _job(xctx, job.id)
    assert failed.status == "failed"
    assert failed.error is not None
    assert failed.error.startswith(f"cannot write the export file under {_folder(xctx)}")
    with pytest.raises(Conflict, match="failed"):
        export_jobs.download_export(xctx, actor=world.ada, job_id=job.id)


def test_a_job_left_running_by_a_stopped_server_is_tried_again_then_failed(
    world: World, xctx: ServiceContext
) -> None:
    clock = xctx.clock
    assert isinstance(clock, Clock)
    job = export_jobs.request_export(xctx, actor=world.ada, format="csv", deidentified=True)
    assert export_jobs._claim(xctx, "worker-that-dies") == job.id
    folder = _folder(xctx)
    folder.mkdir(parents=True)
    (folder / f".{job.id}-0123456789abcdef.zip.enc.part").write_bytes(b"half a file")
    # Within its lease the job belongs to the worker that claimed it.
    assert export_jobs.run_export_jobs(xctx, worker="w2").recovered == 0
    assert _job(xctx, job.id).status == "running"

    clock.advance(seconds=export_jobs.LEASE.total_seconds() + 1)
    report = export_jobs.run_export_jobs(xctx, worker="w2")
    assert (report.recovered, report.built) == (1, 1)
    done = _job(xctx, job.id)
    assert (done.status, done.attempts, done.claimed_by) == ("done", 2, "w2")
    assert not [n for n in _files_on_disk(xctx) if n.endswith(".part")]

    # A second job whose worker stops on every attempt ends failed, saying so.
    second = export_jobs.request_export(xctx, actor=world.ada, format="csv", deidentified=True)
    for attempt in range(export_jobs.MAX_ATTEMPTS):
        assert export_jobs._claim(xctx, f"dies-{attempt}") == second.id
        clock.advance(seconds=export_jobs.LEASE.total_seconds() + 1)
        export_jobs._recover(xctx)
    failed = _job(xctx, second.id)
    assert failed.status == "failed"
    assert failed.error == (
        "the server stopped while building it, 2 times; request it again, and if it happens "
        "again the server log says why"
    )


def test_two_workers_never_claim_one_job(world: World, xctx: ServiceContext) -> None:
    job = export_jobs.request_export(xctx, actor=world.ada, format="csv", deidentified=True)
    assert export_jobs._claim(xctx, "w1") == job.id
    assert export_jobs._claim(xctx, "w2") is None
    # The worker whose claim it is not cannot finish it.
    assert not export_jobs._finish_done(xctx, job.id, "w2", "x.zip.enc", 1, 1)


def test_an_expired_export_is_refused_and_its_file_removed(
    world: World, xctx: ServiceContext
) -> None:
    clock = xctx.clock
    assert isinstance(clock, Clock)
    job = export_jobs.request_export(xctx, actor=world.ada, format="csv", deidentified=True)
    export_jobs.run_export_jobs(xctx, worker="w1")
    assert len(_files_on_disk(xctx)) == 1
    clock.advance(days=7, seconds=1)
    (listed,) = export_jobs.list_exports(xctx, actor=world.ada)
    assert listed.status == "expired"
    with pytest.raises(Conflict, match="has expired"):
        export_jobs.download_export(xctx, actor=world.ada, job_id=job.id)
    assert export_jobs.run_export_jobs(xctx, worker="w1").expired == 1
    assert _files_on_disk(xctx) == []
    assert _job(xctx, job.id).status == "expired"


def test_an_admin_deletes_an_export_or_cancels_a_queued_one(
    world: World, xctx: ServiceContext
) -> None:
    built = export_jobs.request_export(xctx, actor=world.ada, format="csv", deidentified=True)
    export_jobs.run_export_jobs(xctx, worker="w1")
    queued = export_jobs.request_export(xctx, actor=world.ada, format="csv", deidentified=True)
    assert export_jobs.delete_export(xctx, actor=world.ada, job_id=built.id).status == "deleted"
    assert _files_on_disk(xctx) == []
    with pytest.raises(Conflict, match="was deleted"):
        export_jobs.download_export(xctx, actor=world.ada, job_id=built.id)
    assert export_jobs.delete_export(xctx, actor=world.ada, job_id=queued.id).status == "deleted"
    assert export_jobs.run_export_jobs(xctx, worker="w1").built == 0  # cancelled: never built
    deletes = [e for e in _events(xctx) if e.detail.get("op") == "delete"]
    assert [(e.action, e.actor_id) for e in deletes] == [("write", world.ada.user_id)] * 2

    running = export_jobs.request_export(xctx, actor=world.ada, format="csv", deidentified=True)
    export_jobs._claim(xctx, "w1")
    with pytest.raises(Conflict, match="being built"):
        export_jobs.delete_export(xctx, actor=world.ada, job_id=running.id)


def test_a_download_whose_file_is_gone_or_undecryptable_says_what_to_do(
    world: World, xctx: ServiceContext
) -> None:
    job = export_jobs.request_export(xctx, actor=world.ada, format="csv", deidentified=True)
    export_jobs.run_export_jobs(xctx, worker="w1")
    (name,) = _files_on_disk(xctx)
    path = _folder(xctx) / name
    sealed = path.read_bytes()
    path.write_bytes(sealed[:-1] + bytes([sealed[-1] ^ 1]))
    with pytest.raises(Conflict, match="cannot be decrypted"):
        export_jobs.download_export(xctx, actor=world.ada, job_id=job.id)
    path.unlink()
    with pytest.raises(Conflict, match="missing from this server's data directory"):
        export_jobs.download_export(xctx, actor=world.ada, job_id=job.id)
    assert [e.detail["op"] for e in _events(xctx)] == ["request"]  # no download audited


def test_the_worker_thread_builds_a_job_when_woken(world: World, xctx: ServiceContext) -> None:
    worker = export_jobs.ExportWorker(xctx, interval=3600)
    worker.start()
    try:
        job = export_jobs.request_export(xctx, actor=world.ada, format="csv", deidentified=True)
        worker.wake()
        deadline = time.monotonic() + 60
        while _job(xctx, job.id).status != "done":
            assert time.monotonic() < deadline, _job(xctx, job.id).status
            time.sleep(0.05)
    finally:
        worker.stop()
    assert worker.passes >= 1
