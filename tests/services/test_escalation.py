"""Risk alerts left unacknowledged: the supervisor and the admins are told once, from the
send-due run, with no clinical content (alliance.services.escalation)."""

from __future__ import annotations

from clinic_world import Clock, World, full_answers, phq9

from alliance.notify import DeliveryFailed, Message
from alliance.services import alerts, checkins, sessions
from alliance.services.delivery import send_due
from alliance.services.escalation import escalate_risk_alerts


class Recorder:
    """A notifier that keeps what it was asked to send (or refuses everything)."""

    channel = "email"
    concurrency = 1

    def __init__(self, *, fail: bool = False) -> None:
        self.sent: list[Message] = []
        self.fail = fail

    def send(self, message: Message) -> None:
        if self.fail:
            raise DeliveryFailed("server down")
        self.sent.append(message)

    def close(self) -> None:
        pass


def _risk_answer(world: World, clock: Clock) -> int:
    """Sarah (Alice's client; Alice's supervisor is Sam) answers PHQ-9 item 9 with 2."""
    clock.advance(days=7)
    sessions.schedule_session(
        world.ctx,
        actor=world.alice,
        episode_id=world.sarah_episode,
        scheduled_at=clock.now,
        status="attended",
    )
    link = checkins.create_checkin_link(
        world.ctx, actor=world.alice, episode_id=world.sarah_episode
    )
    answers = full_answers(symptoms=1)
    answers["phq9"] = phq9(1, item9=2)
    result = checkins.record_check_in(world.ctx, link.token, answers)
    [risk] = [a for a in result.alerts if a.kind == "risk_reported"]
    return risk.id


def test_an_unacknowledged_risk_alert_is_escalated_once_to_the_supervisor_and_the_admins(
    world: World, clock: Clock
) -> None:
    alert_id = _risk_answer(world, clock)
    recorder = Recorder()
    assert escalate_risk_alerts(world.ctx, recorder).escalated == 0  # not yet 4 hours
    clock.advance(hours=4)
    report = send_due(world.ctx, notifier=recorder)
    assert report.escalated == 1
    assert "escalated 1 risk alert(s)" in report.line()
    assert sorted(m.to for m in recorder.sent) == ["ada@north.example", "sam@north.example"]
    for message in recorder.sent:
        text = message.subject + message.body
        assert "Sarah" not in text
        assert "Alice" not in text
        assert "PHQ" not in text
        assert f"/alerts/{alert_id}/protocol" in message.body  # the alert itself
        assert "/team" in message.body
        assert "4 hours" in message.body
    view = alerts.get_alert(world.ctx, actor=world.alice, alert_id=alert_id)
    assert view.escalated_at is not None
    clock.advance(hours=24)
    assert escalate_risk_alerts(world.ctx, recorder).escalated == 0  # idempotent
    assert len(recorder.sent) == 2


def test_an_acknowledged_risk_alert_is_not_escalated(world: World, clock: Clock) -> None:
    alert_id = _risk_answer(world, clock)
    alerts.acknowledge_alert(world.ctx, actor=world.alice, alert_id=alert_id, note="Calling today")
    clock.advance(hours=48)
    recorder = Recorder()
    assert escalate_risk_alerts(world.ctx, recorder).escalated == 0
    assert recorder.sent == []


def test_a_failed_escalation_is_tried_again_by_the_next_run(world: World, clock: Clock) -> None:
    alert_id = _risk_answer(world, clock)
    clock.advance(hours=5)
    report = escalate_risk_alerts(world.ctx, Recorder(fail=True))
    assert (report.escalated, report.failed) == (0, 1)
    assert alerts.get_alert(world.ctx, actor=world.alice, alert_id=alert_id).escalated_at is None
    recorder = Recorder()
    assert escalate_risk_alerts(world.ctx, recorder).escalated == 1
    assert len(recorder.sent) == 2


def test_the_clinic_chooses_how_many_hours_a_risk_alert_may_wait(
    world: World, clock: Clock
) -> None:
    from alliance.services import admin

    current = admin.get_clinic(world.ctx, actor=world.ada)
    settings = current.settings.model_copy(update={"risk_escalation_hours": 12})
    admin.update_clinic_settings(world.ctx, actor=world.ada, settings=settings)
    _risk_answer(world, clock)
    clock.advance(hours=11)
    assert escalate_risk_alerts(world.ctx, Recorder()).escalated == 0
    clock.advance(hours=1)
    assert escalate_risk_alerts(world.ctx, Recorder()).escalated == 1
