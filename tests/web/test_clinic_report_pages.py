"""The clinic outcome report in the app: admins and supervisors read it as a page and as a PDF
whose text carries the service's figures; small cells read "n < 5"; a supervisor sees their
team only; a therapist is refused; a bad date is a readable 4xx."""

from __future__ import annotations

import io
import re
from datetime import date

import pytest
from webworld import World

from alliance.monitoring.outcomes import Rate
from alliance.services import outcomes
from outcomes_seed import Course, seed

START, END = date(2025, 12, 1), date(2026, 2, 28)
PERIOD = {"from": START.isoformat(), "to": END.isoformat()}
URL = "/reports/clinic"

TOM = [
    *[Course((20, 12, 6), end_reason="completed") for _ in range(5)],
    *[Course((18, 17)) for _ in range(3)],
]
TESS = [Course((9, 19)) for _ in range(3)]  # three episodes only: every rate is suppressed


@pytest.fixture
def seeded(world: World) -> World:
    clinic = world.cases["tom"].clinic_id
    seed(world.ctx, clinic, world.people["tom"].user_id, TOM)
    seed(world.ctx, clinic, world.people["tess"].user_id, TESS)
    return world


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&lt;", "<")


def _shown(rate: Rate) -> str:
    assert rate.value is not None
    return f"{100 * rate.value:.1f} % {rate.numerator}/{rate.denominator}"


def test_the_admins_page_shows_the_services_figures(seeded: World) -> None:
    view = outcomes.clinic_outcomes(
        seeded.ctx, actor=seeded.people["ada"].actor, start=START, end=END
    )
    response = seeded.login("ada").get(URL, params=PERIOD)
    assert response.status_code == 200
    text = _text(response.text)
    row = view.clinic
    for rate in (row.reliable_improvement, row.recovery, row.checkin_completion):
        assert _shown(rate) in text
        assert f"CI {100 * (rate.low or 0):.1f}–{100 * (rate.high or 0):.1f}" in text
    assert "Outcomes 01 Dec 2025 to 28 Feb 2026" in text
    # Tess's three episodes: her row's rates and counts are suppressed, not shown.
    tess = next(r for r in view.breakdown("therapist").rows if r.label == "Tess")
    assert tess.reliable_improvement.suppressed
    tess_row = re.search(r"<tr>\s*<th scope=\"row\"><a [^>]*>Tess</a>.*?</tr>", response.text, re.S)
    assert tess_row is not None
    assert _text(tess_row.group(0)).count("n < 5") >= 6
    assert "No published national reliable-deterioration rate could be verified" in text
    assert "nursinginpractice.com" in response.text
    assert f'href="/caseload?therapist={seeded.people["tom"].user_id}"' in response.text
    assert "/static/report.css" in response.text


def test_the_pdf_text_carries_the_same_figures(seeded: World) -> None:
    from pypdf import PdfReader

    view = outcomes.clinic_outcomes(
        seeded.ctx, actor=seeded.people["ada"].actor, start=START, end=END
    )
    response = seeded.login("ada").get(URL, params={**PERIOD, "format": "pdf"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert "clinic-outcomes-2025-12-01-to-2026-02-28.pdf" in response.headers["content-disposition"]
    reader = PdfReader(io.BytesIO(response.content))
    text = re.sub(r"\s+", " ", " ".join(page.extract_text() for page in reader.pages))
    row = view.clinic
    for rate in (row.reliable_improvement, row.recovery):
        assert rate.value is not None
        assert f"{100 * rate.value:.1f} %" in text
        assert f"{rate.numerator}/{rate.denominator}" in text
    assert "n < 5" in text
    assert "Wilson" in text


def test_a_supervisor_sees_only_their_team(seeded: World) -> None:
    response = seeded.login("sue").get(URL, params=PERIOD)
    assert response.status_code == 200
    assert ">Tom</a>" in response.text
    assert "Tess" not in response.text
    assert "the team of Sue" in response.text


def test_a_therapist_is_refused(seeded: World) -> None:
    response = seeded.login("tom").get(URL, params=PERIOD)
    assert response.status_code == 403
    assert "Tess" not in response.text


@pytest.mark.parametrize(
    ("params", "where"),
    [({"from": "2026-13-01"}, "from"), ({"to": "yesterday"}, "to"), ({"format": "docx"}, "format")],
)
def test_bad_input_is_a_readable_4xx(seeded: World, params: dict[str, str], where: str) -> None:
    response = seeded.login("ada").get(URL, params=params)
    assert 400 <= response.status_code < 500
    assert where in response.text


def test_a_period_ending_before_it_starts_is_refused(seeded: World) -> None:
    response = seeded.login("ada").get(URL, params={"from": "2026-02-01", "to": "2026-01-01"})
    assert 400 <= response.status_code < 500
    assert "before it starts" in response.text


def _risk_alert(world: World, case: str, reason: str) -> int:
    from alliance.store.db import transaction
    from alliance.store.models import Alert

    c = world.cases[case]
    now = world.ctx.now()
    with transaction(world.ctx.session_factory) as session:
        alert = Alert(
            clinic_id=c.clinic_id,
            client_id=c.client_id,
            episode_id=c.episode_id,
            kind="risk_reported",
            severity="urgent",
            reason=reason,
            next_step="Contact the client today.",
            evidence={},
            status="open",
            created_at=now,
            updated_at=now,
        )
        session.add(alert)
        session.flush()
        return alert.id


def test_the_team_page_shows_each_therapists_rates_links_and_open_risk_alerts(
    seeded: World,
) -> None:
    from alliance.services import timelines

    _risk_alert(seeded, "tom", "Tina marked item 9 of the PHQ-9.")
    _risk_alert(seeded, "tess", "Theo marked item 9 of the PHQ-9.")
    overview = timelines.team_overview(
        seeded.ctx, actor=seeded.people["sue"].actor, period=(START, END)
    )
    assert overview.outcomes is not None
    (tom,) = overview.outcomes.breakdown("therapist").rows
    assert tom.label == "Tom"
    response = seeded.login("sue").get("/team", params=PERIOD)
    assert response.status_code == 200
    text = _text(response.text)
    assert _shown(tom.reliable_improvement) in text
    low, high = tom.reliable_improvement.low or 0, tom.reliable_improvement.high or 0
    assert f"CI {100 * low:.1f}–{100 * high:.1f}" in text
    tom_id = seeded.people["tom"].user_id
    assert f'href="/caseload?therapist={tom_id}"' in response.text
    assert f'href="/therapists/{tom_id}/analysis"' in response.text
    # Sue's team is Tom: his client's risk alert is listed, Tess's client's is not.
    assert "Tina marked item 9" in text
    assert "Theo marked item 9" not in text
    assert [a.client_name for a in overview.risk_alerts] == ["Tina"]


def test_the_caseload_link_shows_one_therapists_clients(seeded: World) -> None:
    tess_id = seeded.people["tess"].user_id
    page = seeded.login("ada").get("/caseload", params={"therapist": tess_id})
    assert page.status_code == 200
    assert "Theo" in page.text
    assert "Tina" not in page.text
