"""The demo clinic: seeded through the services, so its alerts are real rule outputs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alliance.demo import DEMO_PASSWORD, DemoInfo, seed_demo
from alliance.services import alerts, auth, checkins, matching, timelines
from alliance.services.context import ServiceContext


def test_johns_rupture_at_session_5_is_the_most_urgent_alert_on_his_therapists_caseload(
    demo: tuple[ServiceContext, DemoInfo],
) -> None:
    ctx, _ = demo
    maya = auth.actor_for_email(ctx, "maya@riverside.example")
    rows = timelines.caseload(ctx, actor=maya)
    assert rows[0].display_name == "John"
    top = rows[0].top_alert
    assert top is not None
    assert (top.kind, top.session_number, top.status) == ("rupture", 5, "open")
    assert top.evidence["instrument_id"] == "wai_sr"
    assert all(r.top_alert is None or r.urgency > rows[0].urgency for r in rows[1:])
    john = timelines.client_timeline(ctx, actor=maya, client_id=rows[0].client_id)
    wai = [p.value for s in john.series if s.instrument_id == "wai_sr" for p in s.points]
    assert wai[4] is not None
    assert wai[3] is not None
    assert wai[4] < wai[3] - 0.5
    assert wai[-1] is not None
    assert wai[-1] > wai[3]
    phq = [p.value for s in john.series if s.instrument_id == "phq9" for p in s.points]
    assert phq[-1] is not None
    assert phq[0] is not None
    assert phq[-1] < phq[0] - 5


def test_sarahs_anxiety_falls_while_her_alliance_builds(
    demo: tuple[ServiceContext, DemoInfo],
) -> None:
    ctx, _ = demo
    lena = auth.actor_for_email(ctx, "lena@riverside.example")
    [row] = [r for r in timelines.caseload(ctx, actor=lena) if r.display_name == "Sarah"]
    view = timelines.client_timeline(ctx, actor=lena, client_id=row.client_id)
    series = {s.instrument_id: [p.value for p in s.points] for s in view.series}
    gad, wai = series["gad7"], series["wai_sr"]
    assert gad[0] is not None
    assert gad[-1] is not None
    assert gad[-1] <= gad[0] - 8
    assert wai[-1] is not None
    assert wai[0] is not None
    assert wai[-1] > wai[0]
    assert all(a.kind != "rupture" for a in view.alerts)
    assert len(view.goals) == 2


def test_the_demo_has_its_cast_an_off_track_client_and_an_open_link(
    demo: tuple[ServiceContext, DemoInfo],
) -> None:
    ctx, info = demo
    logins = {login.email: login for login in info.logins}
    assert len(logins) == 5
    for email in logins:
        assert auth.authenticate(ctx, email=email, password=DEMO_PASSWORD).user.email == email
    admin = auth.actor_for_email(ctx, "admin@riverside.example")
    rows = timelines.caseload(ctx, actor=admin)
    assert 18 <= len(rows) <= 22
    assert all(6 <= r.sessions <= 20 for r in rows)
    [dana] = [r for r in rows if r.display_name == "Dana"]
    assert dana.top_alert is not None
    assert dana.top_alert.kind == "not_on_track"
    form = checkins.open_checkin(ctx, info.open_link_token)
    assert form.client_display_name == "Sarah"
    again = seed_demo(ctx.session_factory, ctx.settings, now=ctx.now())
    assert not again.created
    assert again.open_link_token != info.open_link_token


def test_only_what_a_therapist_should_see_today_is_left_open(
    demo: tuple[ServiceContext, DemoInfo],
) -> None:
    ctx, info = demo
    maya = auth.actor_for_email(ctx, "maya@riverside.example")
    john = alerts.list_client_alerts(ctx, actor=maya, client_id=info.clients["John"])
    still_open = [(a.kind, a.evidence.get("instrument_id")) for a in john if a.status == "open"]
    assert still_open == [("rupture", "wai_sr")]
    handled = [a for a in john if a.status != "open"]
    assert handled, "the alerts around the rupture were dealt with"
    for a in handled:
        assert a.acknowledge_note or a.resolve_note
        when = a.resolved_at or a.acknowledged_at
        assert when is not None
        assert a.created_at <= when < _aware(ctx.now()) - timedelta(days=7)
    tom = auth.actor_for_email(ctx, "tom@riverside.example")
    dana = alerts.list_client_alerts(ctx, actor=tom, client_id=info.clients["Dana"])
    # One outcome alert for Dana, with both measures as its reasons (before concerns, the
    # demo had two not-on-track alerts for her, one acknowledged; now it has one, open).
    [dana_open] = [a for a in dana if a.status == "open"]
    assert dana_open.evidence["concern"] == "outcome"
    signals = {(s["kind"], s["instrument_id"]) for s in dana_open.evidence["signals"]}
    assert signals == {("not_on_track", "phq9"), ("not_on_track", "gad7")}


def test_johns_bad_session_is_one_alliance_alert_with_all_its_reasons(
    demo: tuple[ServiceContext, DemoInfo],
) -> None:
    # Before concerns the demo seeded 8 alerts for John (two ruptures, a deterioration, a poor
    # fit, two fit checks, two not-on-track) and 10 in the clinic; now John has 2 and the
    # clinic 3.
    ctx, info = demo
    admin = auth.actor_for_email(ctx, "admin@riverside.example")
    everyone = [
        a
        for r in timelines.caseload(ctx, actor=admin)
        for a in alerts.list_client_alerts(ctx, actor=admin, client_id=r.client_id)
    ]
    assert len(everyone) == 3
    john = [a for a in everyone if a.client_id == info.clients["John"]]
    assert sorted(a.evidence["concern"] for a in john) == ["alliance", "outcome"]
    [alliance] = [a for a in john if a.evidence["concern"] == "alliance"]
    kinds = [s["kind"] for s in alliance.evidence["signals"]]
    assert kinds[0] == "rupture"
    assert {"poor_fit_reported", "reliable_deterioration", "fit_check"} <= set(kinds)
    assert all(s["session_number"] == 5 for s in alliance.evidence["signals"])


def test_the_admin_sees_proposals_with_reasons_and_one_client_waiting_with_a_reason(
    demo: tuple[ServiceContext, DemoInfo],
) -> None:
    ctx, _ = demo
    admin = auth.actor_for_email(ctx, "admin@riverside.example")
    queue = matching.matching_queue(ctx, actor=admin)
    assert queue.without_profile == ()
    assert 4 <= len(queue.proposals) <= 6
    placed = [p for p in queue.proposals if p.proposed is not None]
    waiting = [p for p in queue.proposals if p.proposed is None]
    assert len(waiting) == 1
    assert waiting[0].waiting_reason
    assert all(p.proposed.reasons for p in placed if p.proposed is not None)
    reasons = " ".join(r for p in placed if p.proposed for r in p.proposed.reasons)
    assert "Spanish" in reasons
    assert "mostly listens" in reasons
    # Some clients came in through matching, so strengths are estimated, and honestly hedged.
    assert queue.history_cases > 0
    caveats = " ".join(c for p in placed if p.proposed for c in p.proposed.caveats)
    assert "past clients with" in caveats


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
