"""Research exports an admin asks for in the app, built in the background (issue 13).

The export itself is :func:`alliance.services.exports.export_clinic` — the code behind
``alliance export`` — called as the admin who asked, so the same authorization, the same
files and the same ``export`` audit event come out; this module only queues it, runs it off
the request and keeps the result for download:

- :func:`request_export` checks the options (the same check as the CLI: a bad one is a
  :class:`InvalidInput` and no row is written) and stores a ``queued`` job, audited;
- :func:`run_export_jobs` is one pass of the worker: it recovers jobs whose worker stopped
  (a ``running`` job whose lease ran out is queued again, or failed with a plain message
  after :data:`MAX_ATTEMPTS`), removes expired files, then claims queued jobs one at a time
  with a conditional UPDATE (so several app workers never build one twice), builds each, and
  stores it as one ZIP archive — the CLI's files, codebook included — encrypted with the
  field cipher under ``data_dir/exports``, written beside its name and renamed into place,
  so a failed job leaves no file. While a job runs its lease is renewed every
  :data:`HEARTBEAT` ; a server that dies stops renewing it;
- :class:`ExportWorker` runs those passes in a daemon thread of the web app: woken at once
  by a request, and every ``interval`` seconds anyway (a job queued by another worker, a
  lease that ran out, a file that expired);
- :func:`download_export` decrypts the archive for an admin of the clinic, audited;
  :func:`delete_export` removes it (or cancels a queued job), audited.

Files are encrypted because a full export holds what the database keeps encrypted (names,
contact details, goals, notes, free-text answers), and even a de-identified one holds every
answer: a copy in the clear under the data directory would undo the encryption at rest.
"""

from __future__ import annotations

import io
import logging
import os
import secrets
import socket
import threading
import zipfile
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from alliance.config import Settings
from alliance.services import exports
from alliance.services.authz import Actor, not_found, require_staff, staff_actor
from alliance.services.context import ServiceContext
from alliance.services.errors import Conflict, ServiceError
from alliance.services.unit import denials_audited, record, unit_of_work
from alliance.services.views import ExportDownload, ExportJobView, ExportRunReport
from alliance.store.crypto import DecryptionError
from alliance.store.db import transaction
from alliance.store.models import ExportJob, StaffUser

logger = logging.getLogger(__name__)

#: How long a claim holds without renewal: a job whose worker stopped is picked up again
#: this long after its last heartbeat.
LEASE = timedelta(minutes=2)
#: How often a running job renews its lease (a few times per lease).
HEARTBEAT = timedelta(seconds=30)
#: Attempts at one job before a stopped worker's job is failed instead of queued again.
MAX_ATTEMPTS = 2
#: The associated data a job's file is sealed with (with the job id: a file put in the place
#: of another job's fails to open).
FILE_FIELD = "export_jobs.file"
#: How many jobs the page lists (newest first).
LISTED = 50


def exports_dir(settings: Settings) -> Path:
    """Where built exports are kept: ``exports/`` under the data directory."""
    return settings.data_dir / "exports"


def _field(job_id: int) -> str:
    return f"{FILE_FIELD}:{job_id}"


def _download_name(job: ExportJob) -> str:
    kind = "-deidentified" if job.deidentified else ""
    return f"alliance-export-{job.id}-{job.format}{kind}.zip"


def _view(ctx: ServiceContext, job: ExportJob, requested_by: str) -> ExportJobView:
    status = job.status
    if status == "done" and job.expires_at is not None and job.expires_at <= ctx.now():
        status = "expired"
    return ExportJobView(
        id=job.id,
        requested_by=requested_by,
        requested_at=job.requested_at,
        format=job.format,
        deidentified=job.deidentified,
        status=status,  # type: ignore[arg-type]  # only the statuses this module writes
        attempts=job.attempts,
        started_at=job.started_at,
        finished_at=job.finished_at,
        error=job.error,
        file_count=job.file_count,
        size_bytes=job.size_bytes,
        expires_at=job.expires_at,
        download_name=_download_name(job),
    )


def _name_of(session: Session, user_id: int) -> str:
    user = session.get(StaffUser, user_id)
    return user.display_name if user is not None else f"user {user_id}"


def _require_job(session: Session, actor: Actor, job_id: int) -> ExportJob:
    job = session.get(ExportJob, job_id)
    if job is None:
        raise not_found(actor, "export_job", job_id, why="no such export")
    if job.clinic_id != actor.clinic_id:
        raise not_found(actor, "export_job", job_id, why="other clinic")
    return job


@denials_audited
def request_export(
    ctx: ServiceContext, *, actor: Actor, format: str, deidentified: bool
) -> ExportJobView:
    """Queue an export of the admin's clinic (the options of ``alliance export``); audited.
    A bad option is refused here, before anything is stored."""
    require_staff(actor, "admin")
    fmt = exports.check_format(format)
    assert actor.user_id is not None
    assert actor.clinic_id is not None
    with unit_of_work(ctx) as session:
        job = ExportJob(
            clinic_id=actor.clinic_id,
            requested_by=actor.user_id,
            requested_at=ctx.now(),
            format=fmt,
            deidentified=deidentified,
            status="queued",
            attempts=0,
        )
        session.add(job)
        session.flush()
        record(
            session,
            ctx,
            actor,
            "export",
            "export_job",
            job.id,
            {"op": "request", "format": fmt, "deidentified": deidentified},
        )
        return _view(ctx, job, _name_of(session, actor.user_id))


@denials_audited
def list_exports(ctx: ServiceContext, *, actor: Actor) -> tuple[ExportJobView, ...]:
    """The clinic's recent exports, newest first (what was asked for, by whom, and how it
    went; no clinical content, so not audited as a read)."""
    require_staff(actor, "admin")
    with unit_of_work(ctx) as session:
        rows = session.execute(
            select(ExportJob, StaffUser.display_name)
            .join(StaffUser, StaffUser.id == ExportJob.requested_by)
            .where(ExportJob.clinic_id == actor.clinic_id)
            .order_by(ExportJob.id.desc())
            .limit(LISTED)
        ).all()
        return tuple(_view(ctx, job, name) for job, name in rows)


@denials_audited
def download_export(ctx: ServiceContext, *, actor: Actor, job_id: int) -> ExportDownload:
    """The built archive of one of the clinic's exports, decrypted; audited as an export
    (who, when, which job). Refused (409, saying why) unless it is done and not expired."""
    require_staff(actor, "admin")
    with unit_of_work(ctx) as session:
        job = _require_job(session, actor, job_id)
        view = _view(ctx, job, "")
        if view.status != "done" or not job.file_name:
            raise Conflict(_not_ready(view))
        path = exports_dir(ctx.settings) / job.file_name
        try:
            sealed = path.read_bytes()
        except OSError:
            raise Conflict(
                f"export {job.id}: its file is missing from this server's data directory "
                f"({exports_dir(ctx.settings)}); request the export again"
            ) from None
        try:
            data = ctx.cipher.open_bytes(sealed, field=_field(job.id))
        except DecryptionError:
            raise Conflict(
                f"export {job.id}: its file cannot be decrypted with the configured keys (was "
                "an encryption key removed?); request the export again"
            ) from None
        record(
            session,
            ctx,
            actor,
            "export",
            "export_job",
            job.id,
            {
                "op": "download",
                "format": job.format,
                "deidentified": job.deidentified,
                "files": job.file_count,
            },
        )
        return ExportDownload(
            job_id=job.id, filename=view.download_name, media_type="application/zip", data=data
        )


def _not_ready(view: ExportJobView) -> str:
    if view.status in ("queued", "running"):
        return f"export {view.id} is still being built; download it once it is done"
    if view.status == "failed":
        return f"export {view.id} failed ({view.error}); request a new one"
    if view.status == "expired":
        return f"export {view.id} has expired and its file was removed; request a new one"
    return f"export {view.id} was deleted; request a new one"


@denials_audited
def delete_export(ctx: ServiceContext, *, actor: Actor, job_id: int) -> ExportJobView:
    """Remove an export's file (or cancel it while queued); the job stays listed as deleted.
    Audited. A job being built is refused: delete it once it has finished."""
    require_staff(actor, "admin")
    with unit_of_work(ctx) as session:
        job = _require_job(session, actor, job_id)
        if job.status == "running":
            raise Conflict(f"export {job.id} is being built; delete it once it has finished")
        file_name = job.file_name
        if job.status != "deleted":
            job.status = "deleted"
            job.removed_at = ctx.now()
            job.removed_by = actor.user_id
            job.file_name = None
            record(session, ctx, actor, "write", "export_job", job.id, {"op": "delete"})
        view = _view(ctx, job, _name_of(session, job.requested_by))
    # After the commit: a file whose row still named it is never removed by a rollback.
    if file_name:
        _remove(exports_dir(ctx.settings) / file_name)
    return view


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        logger.warning("could not remove %s", path, exc_info=True)


def _remove_parts(folder: Path, job_id: int) -> None:
    """Files a stopped worker was writing for ``job_id`` (never renamed into place)."""
    if folder.is_dir():
        for part in folder.glob(f".{job_id}-*.part"):
            _remove(part)


# ---------------------------------------------------------------------------------------------
# The worker


def worker_name() -> str:
    """Who claims a job: host, process and thread (unique among the app's workers)."""
    return f"{socket.gethostname()[:50]}:{os.getpid()}:{threading.get_ident() % 10**8}"


def run_export_jobs(
    ctx: ServiceContext, *, worker: str | None = None, limit: int | None = None
) -> ExportRunReport:
    """One pass: recover jobs of stopped workers, remove expired files, then build queued
    jobs (all of them, or ``limit``) one after another."""
    worker = worker or worker_name()
    recovered, failed_recovery = _recover(ctx)
    expired = _expire(ctx)
    built = failed = 0
    while limit is None or built + failed < limit:
        job_id = _claim(ctx, worker)
        if job_id is None:
            break
        if _build(ctx, job_id, worker):
            built += 1
        else:
            failed += 1
    return ExportRunReport(
        recovered=recovered, built=built, failed=failed + failed_recovery, expired=expired
    )


def _recover(ctx: ServiceContext) -> tuple[int, int]:
    """Running jobs whose lease ran out: queued again, or failed after MAX_ATTEMPTS."""
    now = ctx.now()
    requeued = failed = 0
    folder = exports_dir(ctx.settings)
    with transaction(ctx.session_factory) as session:
        stale = session.scalars(
            select(ExportJob).where(ExportJob.status == "running", ExportJob.lease_until < now)
        ).all()
        for job in stale:
            _remove_parts(folder, job.id)
            job.claimed_by = None
            job.lease_until = None
            if job.attempts < MAX_ATTEMPTS:
                job.status = "queued"
                job.error = (
                    f"the server stopped while building it (attempt {job.attempts}); "
                    "it is being tried again"
                )
                requeued += 1
            else:
                job.status = "failed"
                job.finished_at = now
                job.error = (
                    f"the server stopped while building it, {job.attempts} times; request it "
                    "again, and if it happens again the server log says why"
                )
                failed += 1
    if requeued or failed:
        logger.warning(
            "export jobs of a stopped worker: %d queued again, %d failed", requeued, failed
        )
    return requeued, failed


def _expire(ctx: ServiceContext) -> int:
    """Done jobs past ``expires_at``: their files removed, the jobs marked expired."""
    now = ctx.now()
    names: list[str] = []
    with transaction(ctx.session_factory) as session:
        due = session.scalars(
            select(ExportJob).where(ExportJob.status == "done", ExportJob.expires_at <= now)
        ).all()
        for job in due:
            if job.file_name:
                names.append(job.file_name)
            job.status = "expired"
            job.removed_at = now
            job.file_name = None
    for name in names:
        _remove(exports_dir(ctx.settings) / name)
    return len(due)


def _claim(ctx: ServiceContext, worker: str) -> int | None:
    """The oldest queued job, claimed for ``worker``; None when there is none left."""
    while True:
        with transaction(ctx.session_factory) as session:
            job_id = session.scalar(
                select(ExportJob.id)
                .where(ExportJob.status == "queued")
                .order_by(ExportJob.id)
                .limit(1)
            )
            if job_id is None:
                return None
            now = ctx.now()
            result = session.execute(
                update(ExportJob)
                .where(ExportJob.id == job_id, ExportJob.status == "queued")
                .values(
                    status="running",
                    claimed_by=worker,
                    started_at=now,
                    lease_until=now + LEASE,
                    attempts=ExportJob.attempts + 1,
                )
                .execution_options(synchronize_session=False)
            )
            if int(getattr(result, "rowcount", 0) or 0) == 1:
                return int(job_id)
        # Another worker took it between the select and the update: look again.


class _Heartbeat:
    """Renews a running job's lease every HEARTBEAT until stopped."""

    def __init__(self, ctx: ServiceContext, job_id: int, worker: str) -> None:
        self.ctx, self.job_id, self.worker = ctx, job_id, worker
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"export-{job_id}", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.wait(HEARTBEAT.total_seconds()):
            try:
                with transaction(self.ctx.session_factory) as session:
                    session.execute(
                        update(ExportJob)
                        .where(
                            ExportJob.id == self.job_id,
                            ExportJob.status == "running",
                            ExportJob.claimed_by == self.worker,
                        )
                        .values(lease_until=self.ctx.now() + LEASE)
                        .execution_options(synchronize_session=False)
                    )
            except Exception:  # a missed beat is retried; the lease outlasts a few of them
                logger.warning("export job %d: lease not renewed", self.job_id, exc_info=True)


def _requester(ctx: ServiceContext, job_id: int) -> tuple[ExportJob, Actor | None]:
    """The job and the actor it runs as: its requester, if still an active admin there."""
    with transaction(ctx.session_factory) as session:
        job = session.get(ExportJob, job_id)
        assert job is not None  # claimed a moment ago; jobs are never deleted
        user = session.get(StaffUser, job.requested_by)
        session.expunge(job)
        if user is None or not user.active or user.clinic_id != job.clinic_id:
            return job, None
        return job, staff_actor(user)


def _archive(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            archive.writestr(name, files[name])
    return buffer.getvalue()


def _build(ctx: ServiceContext, job_id: int, worker: str) -> bool:
    """Build one claimed job; True when its file is in place and the job is done."""
    job, actor = _requester(ctx, job_id)
    folder = exports_dir(ctx.settings)
    name = f"{job_id}-{secrets.token_hex(8)}.zip.enc"
    part = folder / f".{name}.part"
    try:
        if actor is None:
            raise ServiceError(
                "the admin who asked for it is no longer an active user of this clinic"
            )
        with _Heartbeat(ctx, job_id, worker):
            # The CLI's own export, as the admin who asked: their rights, their audit event.
            files = exports.export_clinic(
                ctx, actor=actor, format=job.format, deidentified=job.deidentified
            )
            sealed = ctx.cipher.seal_bytes(_archive(files), field=_field(job_id))
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            part.write_bytes(sealed)
            part.chmod(0o600)
            os.replace(part, folder / name)
    except Exception as exc:
        _remove(part)
        _finish_failed(ctx, job_id, worker, _failure_message(exc, folder))
        return False
    if not _finish_done(ctx, job_id, worker, name, len(files), len(sealed)):
        _remove(folder / name)  # the claim was lost (the lease ran out): not ours to keep
        return False
    return True


def _failure_message(exc: Exception, folder: Path) -> str:
    if isinstance(exc, ServiceError):
        return exc.message
    if isinstance(exc, OSError):
        return f"cannot write the export file under {folder}: {exc.strerror or exc}"
    logger.exception("export job failed")
    return f"unexpected error ({type(exc).__name__}); the server log has the details"


def _finish_done(
    ctx: ServiceContext, job_id: int, worker: str, name: str, count: int, size: int
) -> bool:
    now = ctx.now()
    with transaction(ctx.session_factory) as session:
        result = session.execute(
            update(ExportJob)
            .where(
                ExportJob.id == job_id,
                ExportJob.status == "running",
                ExportJob.claimed_by == worker,
            )
            .values(
                status="done",
                finished_at=now,
                lease_until=None,
                error=None,
                file_name=name,
                file_count=count,
                size_bytes=size,
                expires_at=now + timedelta(days=ctx.settings.export_keep_days),
            )
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0) == 1


def _finish_failed(ctx: ServiceContext, job_id: int, worker: str, message: str) -> None:
    with transaction(ctx.session_factory) as session:
        session.execute(
            update(ExportJob)
            .where(
                ExportJob.id == job_id,
                ExportJob.status == "running",
                ExportJob.claimed_by == worker,
            )
            .values(status="failed", finished_at=ctx.now(), lease_until=None, error=message[:2000])
            .execution_options(synchronize_session=False)
        )


class ExportWorker:
    """The web app's export worker: a daemon thread that runs :func:`run_export_jobs` when
    woken (:meth:`wake`, after a request) and every ``interval`` seconds anyway. Each app
    worker may run one; the claims keep them from building a job twice."""

    def __init__(self, ctx: ServiceContext, *, interval: float = 30.0) -> None:
        self.ctx = ctx
        self.interval = interval
        self.passes = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="export-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _loop(self) -> None:
        name = worker_name()
        while not self._stop.is_set():
            self._wake.clear()
            try:
                report = run_export_jobs(self.ctx, worker=name)
                if report.built or report.failed or report.recovered:
                    logger.info("export worker: %s", report)
            except Exception:  # a bad pass must not end the loop
                logger.exception("export worker pass failed")
            self.passes += 1
            self._wake.wait(self.interval)
