"""The admin's research exports page: request, see it built, download, delete; only admins
(a therapist or a supervisor gets 403); a bad option is a 422 page with nothing stored."""

from __future__ import annotations

import html
import io
import time
import zipfile
from datetime import timedelta

import pandas as pd
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from webworld import World, csrf_from

from alliance.services import export_jobs
from alliance.store.models import AuditEvent, ExportJob


def _jobs(world: World) -> list[ExportJob]:
    with world.ctx.session_factory() as session:
        return list(session.scalars(select(ExportJob).order_by(ExportJob.id)))


def test_an_admin_requests_an_export_sees_it_ready_and_downloads_it(world: World) -> None:
    http = world.login("ada")
    page = http.get("/admin/exports")
    assert page.status_code == 200
    assert "No exports yet." in page.text
    response = http.post(
        "/admin/exports",
        data={"csrf_token": csrf_from(page.text), "format": "csv", "scope": "deidentified"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    (job,) = _jobs(world)
    assert response.headers["location"] == f"/admin/exports?flash=export#export-{job.id}"
    waiting = http.get("/admin/exports?flash=export")
    assert "Export requested." in waiting.text
    assert 'data-pending="yes"' in waiting.text
    assert "Queued" in waiting.text

    export_jobs.run_export_jobs(world.ctx)  # what the app's worker thread does
    ready = http.get("/admin/exports")
    assert 'data-pending="yes"' not in ready.text
    assert f"Export {job.id} is ready to download." in ready.text
    link = f"/admin/exports/{job.id}/download"
    assert f'href="{link}"' in ready.text

    download = http.get(link)
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/zip"
    assert download.headers["cache-control"] == "no-store"
    assert (
        f"alliance-export-{job.id}-csv-deidentified.zip" in download.headers["content-disposition"]
    )
    with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
        clients = pd.read_csv(io.BytesIO(archive.read("clients.csv")))
        assert "codebook.md" in archive.namelist()
    assert list(clients.columns) == ["client_id"]  # de-identified: pseudonyms only
    assert len(clients) == 2  # Tina and Theo, clinic A's clients

    with world.ctx.session_factory() as session:
        ops = [
            e.detail.get("op")
            for e in session.scalars(
                select(AuditEvent).where(AuditEvent.entity_type == "export_job")
            )
        ]
    assert ops == ["request", "download"]

    gone = http.post(
        f"/admin/exports/{job.id}/delete",
        data={"csrf_token": csrf_from(ready.text)},
        follow_redirects=False,
    )
    assert gone.status_code == 303
    assert http.get(link).status_code == 409
    assert "Deleted" in http.get("/admin/exports").text


def test_therapists_and_supervisors_get_403(world: World) -> None:
    for who in ("tom", "sue"):
        http = world.login(who)
        assert http.get("/admin/exports").status_code == 403
        csrf = csrf_from(http.get("/account").text)
        posted = http.post(
            "/admin/exports",
            data={"csrf_token": csrf, "format": "csv", "scope": "full"},
            follow_redirects=False,
        )
        assert posted.status_code == 403
    assert _jobs(world) == []


def test_a_bad_option_is_a_422_page_naming_it_and_nothing_is_queued(world: World) -> None:
    http = world.login("ada")
    csrf = csrf_from(http.get("/admin/exports").text)
    for data, message in (
        ({"format": "xlsx", "scope": "full"}, "format: must be one of csv, parquet, spss"),
        ({"format": "csv", "scope": "everything"}, "scope: choose de-identified or full"),
    ):
        response = http.post(
            "/admin/exports", data={"csrf_token": csrf, **data}, follow_redirects=False
        )
        assert response.status_code == 422
        assert message in html.unescape(response.text)
    assert _jobs(world) == []


def test_a_download_before_it_is_built_is_a_409_saying_so(world: World) -> None:
    job = export_jobs.request_export(
        world.ctx, actor=world.people["ada"].actor, format="spss", deidentified=False
    )
    response = world.login("ada").get(f"/admin/exports/{job.id}/download")
    assert response.status_code == 409
    assert "still being built" in response.text


def test_after_a_restart_the_app_builds_what_was_left_queued_or_running(world: World) -> None:
    """A server that stopped left one job queued and one running (its lease run out): the
    next app start's export worker builds both, and it stops with the app."""
    ada = world.people["ada"].actor
    left_queued = export_jobs.request_export(world.ctx, actor=ada, format="csv", deidentified=True)
    left_running = export_jobs.request_export(world.ctx, actor=ada, format="rds", deidentified=True)
    with world.ctx.session_factory.begin() as session:
        session.execute(
            update(ExportJob)
            .where(ExportJob.id == left_running.id)
            .values(
                status="running",
                attempts=1,
                claimed_by="the-stopped-server",
                lease_until=world.ctx.now() - timedelta(seconds=1),
            )
        )
    with TestClient(world.app):  # the lifespan starts the worker
        deadline = time.monotonic() + 60
        while {j.status for j in _jobs(world)} != {"done"}:
            assert time.monotonic() < deadline, [(j.id, j.status, j.error) for j in _jobs(world)]
            time.sleep(0.05)
        worker = world.app.state.export_worker
    assert not worker._thread.is_alive()
    statuses = {j.id: (j.status, j.attempts) for j in _jobs(world)}
    assert statuses == {left_queued.id: ("done", 1), left_running.id: ("done", 2)}
