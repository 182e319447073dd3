"""The authorization matrix: every route × every role × own / other therapist's / other clinic's
record → the expected status.

The route list comes from the app itself, so a new route without an entry in ``MATRIX`` fails
``test_every_route_has_a_matrix_entry``. Roles: admin (Ada), supervisor (Sue, Tom is in her
team), therapist (Tom), a client holding a check-in link (no staff session; on the API it
presents the link token as a bearer token), and an anonymous visitor. Targets: "own" is Tom's
client Tina, "other" is Tess's client Theo (same clinic, not in Sue's team), "foreign" is Bea's
client Bill in clinic B.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from webworld import World, build_world, csrf_from, full_answers

from alliance.web.app import iter_routes

ROLES = ("admin", "supervisor", "therapist", "client_link", "anonymous")
TARGETS = ("own", "other", "foreign")
PERSON = {"admin": "ada", "supervisor": "sue", "therapist": "tom"}
CASE = {"own": "tom", "other": "tess", "foreign": "bea"}
CLINIC = {"own": "a", "other": "a", "foreign": "b"}

Params = Callable[[World, str, str], dict[str, Any]]
Body = Callable[[World, str, str, dict[str, Any]], dict[str, Any] | None]


def _none(world: World, role: str, target: str) -> dict[str, Any]:
    return {}


def _client(world: World, role: str, target: str) -> dict[str, Any]:
    return {"client_id": world.cases[CASE[target]].client_id}


def _fresh_client(world: World, role: str, target: str) -> dict[str, Any]:
    return {"client_id": world.new_client(CASE[target])}


def _alert(world: World, role: str, target: str) -> dict[str, Any]:
    case = world.cases[CASE[target]]
    return {"alert_id": world.new_alert(CASE[target]), "client_id": case.client_id}


def _risk_alert(world: World, role: str, target: str) -> dict[str, Any]:
    case = world.cases[CASE[target]]
    return {"alert_id": world.new_alert(CASE[target], risk=True), "client_id": case.client_id}


def _session(world: World, role: str, target: str) -> dict[str, Any]:
    case = world.cases[CASE[target]]
    return {"client_id": case.client_id, "session_id": world.new_session(CASE[target])}


def _past_session(world: World, role: str, target: str) -> dict[str, Any]:
    # Only a session whose time has come can be marked attended or missed.
    case = world.cases[CASE[target]]
    return {"client_id": case.client_id, "session_id": world.new_session(CASE[target], days=-1)}


_TRANSCRIPT = b"Therapist: How has the week been?\nClient: Up and down, honestly.\n"


def _transcript(world: World, role: str, target: str) -> dict[str, Any]:
    # A fresh session of the target's case with an analysed transcript (issue 4 pages).
    from alliance.services import transcripts

    case = CASE[target]
    summary = transcripts.attach_transcript(
        world.ctx,
        actor=world.people[case].actor,
        session_id=world.new_session(case),
        filename="session.txt",
        data=_TRANSCRIPT,
    )
    return {"transcript_id": summary.id}


def _therapist(world: World, role: str, target: str) -> dict[str, Any]:
    return {"therapist_id": world.people[CASE[target]].user_id}


def _user(world: World, role: str, target: str) -> dict[str, Any]:
    return {"user_id": world.new_user(CLINIC[target])}


def _token_id(world: World, role: str, target: str) -> dict[str, Any]:
    # Own: the caller's own token; other: Tess's; foreign: Bea's.
    owner = PERSON.get(role, "tom") if target == "own" else CASE[target]
    return {"token_id": world.token_id(owner)}


def _export_job(world: World, role: str, target: str) -> dict[str, Any]:
    # A built research export of the target's clinic (issue 13), asked for by its admin.
    from alliance.services import export_jobs

    admin = world.people["ada" if CLINIC[target] == "a" else "bob"]
    job = export_jobs.request_export(world.ctx, actor=admin.actor, format="csv", deidentified=True)
    export_jobs.run_export_jobs(world.ctx)
    return {"job_id": job.id}


def _link(world: World, role: str, target: str) -> dict[str, Any]:
    return {"token": world.new_link(CASE[target])}


def _answers(world: World, role: str, target: str, params: dict[str, Any]) -> dict[str, Any]:
    page = TestClient(world.app).get(f"/c/{params['token']}")
    answers = full_answers(page.text)
    answers.pop("csrf_token")
    return answers


def _form(values: dict[str, Any]) -> Body:
    return lambda world, role, target, params: dict(values)


def _json(values: dict[str, Any]) -> Body:
    return lambda world, role, target, params: dict(values)


def _settings_json(world: World, role: str, target: str, params: dict[str, Any]) -> dict[str, Any]:
    return {
        "instruments": {"alliance": ["wai_sr"], "outcome": ["phq9"], "feedback": []},
        "show_client_progress": True,
    }


def _when(world: World, role: str, target: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"scheduled_at": (world.ctx.now() - timedelta(days=1)).isoformat(), "status": "attended"}


def _when_form(world: World, role: str, target: str, params: dict[str, Any]) -> dict[str, Any]:
    when = world.ctx.now() - timedelta(days=1)
    return {"scheduled_at": when.strftime("%Y-%m-%dT%H:%M"), "status": "attended"}


# Matching (issue 5): a fresh intake in the target's clinic, the target's clinic and episode.
INTAKE_FORM = {
    "contact_name": "Robin",
    "concern_main": "anxiety",
    "languages": "English",
    "modes": "video",
    "consent": "yes",
}
INTAKE_JSON = {"concerns": ["anxiety"], "languages": ["english"], "consent": True}
PROFILE_JSON = {
    "modalities": ["cbt"],
    "styles": {"collaborative": 3},
    "languages": ["english"],
    "age_groups": ["adult"],
    "modes": ["video"],
    "availability": ["mon 09:00-17:00"],
    "capacity": {"new_per_week": 1, "caseload_limit": 20},
    "fee": 60,
}
PROFILE_FORM = {
    "modalities": "cbt",
    "style_collaborative": "3",
    "languages": "English",
    "age_groups": "adult",
    "modes": "video",
    "availability": "mon 09:00-17:00",
    "new_per_week": "1",
    "caseload_limit": "20",
    "fee": "60",
    "accepting_new": "yes",
}


def _clinic_id(world: World, role: str, target: str) -> dict[str, Any]:
    return {"clinic_id": world.cases[CASE[target]].clinic_id}


def _intake(world: World, role: str, target: str) -> dict[str, Any]:
    from alliance.services import matching

    intake_id = matching.submit_intake(
        world.ctx,
        clinic_id=world.cases[CASE[target]].clinic_id,
        intake=INTAKE_JSON,
        contact_name="Robin",
    )
    return {"intake_id": intake_id}


def _intake_body(world: World, role: str, target: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"clinic_id": params["clinic_id"], "contact_name": "Robin", "intake": INTAKE_JSON}


def _episode(world: World, role: str, target: str) -> dict[str, Any]:
    return {"episode_id": world.cases[CASE[target]].episode_id}


def _fresh_episode(world: World, role: str, target: str) -> dict[str, Any]:
    # A new client of the target's therapist: a handover ends the episode it is given.
    from alliance.services import clients

    admin = world.people["ada" if CLINIC[target] == "a" else "bob"]
    _, episode = clients.create_client(
        world.ctx,
        actor=admin.actor,
        display_name="Kim",
        therapist_id=world.people[CASE[target]].user_id,
    )
    return {"episode_id": episode.id}


def _handover(world: World, role: str, target: str, params: dict[str, Any]) -> dict[str, Any]:
    colleague = world.people["tess" if target == "own" else "tom"]
    return {"therapist_id": colleague.user_id, "client_consented": True}


def _handover_form(world: World, role: str, target: str, params: dict[str, Any]) -> dict[str, Any]:
    colleague = world.people["tess" if target == "own" else "tom"]
    return {"therapist_id": str(colleague.user_id), "client_consented": "yes", "note": "agreed"}


@dataclass(frozen=True)
class Entry:
    """How to call one route and what each role gets.

    ``rule`` names the expectation table: ``record`` (a client's record: own team / clinic
    only), ``staff`` (any staff), ``supervisor`` / ``admin`` (role pages), ``admin_record``
    (admin pages about a user), ``token`` (an access token: the owner, or an admin of the
    owner's clinic), ``public_api`` (anyone without credentials; a staff token within its own
    clinic), ``supervisor_record`` (supervisors only, their own team's records), or ``fixed``
    with ``expect`` giving the status for every role.
    """

    rule: str
    ok: int
    params: Params = _none
    body: Body | None = None
    json: bool = False
    expect: dict[str, int] = field(default_factory=dict)


PAGE_DENIED = 303  # to the login page
API_DENIED = 401

MATRIX: dict[tuple[str, str], Entry] = {
    ("GET", "/"): Entry("fixed", 303, expect=dict.fromkeys(ROLES, 303)),
    ("GET", "/healthz"): Entry("fixed", 200, expect=dict.fromkeys(ROLES, 200)),
    ("GET", "/openapi.json"): Entry("fixed", 200, expect=dict.fromkeys(ROLES, 200)),
    # Logged-in staff are sent on to their caseload; everyone else sees the form.
    ("GET", "/login"): Entry(
        "fixed",
        200,
        expect={
            "admin": 303,
            "supervisor": 303,
            "therapist": 303,
            "client_link": 200,
            "anonymous": 200,
        },
    ),
    ("POST", "/login"): Entry(
        "fixed",
        401,
        body=_form({"email": "nobody@example.org", "password": "wrong password!"}),
        expect=dict.fromkeys(ROLES, 401),
    ),
    # Without the signed "password accepted" cookie every caller goes back to /login.
    ("GET", "/login/mfa"): Entry("fixed", 303, expect=dict.fromkeys(ROLES, 303)),
    ("POST", "/login/mfa"): Entry(
        "fixed", 303, body=_form({"code": "123456"}), expect=dict.fromkeys(ROLES, 303)
    ),
    ("GET", "/login/enrol"): Entry("fixed", 303, expect=dict.fromkeys(ROLES, 303)),
    ("POST", "/login/enrol"): Entry(
        "fixed", 303, body=_form({"code": "123456"}), expect=dict.fromkeys(ROLES, 303)
    ),
    ("GET", "/login/password"): Entry("fixed", 303, expect=dict.fromkeys(ROLES, 303)),
    ("POST", "/login/password"): Entry(
        "fixed",
        303,
        body=_form({"new_password": "plum tractor sleeps", "confirm_password": "x"}),
        expect=dict.fromkeys(ROLES, 303),
    ),
    ("POST", "/logout"): Entry("staff", 303, body=_form({})),
    ("GET", "/account"): Entry("staff", 200),
    ("GET", "/account/password"): Entry("staff", 200),
    # A wrong current password: 422 for every staff member, the login page for the rest.
    ("POST", "/account/password"): Entry(
        "staff",
        422,
        body=_form(
            {
                "current_password": "not the password",
                "new_password": "plum tractor sleeps quietly",
                "confirm_password": "plum tractor sleeps quietly",
            }
        ),
    ),
    ("POST", "/account/mfa"): Entry("staff", 200, body=_form({})),
    ("POST", "/account/mfa/confirm"): Entry("staff", 422, body=_form({"code": "000000"})),
    ("POST", "/account/tokens"): Entry("staff", 200, body=_form({"name": "script"})),
    ("POST", "/account/tokens/{token_id}/revoke"): Entry("token", 303, _token_id, _form({})),
    ("GET", "/caseload"): Entry("staff", 200),
    ("GET", "/clients/{client_id}"): Entry("record", 200, _client),
    ("GET", "/clients/{client_id}/report"): Entry("record", 200, _client),
    ("POST", "/clients"): Entry(
        "staff", 303, body=lambda w, r, t, p: {"display_name": f"New {r} {t}"}
    ),
    ("POST", "/clients/{client_id}/episode/end"): Entry(
        "record", 303, _fresh_client, _form({"reason": "completed"})
    ),
    ("POST", "/clients/{client_id}/checkin-links"): Entry("record", 200, _client, _form({})),
    ("POST", "/clients/{client_id}/sessions"): Entry("record", 303, _client, _when_form),
    # Check-in delivery (issue 10): the client's choice about e-mails, and the outbox (each
    # caller sees the messages of the clients they may see).
    ("POST", "/clients/{client_id}/checkin-emails"): Entry(
        "record", 303, _client, _form({"opted_out": "no"})
    ),
    ("GET", "/outbox"): Entry("staff", 200),
    # A client's own measurement plan (issue 10): read and change it like the record.
    ("GET", "/clients/{client_id}/plan"): Entry("record", 200, _client),
    ("POST", "/clients/{client_id}/plan"): Entry("record", 303, _client, _form({"clinic": "1"})),
    ("POST", "/clients/{client_id}/sessions/{session_id}"): Entry(
        "record", 303, _past_session, _form({"status": "missed"})
    ),
    ("POST", "/clients/{client_id}/goals"): Entry(
        "record", 303, _client, _form({"goal": "Feel calmer at work"})
    ),
    ("POST", "/alerts/{alert_id}/acknowledge"): Entry(
        "record", 303, _alert, _form({"note": "Will raise it next session"})
    ),
    ("POST", "/alerts/{alert_id}/resolve"): Entry(
        "record", 303, _alert, _form({"note": "Talked it through"})
    ),
    # Issue 11: acknowledge several from the caseload, the supervision mark (supervisors of
    # the therapist only), a risk alert's protocol page and closing it with a follow-up note.
    ("POST", "/alerts/acknowledge"): Entry(
        "record", 303, _alert, lambda w, r, t, p: {"alert_ids": str(p["alert_id"]), "note": "ok"}
    ),
    ("POST", "/alerts/{alert_id}/supervision"): Entry(
        "supervisor_record", 303, _alert, _form({"note": "Discussed: slow down"})
    ),
    ("GET", "/alerts/{alert_id}/protocol"): Entry("record", 200, _risk_alert),
    ("POST", "/alerts/{alert_id}/protocol"): Entry(
        "record", 303, _risk_alert, _form({"note": "Phoned; safety plan agreed", "checks": "asked"})
    ),
    # Session analysis (issue 4): a session's transcripts, one analysis, its report, and a
    # therapist's indicators (themselves, their supervisor, their clinic's admin).
    ("GET", "/sessions/{session_id}/transcripts"): Entry("record", 200, _session),
    ("POST", "/sessions/{session_id}/transcripts"): Entry("record", 422, _session, _form({})),
    ("GET", "/transcripts/{transcript_id}"): Entry("record", 200, _transcript),
    ("GET", "/transcripts/{transcript_id}/report.html"): Entry("record", 200, _transcript),
    ("GET", "/therapists/{therapist_id}/analysis"): Entry("record", 200, _therapist),
    ("GET", "/team"): Entry("supervisor", 200),
    ("GET", "/reports/clinic"): Entry("supervisor", 200),
    ("GET", "/admin/users"): Entry("admin", 200),
    ("POST", "/admin/users"): Entry(
        "admin",
        303,
        body=lambda w, r, t, p: {
            "email": f"new{w.ctx.now().timestamp()}{r}{t}@example.org",
            "display_name": "New Person",
            "role": "therapist",
            "password": "a long enough password",
        },
    ),
    ("POST", "/admin/users/{user_id}/active"): Entry(
        "admin_record", 303, _user, _form({"active": "true"})
    ),
    ("POST", "/admin/users/{user_id}/team"): Entry(
        "admin_record", 303, _user, _form({"supervisor_id": ""})
    ),
    ("POST", "/admin/users/{user_id}/reset-mfa"): Entry("admin_record", 303, _user, _form({})),
    ("POST", "/admin/users/{user_id}/password-reset"): Entry("admin_record", 303, _user, _form({})),
    ("GET", "/admin/settings"): Entry("admin", 200),
    ("POST", "/admin/settings"): Entry(
        "admin",
        303,
        body=_form(
            {
                "instruments.alliance": "wai_sr",
                "instruments.outcome": "phq9",
                "checkin_overdue_days": "12",
            }
        ),
    ),
    ("GET", "/admin/audit"): Entry("admin", 200),
    ("GET", "/admin/audit.csv"): Entry("admin", 200),
    # Research exports in the app (issue 13): the page, a request, a download, a delete.
    ("GET", "/admin/exports"): Entry("admin", 200),
    ("POST", "/admin/exports"): Entry(
        "admin", 303, body=_form({"format": "csv", "scope": "deidentified"})
    ),
    ("GET", "/admin/exports/{job_id}/download"): Entry("admin_record", 200, _export_job),
    ("POST", "/admin/exports/{job_id}/delete"): Entry("admin_record", 303, _export_job, _form({})),
    # The check-in link is its own credential: whoever holds a live link may use it once.
    ("GET", "/c/{token}"): Entry("fixed", 200, _link, expect=dict.fromkeys(ROLES, 200)),
    ("POST", "/c/{token}"): Entry("fixed", 200, _link, _answers, expect=dict.fromkeys(ROLES, 200)),
    # Saving a draft: the link is the credential, whoever holds it (answers of this form only).
    ("POST", "/c/{token}/draft"): Entry(
        "fixed", 204, _link, _form({"phq9/phq9_1": "1"}), expect=dict.fromkeys(ROLES, 204)
    ),
    ("GET", "/api/v1/me"): Entry("staff", 200),
    ("POST", "/api/v1/me/password"): Entry(
        "staff",
        422,
        json=True,
        body=_json(
            {"current_password": "not the password", "new_password": "plum tractor sleeps quietly"}
        ),
    ),
    ("GET", "/api/v1/caseload"): Entry("staff", 200),
    ("POST", "/api/v1/clients"): Entry(
        "staff", 201, body=lambda w, r, t, p: {"display_name": f"API {r} {t}"}, json=True
    ),
    ("POST", "/api/v1/clients/{client_id}/episode/end"): Entry(
        "record", 200, _fresh_client, _json({"reason": "transfer"}), json=True
    ),
    ("GET", "/api/v1/clients/{client_id}/timeline"): Entry("record", 200, _client),
    ("POST", "/api/v1/clients/{client_id}/checkin-links"): Entry(
        "record", 201, _client, _json({}), json=True
    ),
    ("POST", "/api/v1/clients/{client_id}/sessions"): Entry(
        "record", 201, _client, _when, json=True
    ),
    ("POST", "/api/v1/sessions/{session_id}/status"): Entry(
        "record", 200, _past_session, _json({"status": "attended"}), json=True
    ),
    ("PUT", "/api/v1/clients/{client_id}/goals"): Entry(
        "record", 200, _client, _json({"goals": ["Sleep better"]}), json=True
    ),
    ("GET", "/api/v1/alerts/{alert_id}"): Entry("record", 200, _alert),
    ("POST", "/api/v1/alerts/{alert_id}/acknowledge"): Entry(
        "record", 200, _alert, _json({"note": "seen"}), json=True
    ),
    ("POST", "/api/v1/alerts/{alert_id}/resolve"): Entry(
        "record", 200, _alert, _json({"note": "done"}), json=True
    ),
    ("POST", "/api/v1/alerts/acknowledge"): Entry(
        "record",
        200,
        _alert,
        lambda w, r, t, p: {"alert_ids": [p["alert_id"]], "note": "seen"},
        json=True,
    ),
    ("POST", "/api/v1/alerts/{alert_id}/supervision"): Entry(
        "supervisor_record", 200, _alert, _json({"note": "Discussed: slow down"}), json=True
    ),
    ("GET", "/api/v1/team"): Entry("supervisor", 200),
    ("GET", "/api/v1/users"): Entry("admin", 200),
    ("POST", "/api/v1/users"): Entry(
        "admin",
        201,
        json=True,
        body=lambda w, r, t, p: {
            "email": f"api{w.ctx.now().timestamp()}{r}{t}@example.org",
            "display_name": "API Person",
            "role": "therapist",
            "password": "a long enough password",
        },
    ),
    ("POST", "/api/v1/users/{user_id}/active"): Entry(
        "admin_record", 200, _user, _json({"active": True}), json=True
    ),
    ("POST", "/api/v1/users/{user_id}/password-reset"): Entry(
        "admin_record", 200, _user, _json({}), json=True
    ),
    ("POST", "/api/v1/users/{user_id}/team"): Entry(
        "admin_record", 200, _user, _json({"supervisor_id": None}), json=True
    ),
    ("GET", "/api/v1/clinic"): Entry("admin", 200),
    ("PUT", "/api/v1/clinic/settings"): Entry("admin", 200, body=_settings_json, json=True),
    # Matching (issue 5): the public intake form, the admin's queue and decisions, the
    # caller's own matching profile, and alternatives for an episode (Tina did not come
    # through matching: whoever may see her episode still gets alternatives, ranked from a
    # neutral intake).
    ("GET", "/intake/{clinic_id}"): Entry(
        "fixed", 200, _clinic_id, expect=dict.fromkeys(ROLES, 200)
    ),
    ("POST", "/intake/{clinic_id}"): Entry(
        "fixed", 200, _clinic_id, _form(INTAKE_FORM), expect=dict.fromkeys(ROLES, 200)
    ),
    ("GET", "/admin/matching"): Entry("admin", 200),
    ("POST", "/admin/matching/{intake_id}/decision"): Entry(
        "admin_record", 303, _intake, _form({"therapist_id": "", "note": "waiting list"})
    ),
    # The fit-and-change page: Tina came in without an intake, so the page says there is
    # nothing to propose (200) to whoever may see her episode; a handover form needs consent.
    ("GET", "/episodes/{episode_id}/rematch"): Entry("record", 200, _episode),
    ("POST", "/episodes/{episode_id}/handover"): Entry(
        "record", 303, _fresh_episode, _handover_form
    ),
    ("GET", "/admin/users/{user_id}/matching-profile"): Entry("admin_record", 200, _user),
    ("POST", "/admin/users/{user_id}/matching-profile"): Entry(
        "admin_record", 303, _user, _form(PROFILE_FORM)
    ),
    ("GET", "/profile/matching"): Entry("staff", 200),
    ("POST", "/profile/matching"): Entry("staff", 303, body=_form(PROFILE_FORM)),
    ("POST", "/api/v1/intake"): Entry("public_api", 201, _clinic_id, _intake_body, json=True),
    ("GET", "/api/v1/matching/queue"): Entry("admin", 200),
    ("POST", "/api/v1/matching/intakes/{intake_id}/decision"): Entry(
        "admin_record", 200, _intake, _json({"therapist_id": None, "note": "hold"}), json=True
    ),
    ("GET", "/api/v1/matching/profile"): Entry("staff", 200),
    ("PUT", "/api/v1/matching/profile"): Entry("staff", 200, body=_json(PROFILE_JSON), json=True),
    ("GET", "/api/v1/matching/episodes/{episode_id}/alternatives"): Entry("record", 200, _episode),
    ("POST", "/api/v1/matching/episodes/{episode_id}/handover"): Entry(
        "record", 200, _fresh_episode, _handover, json=True
    ),
}


def expected(entry: Entry, path: str, role: str, target: str) -> int:
    api = path.startswith("/api/")
    if entry.rule == "fixed":
        return entry.expect[role]
    if entry.rule == "public_api":
        # Anyone may post JSON into any clinic's queue; a staff token only into its own
        # clinic; a check-in link is no API credential.
        if role == "anonymous":
            return entry.ok
        if role == "client_link":
            return API_DENIED
        return 404 if target == "foreign" else entry.ok
    if role in ("client_link", "anonymous"):
        return API_DENIED if api else PAGE_DENIED
    if entry.rule == "staff":
        return entry.ok
    if entry.rule == "supervisor":
        return entry.ok if role in ("supervisor", "admin") else 403
    if entry.rule == "supervisor_record":
        # Only a supervisor, and only for their own team's clients (Tom is in Sue's team).
        if role != "supervisor":
            return 403
        return entry.ok if target == "own" else 404
    if entry.rule == "admin":
        return entry.ok if role == "admin" else 403
    if entry.rule == "admin_record":
        if role != "admin":
            return 403
        return 404 if target == "foreign" else entry.ok
    if entry.rule == "token":
        if target == "own" or (target == "other" and role == "admin"):
            return entry.ok
        return 404
    assert entry.rule == "record"
    if target == "own":
        return entry.ok  # Tom's client: Tom, his supervisor Sue, and admin Ada
    if target == "other":
        return entry.ok if role == "admin" else 404
    return 404  # nothing crosses clinics


def served_routes(world: World) -> set[tuple[str, str]]:
    routes: set[tuple[str, str]] = set()
    for info in iter_routes(world.app):
        for method in info.methods - {"HEAD"}:
            routes.add((method, info.path))
    return routes


@pytest.fixture(scope="module")
def matrix_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(Path(tmp_path_factory.mktemp("matrix")))


def test_every_route_has_a_matrix_entry(matrix_world: World) -> None:
    served = served_routes(matrix_world)
    assert served - MATRIX.keys() == set(), "add these routes to MATRIX"
    assert MATRIX.keys() - served == set(), "MATRIX lists routes the app no longer serves"


class Caller:
    """One role's HTTP client, with whatever credentials that role holds."""

    def __init__(self, world: World, role: str) -> None:
        self.world = world
        self.role = role
        self.http = TestClient(world.app)
        self.bearer: str | None = None
        if role in PERSON:
            from webworld import login

            login(self.http, world.people[PERSON[role]].email)
            self.bearer = world.token(PERSON[role])
        elif role == "client_link":
            token = world.new_link("tom")
            self.http.get(f"/c/{token}")
            self.bearer = token

    def csrf(self) -> str:
        page = self.http.get("/account" if self.role in PERSON else "/login")
        return csrf_from(page.text)

    def call(
        self, method: str, path: str, entry: Entry, params: dict[str, Any], target: str
    ) -> int:
        url = path.format(**params)
        body = entry.body(self.world, self.role, target, params) if entry.body else None
        headers = {}
        if path.startswith("/api/") and self.bearer:
            headers["Authorization"] = f"Bearer {self.bearer}"
        if entry.json:
            response = self.http.request(
                method, url, json=body, headers=headers, follow_redirects=False
            )
        elif method in ("POST", "PUT"):
            form = dict(body or {})
            if not path.startswith("/api/"):
                form["csrf_token"] = self._csrf_for(url)
            response = self.http.request(
                method, url, data=form, headers=headers, follow_redirects=False
            )
        else:
            response = self.http.request(method, url, headers=headers, follow_redirects=False)
        assert response.status_code < 500, response.text[:300]
        return response.status_code

    def _csrf_for(self, url: str) -> str:
        if url.startswith("/c/"):
            # The check-in page carries the token for its own posts and its draft saves.
            return csrf_from(self.http.get(url.removesuffix("/draft")).text)
        return self.csrf()


@pytest.mark.parametrize("role", ROLES)
def test_authorization_matrix(matrix_world: World, role: str) -> None:
    caller = Caller(matrix_world, role)
    failures: list[str] = []
    for (method, path), entry in sorted(MATRIX.items(), key=lambda kv: kv[0][1] == "/logout"):
        for target in TARGETS:
            params = entry.params(matrix_world, role, target)
            want = expected(entry, path, role, target)
            got = caller.call(method, path, entry, params, target)
            if got != want:
                failures.append(f"{method} {path} as {role} on {target}: {got}, expected {want}")
            if path == "/logout" and got == 303 and role in PERSON:
                caller = Caller(matrix_world, role)  # log back in for the next target
    assert failures == []
