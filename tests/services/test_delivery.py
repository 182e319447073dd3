"""Sending check-in links by e-mail (issue 10): through a real SMTP server started in process,
on SQLite and on PostgreSQL."""

from __future__ import annotations

import contextlib
import re
import threading
from datetime import timedelta

import pytest
from clinic_world import Clock, World, full_answers
from sqlalchemy import select

from alliance.adapters.mail import SmtpNotifier
from alliance.services import admin, checkins, clients, delivery, sessions
from alliance.services.context import ServiceContext
from alliance.services.delivery import NO_ADDRESS, OPTED_OUT, send_due
from alliance.store.models import AuditEvent, OutboxMessage
from smtp_sink import SmtpSink, smtp_settings

LINK = re.compile(r"https://alliance\.example/c/[A-Za-z0-9_-]+")


def _notifier(ctx: ServiceContext, sink: SmtpSink) -> SmtpNotifier:
    return SmtpNotifier(ctx.settings.model_copy(update=smtp_settings(sink.port)), timeout=5)


def _run(world: World, sink: SmtpSink) -> delivery.SendDueReport:
    return send_due(world.ctx, notifier=_notifier(world.ctx, sink))


def _attended(world: World, client_id: int, hours_ago: float = 1) -> int:
    actor = world.carol if client_id == world.eve else world.ada
    view = sessions.schedule_session(
        world.ctx,
        actor=actor,
        client_id=client_id,
        scheduled_at=world.ctx.now() - timedelta(hours=hours_ago),
        status="attended",
    )
    return view.id


def _rows(world: World) -> list[OutboxMessage]:
    with world.ctx.session_factory() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def _token(url: str) -> str:
    return url.rsplit("/", 1)[1]


def test_a_session_recorded_as_attended_sends_its_link_once(world: World, sink: SmtpSink) -> None:
    session_id = _attended(world, world.sarah)
    report = _run(world, sink)
    assert (report.queued, report.sent, report.failed) == (1, 1, 0)
    (message,) = sink.messages
    assert message["To"] == "sarah@mail.example"
    (url,) = LINK.findall(sink.bodies()[0])
    form = checkins.open_checkin(world.ctx, _token(url))
    assert form.client_display_name == "Sarah"
    # The link belongs to that session; a second run sends nothing more.
    assert _rows(world)[0].session_id == session_id
    again = _run(world, sink)
    assert (again.queued, again.sent) == (0, 0)
    assert len(sink.messages) == 1


def test_the_outbox_follows_the_link_from_sent_to_opened_to_completed(
    world: World, sink: SmtpSink
) -> None:
    _attended(world, world.sarah)
    _run(world, sink)
    (view,) = delivery.list_outbox(world.ctx, actor=world.alice)
    assert view.status == "sent"
    (url,) = LINK.findall(sink.bodies()[0])
    checkins.open_checkin(world.ctx, _token(url))
    assert delivery.list_outbox(world.ctx, actor=world.alice)[0].status == "opened"
    checkins.record_check_in(world.ctx, _token(url), full_answers())
    (done,) = delivery.list_outbox(world.ctx, actor=world.alice)
    assert done.status == "completed"
    assert done.completed_at is not None


def test_messages_hold_no_clinical_content(world: World, sink: SmtpSink, clock: Clock) -> None:
    checkins.create_checkin_link(world.ctx, actor=world.alice, client_id=world.sarah)
    _attended(world, world.sarah)
    _run(world, sink)
    clock.advance(hours=49)
    _run(world, sink)  # the reminder
    assert len(sink.messages) == 2
    for message, body in zip(sink.messages, sink.bodies(), strict=True):
        text = (str(message["Subject"]) + "\n" + body).lower()
        assert "northside" in text
        assert len(LINK.findall(body)) == 1
        for clinical in (
            "sarah",
            "alice",
            "phq",
            "gad",
            "wai",
            "depress",
            "anxi",
            "score",
            "risk",
            "alliance",
            "session 1",
        ):
            assert clinical not in text.replace("alliance.example", ""), clinical


def test_one_reminder_goes_after_the_set_hours_with_the_same_link(
    world: World, sink: SmtpSink, clock: Clock
) -> None:
    _attended(world, world.sarah)
    _run(world, sink)
    clock.advance(hours=47)
    assert _run(world, sink).reminders == 0
    clock.advance(hours=2)
    report = _run(world, sink)
    assert (report.reminders, report.sent) == (1, 1)
    first, second = (LINK.findall(b)[0] for b in sink.bodies())
    assert first == second
    assert "reminder" in str(sink.messages[1]["Subject"]).lower()
    clock.advance(hours=72)
    assert _run(world, sink).reminders == 0  # only one
    assert len(sink.messages) == 2


def test_no_reminder_once_the_check_in_is_done(world: World, sink: SmtpSink, clock: Clock) -> None:
    _attended(world, world.sarah)
    _run(world, sink)
    (url,) = LINK.findall(sink.bodies()[0])
    checkins.record_check_in(world.ctx, _token(url), full_answers())
    clock.advance(hours=49)
    assert _run(world, sink).reminders == 0
    assert len(sink.messages) == 1


def test_a_link_that_expires_before_it_could_be_sent_is_cancelled(
    world: World, sink: SmtpSink, clock: Clock
) -> None:
    _attended(world, world.sarah)
    sink.refuse = "451"
    _run(world, sink)
    clock.advance(days=world.ctx.settings.checkin_link_days, minutes=1)
    sink.refuse = None
    report = _run(world, sink)
    assert (report.cancelled, report.sent) == (1, 0)
    (row,) = _rows(world)
    assert row.status == "cancelled"
    assert row.reason == "the link expired before it could be sent"
    assert sink.messages == []


def test_sessions_older_than_a_link_lasts_are_not_sent(world: World, sink: SmtpSink) -> None:
    _attended(world, world.sarah, hours_ago=24 * world.ctx.settings.checkin_link_days + 1)
    assert _run(world, sink).queued == 0


def test_a_session_that_already_has_a_check_in_gets_no_message(
    world: World, sink: SmtpSink
) -> None:
    session_id = _attended(world, world.sarah)
    checkins.create_checkin_link(
        world.ctx, actor=world.alice, client_id=world.sarah, session_id=session_id
    )
    assert _run(world, sink).queued == 0


def test_clients_who_opted_out_or_have_no_address_are_skipped_with_the_reason(
    world: World, sink: SmtpSink
) -> None:
    delivery.set_checkin_email_opt_out(
        world.ctx, actor=world.alice, client_id=world.sarah, opted_out=True
    )
    _attended(world, world.sarah)
    _attended(world, world.john)  # John has no e-mail address
    report = _run(world, sink)
    assert (report.skipped, report.sent) == (2, 0)
    assert sink.messages == []
    reasons = {row.client_id: (row.status, row.reason) for row in _rows(world)}
    assert reasons == {world.sarah: ("skipped", OPTED_OUT), world.john: ("skipped", NO_ADDRESS)}
    # Recorded once: the next run does not skip them again.
    assert _run(world, sink).skipped == 0
    with world.ctx.session_factory() as session:
        events = session.scalars(
            select(AuditEvent).where(
                AuditEvent.entity_type == "client", AuditEvent.actor_id == world.alice.user_id
            )
        ).all()
    assert any(e.detail.get("op") == "checkin_emails" for e in events)
    assert clients.get_client(world.ctx, actor=world.alice, client_id=world.sarah)[
        0
    ].checkin_emails_opt_out


def test_opting_out_after_queueing_stops_the_reminder(
    world: World, sink: SmtpSink, clock: Clock
) -> None:
    _attended(world, world.sarah)
    _run(world, sink)
    delivery.set_checkin_email_opt_out(
        world.ctx, actor=world.alice, client_id=world.sarah, opted_out=True
    )
    clock.advance(hours=49)
    report = _run(world, sink)
    assert (report.reminders, report.skipped) == (0, 1)
    assert len(sink.messages) == 1


def test_a_refusing_server_is_retried_with_exponential_back_off_then_failed(
    world: World, sink: SmtpSink, clock: Clock
) -> None:
    _attended(world, world.sarah)
    sink.refuse = "451"
    start = clock.now
    waits = []
    for attempt in range(1, world.ctx.settings.delivery_max_attempts):
        report = _run(world, sink)
        assert report.retrying == 1, attempt
        (row,) = _rows(world)
        assert row.attempts == attempt
        assert row.status == "queued"
        assert row.reason is not None
        assert "451" in row.reason
        assert row.next_attempt_at is not None
        waits.append(row.next_attempt_at - clock.now)
        # Not before its time.
        assert _run(world, sink).retrying == 0
        assert _rows(world)[0].attempts == attempt
        clock.now = row.next_attempt_at
    base = timedelta(minutes=world.ctx.settings.delivery_retry_minutes)
    assert waits == [base, 2 * base, 4 * base, 8 * base]
    assert delivery.list_outbox(world.ctx, actor=world.alice)[0].status == "retrying"
    report = _run(world, sink)
    assert report.failed == 1
    (row,) = _rows(world)
    assert (row.status, row.attempts) == ("failed", 5)
    assert clock.now - start == sum(waits, timedelta())
    assert sink.messages == []
    view = delivery.list_outbox(world.ctx, actor=world.alice)[0]
    assert view.status == "failed"
    assert view.reason is not None
    assert "451" in view.reason


def test_an_address_the_server_refuses_for_good_fails_at_once(world: World, sink: SmtpSink) -> None:
    _attended(world, world.sarah)
    sink.refuse = "550"
    report = _run(world, sink)
    assert (report.failed, report.retrying) == (1, 0)
    assert _rows(world)[0].status == "failed"


def test_a_recovered_server_gets_the_retry(world: World, sink: SmtpSink, clock: Clock) -> None:
    _attended(world, world.sarah)
    sink.refuse = "451"
    _run(world, sink)
    sink.refuse = None
    clock.advance(minutes=5)
    assert _run(world, sink).sent == 1
    assert len(sink.messages) == 1


def test_before_next_sends_the_set_hours_before_the_session(world: World, sink: SmtpSink) -> None:
    current = admin.get_clinic(world.ctx, actor=world.ada).settings
    admin.update_clinic_settings(
        world.ctx,
        actor=world.ada,
        settings={
            **current.to_json(),
            "delivery": {"send": "before_next", "hours_before": 24, "reminder_hours": 0},
        },
    )
    now = world.ctx.now()
    for client_id, hours in ((world.sarah, 30), (world.sarah, 10)):
        sessions.schedule_session(
            world.ctx,
            actor=world.ada,
            client_id=client_id,
            scheduled_at=now + timedelta(hours=hours),
        )
    _attended(world, world.sarah)  # attended sessions do not count in this mode
    report = _run(world, sink)
    assert (report.queued, report.sent) == (1, 1)
    (row,) = _rows(world)
    assert row.session_id is not None


def test_off_sends_nothing(world: World, sink: SmtpSink) -> None:
    current = admin.get_clinic(world.ctx, actor=world.ada).settings
    admin.update_clinic_settings(
        world.ctx,
        actor=world.ada,
        settings={**current.to_json(), "delivery": {"send": "off"}},
    )
    _attended(world, world.sarah)
    assert _run(world, sink).queued == 0


def test_a_dry_run_writes_and_sends_nothing(world: World, sink: SmtpSink) -> None:
    _attended(world, world.sarah)
    report = send_due(world.ctx, notifier=None, dry_run=True)
    assert (report.queued, report.due) == (1, 1)
    assert _rows(world) == []
    assert sink.messages == []


def test_two_concurrent_runs_never_send_a_message_twice(world: World, sink: SmtpSink) -> None:
    ids = []
    for i in range(12):
        client, _ = clients.create_client(
            world.ctx, actor=world.alice, display_name=f"C{i}", contact_email=f"c{i}@mail.example"
        )
        ids.append(client.id)
        _attended(world, client.id)
    sink.delay = 0.02
    reports: list[delivery.SendDueReport] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        try:
            barrier.wait()
            reports.append(_run(world, sink))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    recipients = [str(m["To"]) for m in sink.messages]
    assert sorted(recipients) == sorted(f"c{i}@mail.example" for i in range(12))
    assert sum(r.sent for r in reports) == 12
    assert sum(r.queued for r in reports) == 12
    assert {row.status for row in _rows(world)} == {"sent"}


@pytest.mark.parametrize(
    ("connections", "messages"), [(3, 8), (1, 3)], ids=["three connections", "one connection"]
)
def test_a_run_hands_messages_over_on_as_many_connections_at_once_as_set(
    world: World, sink: SmtpSink, connections: int, messages: int
) -> None:
    for i in range(messages):
        client, _ = clients.create_client(
            world.ctx, actor=world.alice, display_name=f"P{i}", contact_email=f"p{i}@mail.example"
        )
        _attended(world, client.id)
    sink.wait = 0.1
    settings = world.ctx.settings.model_copy(update=smtp_settings(sink.port))
    notifier = SmtpNotifier(settings, timeout=5, connections=connections)
    report = send_due(world.ctx, notifier=notifier)
    assert report.sent == messages
    assert report.failed == 0
    assert sorted(str(m["To"]) for m in sink.messages) == sorted(
        f"p{i}@mail.example" for i in range(messages)
    )
    # The server held as many messages at a time as there are connections, never more.
    assert sink.peak == connections
    assert {row.status for row in _rows(world)} == {"sent"}


def test_two_runs_picking_the_same_rows_at_once_claim_each_row_once(
    world: World, sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The claim itself, with both runs made to pick their rows at the same moment (on
    SQLite the second waits for the write lock instead, which is just as safe)."""
    for i in range(6):
        client, _ = clients.create_client(
            world.ctx, actor=world.alice, display_name=f"C{i}", contact_email=f"c{i}@mail.example"
        )
        _attended(world, client.id)
    with world.ctx.session_factory() as session, session.begin():
        delivery._plan(session, world.ctx, delivery._Tally())
    barrier = threading.Barrier(2)
    original = delivery._pick

    def pick_together(session: object, claimable: object) -> list[int]:
        ids = original(session, claimable)  # type: ignore[arg-type]
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=1)
        return ids

    monkeypatch.setattr(delivery, "_pick", pick_together)
    claimed: dict[str, list[int]] = {}

    def claim(run: str) -> None:
        claimed[run] = [c.id for c in delivery._claim(world.ctx, run)]

    threads = [threading.Thread(target=claim, args=(run,)) for run in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    both = claimed["a"] + claimed["b"]
    assert sorted(both) == sorted(set(both))
    assert len(both) == 6


def test_the_outbox_shows_each_staff_member_only_their_clients(
    world: World, sink: SmtpSink
) -> None:
    _attended(world, world.sarah)  # Alice's client
    _attended(world, world.john)  # Bob's
    _attended(world, world.eve)  # Dave's, in the other clinic
    _run(world, sink)
    names = {
        who: {v.client_name for v in delivery.list_outbox(world.ctx, actor=actor)}
        for who, actor in (
            ("alice", world.alice),
            ("bob", world.bob),
            ("sam", world.sam),
            ("ada", world.ada),
            ("carol", world.carol),
        )
    }
    assert names == {
        "alice": {"Sarah"},
        "bob": {"John"},
        "sam": {"Sarah"},
        "ada": {"Sarah", "John"},
        "carol": {"Eve"},
    }
    assert {
        v.status for v in delivery.list_outbox(world.ctx, actor=world.ada, status="skipped")
    } == {"skipped"}


def test_another_therapist_cannot_change_a_clients_opt_out(world: World) -> None:
    from alliance.services.errors import NotFound

    with pytest.raises(NotFound):
        delivery.set_checkin_email_opt_out(
            world.ctx, actor=world.bob, client_id=world.sarah, opted_out=True
        )


def test_erasing_a_client_removes_their_messages(world: World, sink: SmtpSink) -> None:
    from alliance.services import exports

    _attended(world, world.sarah)
    _run(world, sink)
    receipt = exports.erase_client(world.ctx, actor=world.ada, client_id=world.sarah)
    assert receipt.deleted["outbox_messages"] == 1
    assert _rows(world) == []
