"""Sticky A/B assignment and shadow sampling: the same key always lands on the same arm,
shares hold within binomial tolerance over 1,000 simulated keys, and growing a share only
moves keys from the champion to the challenger."""

from __future__ import annotations

import math

import pytest

from warden.rollout.arms import CHALLENGER, CHAMPION
from warden.rollout.assignment import assign, point, shadow_sampled

KEYS = [f"key{i:04d}" for i in range(1000)]


def within(count: int, n: int, share: float) -> bool:
    """Inside 4 binomial standard deviations (a false alarm about once in 15,000 runs)."""
    return abs(count - n * share) <= 4 * math.sqrt(n * share * (1 - share))


def test_the_same_key_always_gets_the_same_arm() -> None:
    first = [assign(k, "assistant", 0.3) for k in KEYS]
    again = [assign(k, "assistant", 0.3) for k in reversed(KEYS)]
    assert first == list(reversed(again))


@pytest.mark.parametrize("share", [0.05, 0.1, 0.5, 0.9])
def test_shares_hold_over_a_thousand_keys(share: float) -> None:
    on_challenger = sum(assign(k, "assistant", share) == CHALLENGER for k in KEYS)
    assert within(on_challenger, len(KEYS), share), (share, on_challenger)


def test_zero_and_full_share() -> None:
    assert {assign(k, "r", 0.0) for k in KEYS} == {CHAMPION}
    assert {assign(k, "r", 1.0) for k in KEYS} == {CHALLENGER}


def test_growing_the_share_never_moves_a_key_back_to_the_champion() -> None:
    shares = (0.05, 0.1, 0.25, 0.5, 1.0)
    for key in KEYS:
        sides = [assign(key, "assistant", s) for s in shares]
        first = sides.index(CHALLENGER) if CHALLENGER in sides else len(sides)
        assert all(side == CHALLENGER for side in sides[first:]), (key, sides)


def test_rollouts_assign_independently() -> None:
    """A key's bucket in one rollout says nothing about another: about share^2 of keys are
    on both challengers."""
    both = sum(assign(k, "a", 0.5) == CHALLENGER and assign(k, "b", 0.5) == CHALLENGER
               for k in KEYS)
    assert within(both, len(KEYS), 0.25)


def test_shadow_copies_are_sampled_per_request_at_the_share() -> None:
    requests = [f"req_{i:05d}" for i in range(2000)]
    copied = sum(shadow_sampled(r, "assistant", 0.2) for r in requests)
    assert within(copied, len(requests), 0.2)
    assert [shadow_sampled(r, "assistant", 0.2) for r in requests[:50]] == \
        [shadow_sampled(r, "assistant", 0.2) for r in requests[:50]]


def test_points_are_uniform_enough_and_in_range() -> None:
    values = [point("x", k) for k in KEYS]
    assert all(0 <= v < 1 for v in values)
    deciles = [sum(d / 10 <= v < (d + 1) / 10 for v in values) for d in range(10)]
    assert all(within(c, len(values), 0.1) for c in deciles), deciles
