"""The narrow timeline the alert refresh reads (monitor.rules_timeline) against the whole one
(monitor.build_timeline): the rules must raise the same alerts from both."""

from __future__ import annotations

import random

from clinic_world import Clock, World, feedback, gad7, phq9, wai

from alliance.services import checkins, monitor, sessions
from alliance.services.episodes import load_episode
from alliance.store.db import transaction
from alliance.store.models import Client, Episode


def _both(world: World, episode_id: int) -> tuple[list[object], list[object]]:
    with transaction(world.ctx.session_factory) as session:
        episode = session.get(Episode, episode_id)
        assert episode is not None
        client = session.get(Client, episode.client_id)
        assert client is not None
        data = load_episode(session, episode)
        whole = monitor.build_timeline(world.ctx, data)
        narrow = monitor.rules_timeline(session, world.ctx, episode.id, client.id)
        # Everything the rules read is the same …
        assert [(p.session_number, p.date, p.instrument_id, p.total) for p in narrow.points] == [
            (p.session_number, p.date, p.instrument_id, p.total) for p in whole.points
        ]
        assert narrow.attendance == whole.attendance
        assert narrow.fit_answers == whole.fit_answers[-1:]
        for instrument_id in whole.instrument_ids():
            assert (
                narrow.series(instrument_id, valid_only=False)[-1].risk
                == whole.series(instrument_id, valid_only=False)[-1].risk
            )
        instruments = [str(i) for i in episode.instruments]
        from_whole = monitor.evaluate_rules(
            session, world.ctx, whole, client.clinic_id, instruments, data.clinic_settings
        )
        from_narrow = monitor.evaluate_rules(
            session, world.ctx, narrow, client.clinic_id, instruments, data.clinic_settings
        )
        return from_whole, from_narrow


def test_the_rules_raise_the_same_alerts_from_the_narrow_timeline(
    world: World, clock: Clock
) -> None:
    rng = random.Random(7)
    raised: set[str] = set()
    for number in range(14):
        clock.advance(days=rng.choice((6, 7, 7, 8, 20)))
        status = rng.choice(("attended", "attended", "attended", "missed", "cancelled"))
        sessions.schedule_session(
            world.ctx,
            actor=world.alice,
            episode_id=world.sarah_episode,
            scheduled_at=clock.now,
            status=status,
        )
        if status != "attended" and number % 3:
            continue
        link = checkins.create_checkin_link(
            world.ctx, actor=world.alice, episode_id=world.sarah_episode
        )
        answers: dict[str, dict[str, object]] = {
            "wai_sr": wai(rng.randint(1, 5)),
            # Risk endorsed on some earlier check-ins and not on others.
            "phq9": phq9(rng.randint(0, 3), item9=rng.choice((0, 0, 1))),
            "gad7": gad7(rng.randint(0, 3)),
            "session_feedback": feedback(
                rng.randint(0, 10), rng.choice(("yes", "no", "not_sure")), comment="ok"
            ),
        }
        if rng.random() < 0.3:  # too few answers: an invalid score
            answers["wai_sr"] = {"wai_1": 3}
        if rng.random() < 0.3:  # no fit answer this time
            del answers["session_feedback"]["sf_fit"]
        checkins.record_check_in(world.ctx, link.token, answers)
        from_whole, from_narrow = _both(world, world.sarah_episode)
        assert from_narrow == from_whole
        raised.update(str(a.kind) for a in from_whole)
    # The data did exercise the rules that read stored answers.
    assert {"risk_reported", "poor_fit_reported"} <= raised
