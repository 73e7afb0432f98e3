"""When a challenger may be promoted: an unbroken run of passes, long enough, no fail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from warden.rollout.verdicts import StoredVerdict, VerdictStore, promotion_eligibility
from warden.store.db import Database

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def verdicts(*kinds: str, every: timedelta = timedelta(hours=6)) -> list[StoredVerdict]:
    """Oldest first in the arguments; returned newest first, as the store lists them."""
    made = [StoredVerdict(i, "r", T0 + i * every, kind, None, "continue", "a", "b", "c", {})
            for i, kind in enumerate(kinds)]
    return list(reversed(made))


def test_no_verdict_and_a_too_short_run_are_not_enough() -> None:
    assert not promotion_eligibility([], duration=DAY, now=T0).eligible
    short = promotion_eligibility(verdicts("pass", "pass"), duration=DAY,
                                  now=T0 + timedelta(hours=7))
    assert not short.eligible and "passing for 25200 s" in short.reason


def test_a_long_enough_unbroken_run_of_passes_is() -> None:
    run = verdicts("inconclusive", "pass", "pass", "pass", "pass", "pass")
    result = promotion_eligibility(run, duration=DAY, now=T0 + 2 * DAY)
    assert result.eligible and result.passing_since == T0 + timedelta(hours=6)


def test_marginal_restarts_the_clock_and_any_fail_blocks() -> None:
    restarted = promotion_eligibility(verdicts("pass", "pass", "marginal", "pass"),
                                      duration=DAY, now=T0 + DAY)
    assert not restarted.eligible and restarted.passing_since == T0 + timedelta(hours=18)
    failed = promotion_eligibility(verdicts("fail", "pass", "pass", "pass", "pass", "pass"),
                                   duration=DAY, now=T0 + 3 * DAY)
    assert not failed.eligible and "roll back instead" in failed.reason
    latest = promotion_eligibility(verdicts("pass", "error"), duration=DAY, now=T0 + DAY)
    assert not latest.eligible and latest.reason == "the latest verdict is error, not pass"


def test_the_store_lists_newest_first_by_challenger(db: Database) -> None:
    store = VerdictStore(db)
    for verdict, challenger in (("pass", "x"), ("fail", "y"), ("marginal", "x")):
        store.add("r", verdict=verdict, score=50.0, action="continue", champion_hash="c",
                  challenger_hash=challenger, actor="canary", evidence={"k": 1})
    assert [v.verdict for v in store.list("r", challenger_hash="x")] == ["marginal", "pass"]
    assert store.list("r")[0].plain(evidence=False).keys() >= {"id", "verdict", "score"}
