"""Check-in links: single use, expiry, all-or-nothing recording, alerts from the rules."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from clinic_world import Clock, World, full_answers, phq9, wai
from sqlalchemy import func, select, text

from alliance.services import checkins, monitor, sessions
from alliance.services.errors import Conflict, InvalidInput, LinkRefused
from alliance.services.timelines import client_timeline
from alliance.store.db import transaction
from alliance.store.models import AuditEvent, CheckIn, GoalRating, Response, Score


def _count(world: World, model: type) -> int:
    with transaction(world.ctx.session_factory) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _link(world: World, episode: int | None = None) -> checkins.CheckInLink:
    return checkins.create_checkin_link(
        world.ctx, actor=world.alice, episode_id=episode or world.sarah_episode
    )


def test_a_link_carries_a_long_random_token_and_only_its_hash_is_stored(world: World) -> None:
    link = _link(world)
    assert len(link.token) >= 43  # 32 random bytes, base64url
    assert link.url == f"https://alliance.example/c/{link.token}"
    with transaction(world.ctx.session_factory) as session:
        stored = session.get(CheckIn, link.checkin.id)
        assert stored is not None
        assert link.token not in stored.token_hash
    assert link.checkin.expires_at - link.checkin.created_at == timedelta(days=7)


def test_opening_a_link_shows_the_episode_instruments_and_marks_it_opened(world: World) -> None:
    link = _link(world)
    form = checkins.open_checkin(world.ctx, link.token)
    assert [s.instrument_id for s in form.sections] == [
        "wai_sr",
        "phq9",
        "gad7",
        "session_feedback",
    ]
    assert form.client_display_name == "Sarah"
    [view] = checkins.list_checkins(world.ctx, actor=world.alice, episode_id=world.sarah_episode)
    assert view.opened_at is not None
    assert view.completed_at is None


def test_a_check_in_is_scored_stored_and_audited(world: World) -> None:
    link = _link(world)
    result = checkins.record_check_in(world.ctx, link.token, full_answers(alliance=4, symptoms=1))
    totals = {s.instrument_id: s.total for s in result.scores}
    assert totals["phq9"] == 9
    assert totals["gad7"] == 7
    assert totals["wai_sr"] == 4
    assert _count(world, Response) == 4
    assert _count(world, Score) == 4
    with transaction(world.ctx.session_factory) as session:
        events = session.scalars(
            select(AuditEvent).where(
                AuditEvent.entity_type == "checkin",
                AuditEvent.entity_id == str(link.checkin.id),
                AuditEvent.action == "write",
            )
        ).all()
    # Created by the therapist, submitted through the link: both on record.
    assert sorted((e.actor_type, e.detail["op"]) for e in events) == [
        ("client_link", "submit"),
        ("staff", "create"),
    ]


def test_record_check_in_is_all_or_nothing(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    link = _link(world)

    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire after scoring")

    monkeypatch.setattr(monitor, "refresh_episode_alerts", explode)
    with pytest.raises(RuntimeError, match="disk on fire"):
        checkins.record_check_in(world.ctx, link.token, full_answers())
    assert _count(world, Response) == 0
    assert _count(world, Score) == 0
    with transaction(world.ctx.session_factory) as session:
        row = session.get(CheckIn, link.checkin.id)
        assert row is not None
        assert row.completed_at is None
    monkeypatch.undo()
    # The link was not used up by the failed attempt.
    assert checkins.record_check_in(world.ctx, link.token, full_answers()).scores


def test_a_link_accepts_exactly_one_submission(world: World) -> None:
    link = _link(world)
    checkins.record_check_in(world.ctx, link.token, full_answers())
    with pytest.raises(LinkRefused) as refused:
        checkins.record_check_in(world.ctx, link.token, full_answers(alliance=1))
    assert refused.value.reason == "used"
    with pytest.raises(LinkRefused):
        checkins.open_checkin(world.ctx, link.token)
    assert _count(world, Score) == 4


def test_two_concurrent_submissions_exactly_one_wins(world: World) -> None:
    link = _link(world)
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def submit() -> None:
        barrier.wait()
        try:
            checkins.record_check_in(world.ctx, link.token, full_answers())
            outcomes.append("stored")
        except LinkRefused as exc:
            outcomes.append(exc.reason)

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["stored", "used"]
    assert _count(world, Response) == 4


def test_an_expired_link_is_refused(world: World, clock: Clock) -> None:
    link = _link(world)
    clock.advance(days=7, seconds=1)
    with pytest.raises(LinkRefused) as refused:
        checkins.open_checkin(world.ctx, link.token)
    assert refused.value.reason == "expired"
    with pytest.raises(LinkRefused):
        checkins.record_check_in(world.ctx, link.token, full_answers())
    assert _count(world, Response) == 0


def test_an_unknown_or_tampered_token_is_refused(world: World) -> None:
    link = _link(world)
    for token in ("", "nope", link.token[:-1] + ("A" if link.token[-1] != "A" else "B")):
        with pytest.raises(LinkRefused) as refused:
            checkins.record_check_in(world.ctx, token, full_answers())
        assert refused.value.reason == "unknown"


def test_a_link_is_scoped_to_its_own_client(world: World) -> None:
    sarah_link = _link(world)
    john_link = checkins.create_checkin_link(
        world.ctx, actor=world.bob, episode_id=world.john_episode
    )
    checkins.record_check_in(world.ctx, john_link.token, full_answers(alliance=2))
    checkins.record_check_in(world.ctx, sarah_link.token, full_answers(alliance=5))
    sarah = client_timeline(world.ctx, actor=world.alice, client_id=world.sarah)
    john = client_timeline(world.ctx, actor=world.bob, client_id=world.john)
    [sarah_wai] = [s for s in sarah.series if s.instrument_id == "wai_sr"]
    [john_wai] = [s for s in john.series if s.instrument_id == "wai_sr"]
    assert [p.value for p in sarah_wai.points] == [5]
    assert [p.value for p in john_wai.points] == [2]


def test_it_rejects_out_of_range_answers_naming_the_item(world: World) -> None:
    link = _link(world)
    answers = full_answers()
    answers["phq9"]["phq9_3"] = 7
    with pytest.raises(InvalidInput) as bad:
        checkins.record_check_in(world.ctx, link.token, answers)
    assert bad.value.field == "phq9.phq9_3"
    with pytest.raises(InvalidInput, match="not_a_measure"):
        checkins.record_check_in(world.ctx, link.token, {"not_a_measure": {"x": 1}})
    assert _count(world, Response) == 0
    checkins.record_check_in(world.ctx, link.token, full_answers())


def test_goal_ratings_are_stored_with_the_check_in(world: World) -> None:
    from alliance.services.goals import agree_goals

    goals = agree_goals(
        world.ctx,
        actor=world.alice,
        episode_id=world.sarah_episode,
        goals=["Speak up in team meetings", "Sleep through the night"],
    )
    link = _link(world)
    form = checkins.open_checkin(world.ctx, link.token)
    assert [g.text for g in form.goals] == ["Speak up in team meetings", "Sleep through the night"]
    with pytest.raises(InvalidInput, match="goal"):
        checkins.record_check_in(
            world.ctx, link.token, full_answers(), goal_ratings={goals[0].id: 11}
        )
    checkins.record_check_in(
        world.ctx, link.token, full_answers(), goal_ratings={goals[0].id: 6, goals[1].id: "3"}
    )
    assert _count(world, GoalRating) == 2
    timeline = client_timeline(world.ctx, actor=world.alice, client_id=world.sarah)
    assert [[p.value for p in g.ratings] for g in timeline.goals] == [[6.0], [3.0]]


def test_a_rupture_raises_one_open_alert_and_is_not_duplicated(world: World, clock: Clock) -> None:
    levels = [4, 4, 5, 1]
    for level in levels:
        clock.advance(days=7)
        sessions.schedule_session(
            world.ctx,
            actor=world.bob,
            episode_id=world.john_episode,
            scheduled_at=clock.now,
            status="attended",
        )
        link = checkins.create_checkin_link(
            world.ctx, actor=world.bob, episode_id=world.john_episode
        )
        result = checkins.record_check_in(world.ctx, link.token, full_answers(alliance=level))
    assert "rupture" in {a.kind for a in result.alerts}
    timeline = client_timeline(world.ctx, actor=world.bob, client_id=world.john)
    ruptures = [a for a in timeline.alerts if a.kind == "rupture"]
    assert len(ruptures) == 1
    assert ruptures[0].session_number == 4
    assert ruptures[0].status == "open"
    # The rupture leads the alliance alert; its own evidence is the drop from session 3 to 4
    # (the alert's evidence table lists every reason's records once, by session).
    lead = ruptures[0].evidence["signals"][0]
    assert lead["kind"] == "rupture"
    assert [i["session_number"] for i in lead["items"]] == [3, 4]
    assert {3, 4} <= {i["session_number"] for i in ruptures[0].evidence["items"]}
    # Re-evaluating (recording attendance) must not add a second rupture alert.
    sessions.record_session(
        world.ctx, actor=world.bob, session_id=timeline.sessions[-1].id, status="attended"
    )
    again = client_timeline(world.ctx, actor=world.bob, client_id=world.john)
    assert len([a for a in again.alerts if a.kind == "rupture"]) == 1


def test_free_text_answers_are_not_plaintext_in_the_database(world: World) -> None:
    secret = "I did not dare to say it in the session"
    link = _link(world)
    checkins.record_check_in(world.ctx, link.token, full_answers(comment=secret))
    with transaction(world.ctx.session_factory) as session:
        dumped = " ".join(
            str(v) for v in session.execute(text("SELECT answers FROM responses")).scalars()
        )
    assert secret not in dumped
    assert "enc1:" in dumped
    timeline = client_timeline(world.ctx, actor=world.alice, client_id=world.sarah)
    assert [t for _, t in timeline.feedback] == [secret]


def test_a_skipped_questionnaire_is_not_stored_and_an_empty_submission_is_refused(
    world: World,
) -> None:
    link = _link(world)
    with pytest.raises(InvalidInput, match="at least one question"):
        checkins.record_check_in(world.ctx, link.token, {"phq9": {"phq9_1": ""}})
    result = checkins.record_check_in(world.ctx, link.token, {"wai_sr": wai(4)})
    assert [s.instrument_id for s in result.scores] == ["wai_sr"]
    assert _count(world, Response) == 1


def test_clients_see_their_own_progress_only_when_the_clinic_allows_it(world: World) -> None:
    from alliance.services import admin
    from alliance.services.clinic_settings import ClinicSettings
    from alliance.services.errors import NotFound

    link = _link(world)
    result = checkins.record_check_in(world.ctx, link.token, full_answers(symptoms=2))
    assert not result.show_progress
    with pytest.raises(NotFound):
        checkins.checkin_progress(world.ctx, link.token)
    admin.update_clinic_settings(
        world.ctx, actor=world.ada, settings=ClinicSettings(show_client_progress=True)
    )
    progress = checkins.checkin_progress(world.ctx, link.token)
    assert {(o.instrument_id, o.points[-1][1]) for o in progress.outcomes} == {
        ("phq9", 18),
        ("gad7", 14),
    }
    assert all("first answer" in o.words for o in progress.outcomes)
    with pytest.raises(NotFound):
        checkins.checkin_progress(world.ctx, "not-a-token")


def test_a_check_in_decrypts_no_earlier_free_text_answer(world: World) -> None:
    """The rules read the risk items and the fit answer, never a comment: re-evaluating the
    episode's alerts on each check-in must not decrypt every comment the client ever wrote
    (it did, one AES-GCM decryption per stored comment per check-in)."""
    for _ in range(3):
        link = _link(world)
        checkins.record_check_in(
            world.ctx, link.token, full_answers(comment="Homework was a lot.", fit="not_sure")
        )
    decrypted: list[str] = []
    real = world.ctx.cipher

    class Counting:
        def __getattr__(self, name: str) -> object:
            return getattr(real, name)

        def decrypt(self, stored: str, *, field: str) -> str:
            decrypted.append(field)
            return real.decrypt(stored, field=field)

    object.__setattr__(world.ctx, "cipher", Counting())
    try:
        link = _link(world)
        result = checkins.record_check_in(
            world.ctx, link.token, full_answers(comment="Better.", fit="not_sure")
        )
    finally:
        object.__setattr__(world.ctx, "cipher", real)
    assert not [f for f in decrypted if "sf_comment" in f]
    # The fit answers were still read: four "not sure" in a row is a fit alert's business.
    assert result.scores
    timeline = monitor.build_timeline(world.ctx, _episode_data(world))
    assert [f.answer for f in timeline.fit_answers] == ["not_sure"] * 4


def _episode_data(world: World) -> monitor.EpisodeData:
    from alliance.services.episodes import load_episode
    from alliance.store.models import Episode

    with transaction(world.ctx.session_factory) as session:
        episode = session.get(Episode, world.sarah_episode)
        assert episode is not None
        return load_episode(session, episode)


# --- one check-in per session ------------------------------------------------------------------


def _sessions(world: World, clock: Clock, count: int) -> list[int]:
    ids = []
    for days_ago in range(count, 0, -1):
        view = sessions.schedule_session(
            world.ctx,
            actor=world.alice,
            episode_id=world.sarah_episode,
            scheduled_at=clock.now - timedelta(days=7 * days_ago),
            status="attended",
        )
        ids.append(view.id)
    return ids


def _link_for(world: World, session_id: int | None) -> checkins.CheckInLink:
    return checkins.create_checkin_link(
        world.ctx, actor=world.alice, episode_id=world.sarah_episode, session_id=session_id
    )


def test_a_session_with_a_completed_check_in_refuses_another_link(
    world: World, clock: Clock
) -> None:
    first, second = _sessions(world, clock, 2)
    checkins.record_check_in(world.ctx, _link_for(world, second).token, full_answers())
    links_before = _count(world, CheckIn)
    with pytest.raises(Conflict, match="session 2 already has a completed check-in"):
        _link_for(world, second)
    assert _count(world, CheckIn) == links_before  # nothing half-written
    # Without a session named, the link goes to the latest session that has none: session 1.
    link = _link(world)
    assert link.checkin.session_id == first
    form = checkins.open_checkin(world.ctx, link.token)
    assert form.session_number == 1  # the form says which session it is for


def test_of_two_links_for_one_session_only_the_first_completed_counts(
    world: World, clock: Clock
) -> None:
    [only] = _sessions(world, clock, 1)
    early, late = _link_for(world, only), _link_for(world, only)
    checkins.record_check_in(world.ctx, late.token, full_answers(alliance=4))
    responses = _count(world, Response)
    with pytest.raises(LinkRefused) as opened:
        checkins.open_checkin(world.ctx, early.token)
    assert opened.value.reason == "session_done"
    with pytest.raises(LinkRefused) as submitted:
        checkins.record_check_in(world.ctx, early.token, full_answers(alliance=1))
    assert submitted.value.reason == "session_done"
    assert _count(world, Response) == responses  # nothing of the second one was stored
    timeline = client_timeline(world.ctx, actor=world.alice, client_id=world.sarah)
    wai_points = [p for s in timeline.series if s.instrument_id == "wai_sr" for p in s.points]
    assert [p.session_number for p in wai_points] == [1]  # one point for the session
    assert [s.checked_in for s in timeline.sessions] == [True]


def test_two_links_for_one_session_racing_store_one_check_in(world: World, clock: Clock) -> None:
    [only] = _sessions(world, clock, 1)
    links = [_link_for(world, only), _link_for(world, only)]
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def submit(token: str) -> None:
        barrier.wait()
        try:
            checkins.record_check_in(world.ctx, token, full_answers())
            outcomes.append("stored")
        except LinkRefused as exc:
            outcomes.append(exc.reason)

    threads = [threading.Thread(target=submit, args=(link.token,)) for link in links]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["session_done", "stored"]
    assert _count(world, Response) == 4


def _token(world: World) -> str:
    return checkins.create_checkin_link(
        world.ctx, actor=world.alice, episode_id=world.sarah_episode
    ).token


def test_a_saved_draft_comes_back_on_the_same_link_encrypted_at_rest(world: World) -> None:
    token = _token(world)
    half = {"phq9": {"phq9_1": "2", "phq9_2": "1"}, "session_feedback": {"sf_comment": "Tired"}}
    saved = checkins.save_checkin_draft(world.ctx, token, half)
    assert saved.count() == 3
    form = checkins.open_checkin(world.ctx, token)
    assert form.draft.answers == {
        "phq9": {"phq9_1": "2", "phq9_2": "1"},
        "session_feedback": {"sf_comment": "Tired"},
    }
    assert form.draft_saved_at == world.ctx.now()
    with transaction(world.ctx.session_factory) as session:
        stored = session.scalar(select(CheckIn.draft_enc).where(CheckIn.completed_at.is_(None)))
        events = session.scalars(
            select(AuditEvent.detail).where(AuditEvent.entity_type == "checkin")
        ).all()
    assert stored is not None
    assert "Tired" not in stored
    assert {"op": "draft", "answers": 3} in events
    # A later save replaces the draft; submitting clears it in the same transaction.
    checkins.save_checkin_draft(world.ctx, token, {"phq9": {"phq9_1": "3"}})
    assert checkins.open_checkin(world.ctx, token).draft.answers == {"phq9": {"phq9_1": "3"}}
    checkins.record_check_in(world.ctx, token, full_answers())
    with transaction(world.ctx.session_factory) as session:
        left = session.scalars(select(CheckIn.draft_enc).where(CheckIn.draft_enc.is_not(None)))
        assert list(left) == []


def test_a_links_clinic_language_is_read_alone_and_none_for_a_refused_link(
    world: World,
) -> None:
    token = _token(world)
    before = _count(world, AuditEvent)
    assert checkins.checkin_client_language(world.ctx, token) == "en"
    assert checkins.checkin_client_language(world.ctx, "not-a-real-token") is None
    # Reading the setting neither opens the check-in nor audits a read of it.
    assert _count(world, AuditEvent) == before
    with transaction(world.ctx.session_factory) as session:
        assert session.scalar(select(func.count()).where(CheckIn.opened_at.is_not(None))) == 0
    checkins.record_check_in(world.ctx, token, full_answers())
    assert checkins.checkin_client_language(world.ctx, token) is None


def test_a_draft_is_refused_for_questions_the_check_in_does_not_ask(world: World) -> None:
    token = _token(world)
    with pytest.raises(InvalidInput, match="no such question"):
        checkins.save_checkin_draft(world.ctx, token, {"phq9": {"phq9_99": "1"}})
    with pytest.raises(InvalidInput, match="does not include that questionnaire"):
        checkins.save_checkin_draft(world.ctx, token, {"who5": {"who5_1": "1"}})
    with pytest.raises(InvalidInput, match="not a goal of this check-in"):
        checkins.save_checkin_draft(world.ctx, token, {}, {999: "5"})
    assert checkins.open_checkin(world.ctx, token).draft.count() == 0


def test_a_used_or_expired_link_keeps_no_draft(world: World, clock: Clock) -> None:
    token = _token(world)
    checkins.record_check_in(world.ctx, token, full_answers())
    with pytest.raises(LinkRefused) as used:
        checkins.save_checkin_draft(world.ctx, token, {"phq9": {"phq9_1": "1"}})
    assert used.value.reason == "used"
    late = _token(world)
    clock.advance(days=world.ctx.settings.checkin_link_days, minutes=1)
    with pytest.raises(LinkRefused) as expired:
        checkins.save_checkin_draft(world.ctx, late, {"phq9": {"phq9_1": "1"}})
    assert expired.value.reason == "expired"


def test_own_progress_in_plain_words_after_two_check_ins(world: World) -> None:
    from alliance.services import admin, goals
    from alliance.services.clinic_settings import ClinicSettings

    admin.update_clinic_settings(
        world.ctx, actor=world.ada, settings=ClinicSettings(show_client_progress=True)
    )
    goals.agree_goals(world.ctx, actor=world.alice, episode_id=world.sarah_episode, goals=["Sleep"])
    [goal] = goals.list_goals(world.ctx, actor=world.alice, episode_id=world.sarah_episode)
    first = checkins.create_checkin_link(
        world.ctx, actor=world.alice, episode_id=world.sarah_episode
    )
    given = full_answers(symptoms=3)
    asked = {k: given[k] for k in first.checkin.instruments}
    checkins.record_check_in(world.ctx, first.token, asked, {goal.id: 2})
    second = checkins.create_checkin_link(
        world.ctx, actor=world.alice, episode_id=world.sarah_episode, instruments=("phq9", "wai_sr")
    )
    answers = full_answers(symptoms=0)
    checkins.record_check_in(world.ctx, second.token, {k: answers[k] for k in ("phq9", "wai_sr")})
    progress = checkins.checkin_progress(world.ctx, second.token)
    [phq9] = [o for o in progress.outcomes if o.instrument_id == "phq9"]
    assert [y for _x, y in phq9.points] == [24, 0]
    assert "real improvement" in phq9.words
    # The WAI-SR is not an outcome: a client's own view never shows alliance scores.
    assert {o.instrument_id for o in progress.outcomes} <= {"phq9", "gad7"}
    assert [(g.text, g.ratings) for g in progress.goals] == [("Sleep", (2,))]


def test_a_check_in_reads_back_no_answer_it_wrote_and_stores_what_a_fresh_refresh_would(
    world: World,
) -> None:
    """The rules read the risk items and the fit answer of the latest responses: those of the
    submission itself come from what it has just written, not from a second SELECT; earlier
    ones (a check-in without the fit question) are still read. Either way a refresh from the
    database afterwards finds nothing to change."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from alliance.services.authz import system_actor
    from alliance.store.models import Episode

    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    def reads_answers() -> bool:
        return any(s.startswith("SELECT") and "responses.answers" in s for s in statements)

    event.listen(Engine, "before_cursor_execute", seen)
    try:
        risky = full_answers(alliance=2, symptoms=2, fit="no", comment="hard week")
        risky["phq9"] = phq9(2, item9=2)
        first = checkins.record_check_in(world.ctx, _link(world).token, risky)
        assert first.risk_flagged
        assert {a.kind for a in first.alerts} >= {"risk_reported", "poor_fit_reported"}
        assert not reads_answers()
        statements.clear()
        no_fit = full_answers(alliance=2, symptoms=2)
        del no_fit["session_feedback"]
        checkins.record_check_in(world.ctx, _link(world).token, no_fit)
        assert reads_answers()  # the latest fit answer is the first check-in's
    finally:
        event.remove(Engine, "before_cursor_execute", seen)
    with transaction(world.ctx.session_factory) as session:
        episode = session.get(Episode, world.sarah_episode)
        assert episode is not None
        assert monitor.refresh_alerts(session, world.ctx, system_actor(), episode) == []
