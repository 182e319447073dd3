"""The therapist, supervisor and admin pages: what they show and what their forms do."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from webworld import World, csrf_from, full_answers

from alliance.services import alerts as alert_service
from alliance.services import matching, timelines


def test_the_caseload_lists_clients_with_open_alerts_first_with_the_reason(world: World) -> None:
    client = world.login("ada")  # the admin sees both clinic-A clients
    tom_case = world.cases["tom"]
    # Resolve Tina's alert: Theo (open alert) must now come first.
    alert_service.resolve_alert(
        world.ctx, actor=world.people["tom"].actor, alert_id=tom_case.alert_id, note="done"
    )
    page = html.unescape(client.get("/caseload").text)
    rows = re.findall(r'<a href="/clients/(\d+)">([^<]+)</a>', page)
    assert [name for _, name in rows] == ["Theo", "Tina"]
    assert "Theo's alliance fell from 4.5 to 2.5" in page
    assert "Bill" not in page  # clinic B


def test_the_client_page_shows_the_alert_with_evidence_and_next_step(world: World) -> None:
    client = world.login("tom")
    page = html.unescape(client.get(f"/clients/{world.cases['tom'].client_id}").text)
    assert "Tina's alliance fell from 4.5 to 2.5 between sessions." in page
    assert "Acknowledge the strain and invite the client" in page
    assert "scores" in page  # the evidence
    assert 'aria-labelledby="series-wai_sr-cap"' in page  # the alliance chart's figure


def test_acknowledging_an_alert_records_the_note(world: World) -> None:
    client = world.login("tom")
    case = world.cases["tom"]
    page = client.get(f"/clients/{case.client_id}")
    response = client.post(
        f"/alerts/{case.alert_id}/acknowledge",
        data={"note": "Will name the rupture next session", "csrf_token": csrf_from(page.text)},
    )
    assert response.status_code == 200  # after the redirect back to the client page
    assert "Alert acknowledged" in response.text
    assert "“Will name the rupture next session”" in response.text
    view = alert_service.get_alert(
        world.ctx, actor=world.people["tom"].actor, alert_id=case.alert_id
    )
    assert view.status == "acknowledged"
    assert view.acknowledged_by == world.people["tom"].user_id


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_an_alert_acted_on_without_a_note_says_so_not_that_a_note_was_saved(
    world: World, action: str
) -> None:
    client = world.login("tom")
    case = world.cases["tom"]
    page = client.get(f"/clients/{case.client_id}")
    response = client.post(
        f"/alerts/{case.alert_id}/{action}",
        data={"note": "   ", "csrf_token": csrf_from(page.text)},
    )
    assert response.status_code == 200
    done = "acknowledged" if action == "acknowledge" else "resolved"
    assert f"Alert {done} without a note." in response.text
    assert "Your note was saved" not in response.text
    view = alert_service.get_alert(
        world.ctx, actor=world.people["tom"].actor, alert_id=case.alert_id
    )
    assert view.status == done
    assert (view.acknowledge_note, view.resolve_note) == (None, None)
    # The page's note box allows what the service keeps.
    assert f'name="note" maxlength="{alert_service.MAX_NOTE}"' in page.text


def test_resolving_twice_is_a_conflict_not_a_crash(world: World) -> None:
    client = world.login("tom")
    case = world.cases["tom"]
    token = csrf_from(client.get(f"/clients/{case.client_id}").text)
    first = client.post(f"/alerts/{case.alert_id}/resolve", data={"csrf_token": token})
    assert first.status_code == 200
    second = client.post(
        f"/alerts/{case.alert_id}/resolve", data={"csrf_token": csrf_from(first.text)}
    )
    assert second.status_code == 409
    assert "already resolved" in second.text


def test_creating_a_check_in_link_shows_it_once_to_copy(world: World) -> None:
    client = world.login("tom")
    case = world.cases["tom"]
    page = client.get(f"/clients/{case.client_id}")
    response = client.post(
        f"/clients/{case.client_id}/checkin-links", data={"csrf_token": csrf_from(page.text)}
    )
    assert response.status_code == 200
    url = re.search(r'id="new-link" class="copy-link" readonly value="([^"]+)"', response.text)
    assert url
    token = url.group(1).rsplit("/c/", 1)[1]
    assert world.client().get(f"/c/{token}").status_code == 200
    # Reloading the client page does not show the link again.
    assert token not in client.get(f"/clients/{case.client_id}").text


def test_recording_sessions_attended_and_missed(world: World) -> None:
    client = world.login("tom")
    case = world.cases["tom"]
    page = client.get(f"/clients/{case.client_id}")
    marked = client.post(
        f"/clients/{case.client_id}/sessions/{case.session_ids[1]}",
        data={"status": "missed", "csrf_token": csrf_from(page.text)},
    )
    assert "Session recorded" in marked.text
    added = client.post(
        f"/clients/{case.client_id}/sessions",
        data={
            "scheduled_at": "2026-11-20T10:00",
            "status": "attended",
            "csrf_token": csrf_from(marked.text),
        },
    )
    assert added.status_code == 200
    assert "2 attended, 1 missed of 3 sessions" in added.text


def test_a_future_session_recorded_as_attended_is_refused_beside_the_date(world: World) -> None:
    client = world.login("tom")
    case = world.cases["tom"]
    page = client.get(f"/clients/{case.client_id}")
    when = (world.ctx.now() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        f"/clients/{case.client_id}/sessions",
        data={"scheduled_at": when, "status": "attended", "csrf_token": csrf_from(page.text)},
    )
    assert response.status_code == 422
    text = html.unescape(response.text)
    error = re.search(r'<p class="field-error" role="alert" id="ses-when-error">([^<]+)</p>', text)
    assert error, "no message beside the date field"
    assert "in the future" in error.group(1)
    assert "record it as scheduled instead" in error.group(1)
    assert 'aria-describedby="ses-when-error"' in text
    assert f'value="{when}"' in text  # what was typed is kept
    assert "2 sessions" in text  # nothing was stored
    # A scheduled session whose time has not come cannot be marked attended either.
    future = world.new_session("tom")
    marked = client.post(
        f"/clients/{case.client_id}/sessions/{future}",
        data={"status": "attended", "csrf_token": csrf_from(response.text)},
    )
    assert marked.status_code == 422
    assert f'id="session-{future}-error"' in marked.text
    assert "in the future" in marked.text


def test_a_bad_session_date_is_a_readable_422(world: World) -> None:
    client = world.login("tom")
    case = world.cases["tom"]
    page = client.get(f"/clients/{case.client_id}")
    response = client.post(
        f"/clients/{case.client_id}/sessions",
        data={
            "scheduled_at": "next tuesday",
            "status": "attended",
            "csrf_token": csrf_from(page.text),
        },
    )
    assert response.status_code == 422
    assert "scheduled_at" in response.text
    assert "next tuesday" in response.text


def test_agreeing_goals_replaces_them(world: World) -> None:
    client = world.login("tom")
    case = world.cases["tom"]
    page = client.get(f"/clients/{case.client_id}")
    response = client.post(
        f"/clients/{case.client_id}/goals",
        data={
            "goal": ["Go back to work", "Call my sister weekly", ""],
            "csrf_token": csrf_from(page.text),
        },
    )
    assert "Goals saved" in response.text
    assert 'value="Go back to work"' in response.text
    assert 'value="Sleep through the night"' not in response.text


def test_no_goals_is_refused_with_the_field_named(world: World) -> None:
    client = world.login("tom")
    case = world.cases["tom"]
    page = client.get(f"/clients/{case.client_id}")
    response = client.post(
        f"/clients/{case.client_id}/goals",
        data={"goal": ["", ""], "csrf_token": csrf_from(page.text)},
    )
    assert response.status_code == 422
    assert "goals" in response.text


def test_the_team_page_shows_each_therapist_in_the_supervisors_team(world: World) -> None:
    page = world.login("sue").get("/team").text
    names = re.findall(r'<th scope="row">([^<]+)</th>', page)
    assert "Tom" in names
    assert "Tess" not in names


def _team(page: str) -> dict[str, str]:
    """Therapist name -> the approach cell (before its analyses link) of the team page."""
    rows = re.findall(r'<th scope="row">([^<]+)</th>.*?<td>([^<]*)<br>', page, re.S)
    return {name: html.unescape(approach) for name, approach in rows}


def test_the_team_page_shows_only_the_viewers_clinic_with_their_matching_profiles(
    world: World,
) -> None:
    profile: dict[str, object] = {
        "languages": ["english"],
        "age_groups": ["adult"],
        "modes": ["video"],
        "availability": ["mon 09:00-12:00"],
        "capacity": {"new_per_week": 1, "caseload_limit": 20},
        "fee": 70,
    }
    for who, modalities, styles in (
        ("tom", ["cbt"], {"directive": 3, "supportive": 1}),
        ("bea", ["emdr"], {"collaborative": 2}),
    ):
        matching.save_profile(
            world.ctx,
            actor=world.people[who].actor,
            profile={**profile, "modalities": modalities, "styles": styles},
        )
    ada = _team(world.login("ada").get("/team").text)
    assert ada == {"Sue": "—", "Tess": "—", "Tom": "CBT, directive, supportive"}
    sue = _team(world.login("sue").get("/team").text)
    assert sue == {"Sue": "—", "Tom": "CBT, directive, supportive"}
    bob = _team(world.login("bob").get("/team").text)
    assert bob == {"Bea": "EMDR, collaborative"}
    assert world.login("tom").get("/team").status_code == 403  # a therapist has no team page


def test_an_admin_adds_a_user_who_can_then_log_in(world: World) -> None:
    client = world.login("ada")
    page = client.get("/admin/users")
    response = client.post(
        "/admin/users",
        data={
            "email": "nina@clinic1.example",
            "display_name": "Nina",
            "role": "therapist",
            "password": "a long enough password",
            "supervisor_id": "",
            "csrf_token": csrf_from(page.text),
        },
    )
    assert response.status_code == 200
    assert "nina@clinic1.example" in response.text
    from webworld import login

    login(world.client(), "nina@clinic1.example", "a long enough password")


def test_a_short_password_is_refused_naming_the_field(world: World) -> None:
    client = world.login("ada")
    page = client.get("/admin/users")
    response = client.post(
        "/admin/users",
        data={
            "email": "short@clinic1.example",
            "display_name": "S",
            "role": "therapist",
            "password": "short",
            "csrf_token": csrf_from(page.text),
        },
    )
    assert response.status_code == 422
    assert "password" in response.text


def test_every_alert_setting_has_a_plain_label_and_help_on_the_settings_page(
    world: World,
) -> None:
    from alliance.monitoring.alerts import AlertSettings
    from alliance.web.settings_form import PLAIN_WORDS

    numbers = [n for n in AlertSettings.model_fields if n != "enabled"]
    assert sorted(PLAIN_WORDS) == sorted(numbers)
    page = html.unescape(world.login("ada").get("/admin/settings").text)
    labels = re.findall(r'<label for="a-[^"]+">([^<]+)</label>', page)
    assert "Rupture: how large a drop counts, while there are few earlier scores" in labels
    for label in labels:
        assert "_" not in label, label
    assert "Rupture rci z" not in page
    assert "(wai_sr)" not in page  # instruments by their names only
    for name in numbers:
        help_id = f'id="h-{name}"'
        if help_id in page:
            start = page.index(help_id)
            assert PLAIN_WORDS[name][1][:30] in page[start : start + 400]


def test_clinic_settings_are_saved_from_the_form(world: World) -> None:
    client = world.login("ada")
    page = client.get("/admin/settings")
    assert 'name="alert.rupture_rci_z"' in page.text
    response = client.post(
        "/admin/settings",
        data={
            "instruments.alliance": "wai_sr",
            "instruments.outcome": ["phq9", "gad7"],
            "alert.enabled.rupture": "on",
            "alert.rupture_rci_z": "2.5",
            "alert.low_alliance_thresholds.wai_sr": "3.2",
            "mfa_enforced": "on",
            "checkin_overdue_days": "14",
            "csrf_token": csrf_from(page.text),
        },
    )
    assert response.status_code == 200
    assert "Clinic settings saved" in response.text
    from alliance.services import admin as admin_service

    saved = admin_service.get_clinic(world.ctx, actor=world.people["ada"].actor).settings
    assert saved.alert_settings.rupture_rci_z == 2.5
    # risk_reported cannot be switched off, so it stays on beside the one rule ticked.
    assert saved.alert_settings.enabled == frozenset({"rupture", "risk_reported"})
    assert saved.alert_settings.low_alliance_thresholds == {"wai_sr": 3.2}
    assert saved.instruments.outcome == ("phq9", "gad7")
    assert saved.mfa_enforced is True
    assert saved.checkin_overdue_days == 14


def test_a_non_number_threshold_is_refused_naming_it(world: World) -> None:
    client = world.login("ada")
    page = client.get("/admin/settings")
    response = client.post(
        "/admin/settings",
        data={
            "instruments.alliance": "wai_sr",
            "alert.rupture_rci_z": "lots",
            "csrf_token": csrf_from(page.text),
        },
    )
    assert response.status_code == 422
    assert "rupture_rci_z" in response.text


def test_an_access_token_is_shown_once_and_works_on_the_api(world: World) -> None:
    client = world.login("tom")
    page = client.get("/account")
    created = client.post(
        "/account/tokens", data={"name": "EHR sync", "csrf_token": csrf_from(page.text)}
    )
    token = re.search(r'id="new-token" class="copy-link" readonly value="([^"]+)"', created.text)
    assert token
    me = world.client().get("/api/v1/me", headers={"Authorization": f"Bearer {token.group(1)}"})
    assert me.json()["user_id"] == world.people["tom"].user_id
    assert token.group(1) not in client.get("/account").text


def test_a_non_numeric_client_id_is_a_422_page_not_a_crash(world: World) -> None:
    response = world.login("tom").get("/clients/abc")
    assert response.status_code == 422
    assert "client_id" in response.text
    assert "Traceback" not in response.text


def test_an_unknown_page_is_a_404_page(world: World) -> None:
    response = world.login("tom").get("/no/such/page")
    assert response.status_code == 404
    assert "<h1" in response.text


def test_a_therapist_adds_a_client_and_lands_on_their_page(world: World) -> None:
    client = world.login("tom")
    page = client.get("/caseload")
    response = client.post(
        "/clients",
        data={
            "display_name": "Rosa M.",
            "contact_email": "rosa@example.org",
            "csrf_token": csrf_from(page.text),
        },
    )
    assert response.status_code == 200
    assert "<h1>Rosa M.</h1>" in response.text
    assert "Client added" in response.text
    assert "Rosa M." in client.get("/caseload").text


def test_a_second_client_of_the_same_name_is_added_only_after_a_warning(world: World) -> None:
    client = world.login("tom")
    page = client.get("/caseload")
    data = {"display_name": "tina", "contact_email": "t2@example.org"}
    warned = client.post("/clients", data={**data, "csrf_token": csrf_from(page.text)})
    assert warned.status_code == 409
    text = html.unescape(warned.text)
    assert "A client named “tina” is already on this caseload" in text
    assert "Tom's client since" in text
    assert 'value="tina"' in text
    assert 'value="t2@example.org"' in text
    assert 'name="same_name" value="yes"' in text
    names = [r.display_name for r in timelines.caseload(world.ctx, actor=world.people["tom"].actor)]
    assert names == ["Tina"]  # nothing was added yet
    added = client.post(
        "/clients", data={**data, "same_name": "yes", "csrf_token": csrf_from(warned.text)}
    )
    assert added.status_code == 200
    assert "<h1>tina</h1>" in added.text
    # On the caseload the two are told apart by start date and reference.
    caseload = html.unescape(client.get("/caseload").text)
    hints = re.findall(r'<span class="namesake muted">since ([^<]+) · ref\. (\d+)</span>', caseload)
    assert sorted(int(ref) for _, ref in hints) == sorted(
        [world.cases["tom"].client_id, int(added.url.path.rsplit("/", 1)[1])]
    )


def test_an_admin_chooses_the_therapist_of_a_new_client(world: World) -> None:
    client = world.login("ada")
    page = client.get("/caseload")
    assert 'name="therapist_id"' in page.text
    response = client.post(
        "/clients",
        data={
            "display_name": "Omar",
            "therapist_id": str(world.people["tess"].user_id),
            "csrf_token": csrf_from(page.text),
        },
    )
    assert "Therapist: Tess" in response.text


def test_ending_an_episode_stops_new_check_ins(world: World) -> None:
    client = world.login("tom")
    case = world.cases["tom"]
    page = client.get(f"/clients/{case.client_id}")
    ended = client.post(
        f"/clients/{case.client_id}/episode/end",
        data={"reason": "completed", "csrf_token": csrf_from(page.text)},
    )
    assert "Episode of care ended" in ended.text
    assert "Send a check-in" not in ended.text
    again = client.post(
        f"/clients/{case.client_id}/checkin-links", data={"csrf_token": csrf_from(ended.text)}
    )
    assert again.status_code == 409


def _main_nav(page: str) -> str:
    match = re.search(r'<nav aria-label="Main">(.*?)</nav>', page, re.S)
    assert match is not None
    return match.group(1)


def _current(nav: str) -> list[str]:
    return re.findall(r'<a href="([^"]+)" aria-current="page">', nav)


def test_each_role_finds_its_matching_and_analysis_pages_in_the_main_navigation(
    world: World,
) -> None:
    admin = world.login("ada")
    nav = _main_nav(admin.get("/admin/matching").text)
    assert _current(nav) == ["/admin/matching"]
    assert "/profile/matching" not in nav
    tom = world.login("tom")
    own = f"/therapists/{world.people['tom'].user_id}/analysis"
    nav = _main_nav(tom.get("/caseload").text)
    assert '"/admin/matching"' not in nav
    assert f'"{own}"' in nav
    assert _current(nav) == ["/caseload"]
    assert _current(_main_nav(tom.get(own).text)) == [own]
    assert _current(_main_nav(tom.get("/profile/matching").text)) == ["/profile/matching"]
    nav = _main_nav(world.login("sue").get("/team").text)
    assert "/profile/matching" in nav
    assert "/admin/matching" not in nav
    assert "/analysis" not in nav  # a supervisor reaches analyses per therapist, from the team


def test_mean_scored_measures_show_two_decimals_and_summed_ones_whole_numbers() -> None:
    from alliance.web.templating import make_templates

    score = make_templates().env.filters["score"]
    assert [score(4.0, "wai_sr"), score(3.5833, "wai_sr"), score(17.0, "phq9")] == [
        "4.00",
        "3.58",
        "17",
    ]
    assert score(None, "wai_sr") == "—"


def test_the_caseload_shows_each_latest_alliance_with_two_decimals(world: World) -> None:
    # Tina answers every WAI-SR item alike, so her mean is a whole number (1.00 or 5.00).
    http = world.client()
    token = world.new_link("tom")
    submitted = http.post(f"/c/{token}", data=full_answers(http.get(f"/c/{token}").text))
    assert submitted.status_code == 200
    page = world.login("ada").get("/caseload").text
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    alliance_cells = [cells[-2] for cells in _rows(body)]  # the column before the outcome
    assert any(re.fullmatch(r"\d\.00", c) for c in alliance_cells), alliance_cells
    assert all(re.fullmatch(r"\d\.\d\d|—", c) for c in alliance_cells), alliance_cells


def test_staff_pages_name_instruments_as_staff_know_them_not_by_id(world: World) -> None:
    http = world.client()
    token = world.new_link("tom")
    assert http.post(f"/c/{token}", data=full_answers(http.get(f"/c/{token}").text)).is_success
    ada = world.login("ada")
    body = ada.get("/caseload").text.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    # The first cell may be the bulk-acknowledge box: the name is in one of the first two.
    outcome = [cells[-1] for cells in _rows(body) if any(c.startswith("Tina") for c in cells[:2])]
    assert re.fullmatch(r"PHQ-9 \d+", outcome[0]), outcome
    assert "phq9" not in body
    client_page = html.unescape(ada.get(f"/clients/{world.cases['tom'].client_id}").text)
    assert "WAI-SR score" in client_page
    assert "wai_sr score" not in client_page
    team = ada.get("/team").text.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    assert "phq9" not in team


def _rows(body: str) -> list[list[str]]:
    rows = []
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S):
        cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        rows.append([re.sub(r"<[^>]+>", "", c).strip() for c in cells])
    return rows


def test_the_settings_page_shows_the_risk_rule_as_always_on_and_cannot_turn_it_off(
    world: World,
) -> None:
    client = world.login("ada")
    page = client.get("/admin/settings")
    # Shown checked and disabled, with the reason, and no input that could post it off.
    assert 'name="alert.enabled.risk_reported"' not in page.text
    assert "checked disabled" in page.text
    assert "cannot be switched off" in page.text
    assert 'name="alert.enabled.rupture"' in page.text
    response = client.post(
        "/admin/settings",
        data={
            "instruments.alliance": "wai_sr",
            "instruments.outcome": ["phq9", "gad7"],
            "alert.enabled.rupture": "on",
            "alert.enabled.risk_reported": "off",
            "checkin_overdue_days": "10",
            "csrf_token": csrf_from(page.text),
        },
    )
    assert response.status_code == 200
    from alliance.services import admin as admin_service

    saved = admin_service.get_clinic(world.ctx, actor=world.people["ada"].actor).settings
    assert "risk_reported" in saved.alert_settings.enabled
    assert "low_alliance" not in saved.alert_settings.enabled


def _audit_since(world: World, first_id: int) -> list[tuple[str, str, dict[str, object]]]:
    from sqlalchemy import select

    from alliance.store.db import transaction
    from alliance.store.models import AuditEvent

    with transaction(world.ctx.session_factory) as session:
        rows = session.scalars(
            select(AuditEvent).where(AuditEvent.id > first_id).order_by(AuditEvent.id)
        )
        return [(e.action, e.entity_type, dict(e.detail or {})) for e in rows]


def _last_audit_id(world: World) -> int:
    from sqlalchemy import func, select

    from alliance.store.db import transaction
    from alliance.store.models import AuditEvent

    with transaction(world.ctx.session_factory) as session:
        return int(session.scalar(select(func.max(AuditEvent.id))) or 0)


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("goals", {"goal": ["Go back to work"]}),
        ("sessions", {"scheduled_at": "2026-01-05T10:00", "status": "attended"}),
        ("checkin-links", {}),
        ("episode/end", {"reason": "completed"}),
    ],
)
def test_a_write_on_a_client_does_not_read_their_timeline_first(
    world: World, path: str, data: dict[str, object]
) -> None:
    # The write service finds the current episode itself, in its own unit of work: no full
    # timeline read (and no "read timeline" audit event) before the write.
    client = world.login("tom")
    case = world.cases["tom"]
    token = csrf_from(client.get(f"/clients/{case.client_id}").text)
    before = _last_audit_id(world)
    response = client.post(
        f"/clients/{case.client_id}/{path}",
        data={**data, "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code in (200, 303), response.text
    events = _audit_since(world, before)
    until_write = []
    for event in events:
        if event[0] == "write":
            break
        until_write.append(event)
    assert any(e[0] == "write" for e in events)
    assert not [e for e in until_write if e[2].get("what") == "timeline"]


def test_the_audit_trail_reads_in_words_filters_and_downloads_as_csv(world: World) -> None:
    import csv
    import io

    tom = world.login("tom")
    case = world.cases["tom"]
    tom.get(f"/clients/{case.client_id}")  # Tom reads Tina's record
    tom.post(
        f"/alerts/{case.alert_id}/acknowledge",
        data={"note": "seen", "csrf_token": csrf_from(tom.get(f"/clients/{case.client_id}").text)},
    )
    ada = world.login("ada")
    page = html.unescape(ada.get("/admin/audit").text)
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    assert "Tom (therapist)" in body
    assert "client Tina (ref." in body
    assert "staff " + str(world.people["tom"].user_id) not in body
    assert '{"' not in body  # no raw JSON
    assert "with note: yes" in body
    # Filters: who, client, action, dates.
    tom_id, tina = world.people["tom"].user_id, case.client_id
    only = html.unescape(ada.get(f"/admin/audit?who={tom_id}&client={tina}&action=write").text)
    rows = _rows(only.split("<tbody>", 1)[1].split("</tbody>", 1)[0])
    assert rows
    assert all(r[1] == "Tom (therapist)" and r[2] == "write" for r in rows), rows
    assert any("alert ref." in r[3] for r in rows)
    assert f'<option value="{tom_id}" selected>' in only  # the form keeps the filters
    today = world.ctx.now().date()
    later = ada.get(f"/admin/audit?since={today + timedelta(days=1)}").text
    assert "No events match these filters." in later
    bad = ada.get("/admin/audit?since=yesterday")
    assert bad.status_code == 422
    assert "since" in bad.text
    # The CSV holds the same events, in words, and downloading it is recorded as an export.
    download = ada.get(f"/admin/audit.csv?who={tom_id}&client={tina}&action=write")
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/csv")
    assert "attachment" in download.headers["content-disposition"]
    table = list(csv.DictReader(io.StringIO(download.text)))
    assert len(table) == len(rows)
    assert {r["who"] for r in table} == {"Tom (therapist)"}
    assert any(r["detail"].startswith("op: acknowledge") for r in table)
    events = alert_service_audit(world)
    assert ("export", "audit_events") in events


def alert_service_audit(world: World) -> list[tuple[str, str]]:
    from sqlalchemy import select

    from alliance.store.db import transaction
    from alliance.store.models import AuditEvent

    with transaction(world.ctx.session_factory) as session:
        rows = session.scalars(select(AuditEvent)).all()
        return [(e.action, e.entity_type) for e in rows]
