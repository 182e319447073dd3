"""Key rotation: a new active key encrypts new values, old values still decrypt, and
``rotate_encryption`` rewrites them so the old key can go."""

from __future__ import annotations

from clinic_world import COMMENT, GOAL, Clock, World, make_settings, seed_goal_and_check_ins
from sqlalchemy import select

from alliance.services import goals, timelines
from alliance.services.context import ServiceContext
from alliance.store.db import transaction
from alliance.store.models import Goal


def test_after_key_rotation_old_rows_decrypt_and_new_rows_use_the_new_key(
    world: World, clock: Clock
) -> None:
    import base64

    goals.agree_goals(
        world.ctx, actor=world.alice, episode_id=world.sarah_episode, goals=["old goal"]
    )
    settings = world.ctx.settings
    new_key = "k2:" + base64.urlsafe_b64encode(b"2" * 32).decode()
    rotated = ServiceContext.create(
        make_settings(
            settings.effective_database_url, encryption_keys=f"{new_key},{settings.encryption_keys}"
        ),
        engine=world.ctx.session_factory.kw["bind"],
        clock=clock,
    )
    assert [
        g.text for g in goals.list_goals(rotated, actor=world.alice, episode_id=world.sarah_episode)
    ] == ["old goal"]
    goals.agree_goals(
        rotated, actor=world.alice, episode_id=world.sarah_episode, goals=["new goal"]
    )
    with transaction(rotated.session_factory) as session:
        stored = {
            rotated.cipher.decrypt(g.text_enc, field="goals.text"): rotated.cipher.key_id_of(
                g.text_enc
            )
            for g in session.scalars(select(Goal))
        }
    assert stored == {"old goal": "k0", "new goal": "k2"}


def test_rotate_encryption_rewrites_old_values_so_the_old_key_can_go(
    world: World, clock: Clock
) -> None:
    import base64

    from alliance.services.keys import rotate_encryption

    seed_goal_and_check_ins(world, clock)
    settings = world.ctx.settings
    new_key = "k9:" + base64.urlsafe_b64encode(b"9" * 32).decode()
    engine = world.ctx.session_factory.kw["bind"]
    both = ServiceContext.create(
        make_settings(
            settings.effective_database_url, encryption_keys=f"{new_key},{settings.encryption_keys}"
        ),
        engine=engine,
        clock=clock,
    )
    counts = rotate_encryption(both)
    assert counts["goals.text_enc"] == 1
    assert counts["clients.contact_email_enc"] == 1
    assert counts["responses.answers"] == 2
    assert rotate_encryption(both)["goals.text_enc"] == 0  # nothing left on the old key
    only_new = ServiceContext.create(
        make_settings(settings.effective_database_url, encryption_keys=new_key),
        engine=engine,
        clock=clock,
    )
    view = timelines.client_timeline(only_new, actor=world.alice, client_id=world.sarah)
    assert [g.goal.text for g in view.goals] == [GOAL]
    assert [t for _, t in view.feedback] == [COMMENT, COMMENT]
