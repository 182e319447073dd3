"""The client progress report in the app: the page for whoever may see the client, the PDF as
a download whose text carries the same figures, and nothing for anyone else."""

from __future__ import annotations

import io
import math
import re

import pytest
from webworld import World

from alliance.services import checkins

# Tina's two check-ins: PHQ-9 items 1-8 at 3 then at 1 (item 9 at 0), so 24 then 8.
BASELINE, LATEST = 24, 8
# RCI = (x2 − x1) / S_diff, S_diff = √2 · SD · √(1 − r) with PHQ-9's SD 6.52 and r .89.
RCI = (LATEST - BASELINE) / (math.sqrt(2) * 6.52 * math.sqrt(1 - 0.89))


def _answers(item: int, alliance: int) -> dict[str, dict[str, object]]:
    phq = {f"phq9_{i}": item for i in range(1, 9)}
    phq["phq9_9"] = 0
    return {
        "wai_sr": {f"wai_{i}": alliance for i in range(1, 13)},
        "phq9": phq,
        "session_feedback": {"sf_heard": 8, "sf_focus": 8, "sf_approach": 8, "sf_fit": "yes"},
    }


@pytest.fixture
def scored(world: World) -> World:
    """Tina (Tom's client) checks in after each of her two sessions."""
    case = world.cases["tom"]
    tom = world.people["tom"].actor
    for session_id, (item, alliance) in zip(case.session_ids, [(3, 3), (1, 4)], strict=True):
        link = checkins.create_checkin_link(
            world.ctx, actor=tom, episode_id=case.episode_id, session_id=session_id
        )
        checkins.record_check_in(world.ctx, link.token, _answers(item, alliance))
    return world


def _url(world: World, case: str = "tom") -> str:
    return f"/clients/{world.cases[case].client_id}/report"


def test_the_client_page_links_to_the_progress_report(scored: World) -> None:
    page = scored.login("tom").get(f"/clients/{scored.cases['tom'].client_id}")
    assert f'href="{_url(scored)}"' in page.text


def test_the_therapist_reads_the_report_with_baseline_latest_and_rci(scored: World) -> None:
    response = scored.login("tom").get(_url(scored))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    text = re.sub(r"<[^>]+>", " ", response.text)
    text = re.sub(r"\s+", " ", text)
    assert "Progress report" in text
    assert re.search(rf"Baseline {BASELINE} \(severe\) — PHQ9, session 1,", text)
    assert re.search(rf"Latest {LATEST} \(mild\) — PHQ9, session 2,", text)
    assert f"RCI {RCI:.2f}" in text
    assert "Recovered" in text or "recovered" in text
    assert "Jacobson &amp; Truax 1991" in response.text
    assert "alliance fell from 4.5 to 2.5" in text  # the rupture, under the alliance
    # The page of the app: its stylesheets, no inline style (the app's CSP forbids it).
    assert "/static/report.css" in response.text
    assert "<style>" not in response.text


def test_the_pdf_is_a_download_whose_text_carries_the_figures(scored: World) -> None:
    from pypdf import PdfReader

    response = scored.login("sue").get(_url(scored), params={"format": "pdf"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert f"progress-report-client-{scored.cases['tom'].client_id}-" in disposition
    assert "Tina" not in disposition  # no client name in a file name
    assert response.content.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(response.content))
    text = re.sub(r"\s+", " ", " ".join(page.extract_text() for page in reader.pages))
    assert "Tina" in text
    assert re.search(rf"Baseline {BASELINE} \(severe\)", text)
    assert re.search(rf"Latest {LATEST} \(mild\)", text)
    assert f"RCI {RCI:.2f}" in text
    assert "Jacobson & Truax 1991" in text


@pytest.mark.parametrize("who", ["tess", "bea"])
def test_another_therapist_gets_no_report_page_nor_pdf(scored: World, who: str) -> None:
    client = scored.login(who)
    for params in ({}, {"format": "pdf"}):
        response = client.get(_url(scored), params=params)
        assert response.status_code == 404
        assert "Tina" not in response.text
        assert response.headers["content-type"].startswith("text/html")


def test_an_unknown_format_is_a_readable_422(scored: World) -> None:
    response = scored.login("tom").get(_url(scored), params={"format": "docx"})
    assert response.status_code == 422
    assert "format" in response.text
    assert "html, pdf" in response.text


def test_a_report_without_an_episode_renders_as_html_and_pdf() -> None:
    """The rendering on its own (as the CLI calls it): a client with no episode of care gets a
    report that says so, and a PDF whose text says the same."""
    from datetime import UTC, datetime

    from pypdf import PdfReader

    from alliance.services.views import (
        Attendance,
        ClientReportView,
        ClientView,
        TimelineView,
    )
    from alliance.web import reports
    from alliance.web.templating import make_templates

    when = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    view = ClientReportView(
        timeline=TimelineView(
            client=ClientView(1, 1, "Robin", None, when),
            episode=None,
            therapist_name=None,
            series=(),
            goals=(),
            sessions=(),
            alerts=(),
            checkins=(),
        ),
        clinic_name="Northside",
        generated_at=when,
        generated_by="Ada",
        measures=(),
        alerts=(),
        attendance=Attendance(0, 0, 0, 0),
    )
    env = make_templates().env
    html = reports.report_html(env, view)
    assert "no episode of care" in html
    assert "No outcome measure in this episode." in html
    assert reports.filename(view, "pdf") == "progress-report-client-1-2026-03-02.pdf"
    pdf = reports.report_pdf(env, view)
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    assert "Robin" in text
    assert "no episode of care" in text
