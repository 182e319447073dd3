"""The shared rate limit: fixed windows per key, counted in the database (so every worker
process sees the same counts)."""

from __future__ import annotations

from clinic_world import Clock, World

from alliance.services import ratelimit


def test_the_rate_limit_counts_per_key_and_window(world: World, clock: Clock) -> None:
    results = [ratelimit.check(world.ctx, "login:1.2.3.4", 3, 900) for _ in range(5)]
    assert results == [True, True, True, False, False]
    assert ratelimit.check(world.ctx, "login:5.6.7.8", 3, 900)
    clock.advance(seconds=901)
    assert ratelimit.check(world.ctx, "login:1.2.3.4", 3, 900)
    clock.advance(days=2)
    assert ratelimit.purge(world.ctx) == 2
