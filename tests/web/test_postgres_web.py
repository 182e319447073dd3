"""The main web flows on PostgreSQL too (the production database)."""

from __future__ import annotations

from pathlib import Path

import pytest
from webworld import build_world, csrf_from, full_answers

pytestmark = pytest.mark.postgres


def test_pages_check_ins_and_refusals_work_on_postgresql(
    tmp_path: Path, postgres_database_url: str
) -> None:
    world = build_world(tmp_path, database_url=postgres_database_url)
    therapist = world.login("tom")
    case = world.cases["tom"]
    assert "Tina" in therapist.get("/caseload").text
    assert therapist.get(f"/clients/{world.cases['bea'].client_id}").status_code == 404

    visitor = world.client()
    token = case.link_token
    answers = full_answers(visitor.get(f"/c/{token}").text, pick="last")
    assert visitor.post(f"/c/{token}", data=answers).status_code == 200
    assert visitor.post(f"/c/{token}", data=answers).status_code == 410
    page = therapist.get(f"/clients/{case.client_id}").text
    assert "1 score, latest 5" in page

    acknowledged = therapist.post(
        f"/alerts/{case.alert_id}/acknowledge",
        data={"note": "seen", "csrf_token": csrf_from(page)},
    )
    assert acknowledged.status_code == 200
    assert "Alert acknowledged" in acknowledged.text
