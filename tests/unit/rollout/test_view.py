"""Each replica's view of the rollout state: a change written through one replica is seen
by another within a second, its listeners run once per change, and a store outage keeps the
last known state."""

from __future__ import annotations

import asyncio
import time

from warden.rollout.arms import Arm
from warden.rollout.state import RolloutState, RolloutStore, Seed, Status
from warden.rollout.view import RolloutView
from warden.store.db import Database

CHAMPION, CHALLENGER = Arm("m"), Arm("m", "terse", "h")


def seeded(db: Database) -> RolloutStore:
    store = RolloutStore(db)
    assert store.seed({"assistant": Seed(CHAMPION, CHALLENGER, 0.5, "ab")}) == ["assistant"]
    assert store.seed({"assistant": Seed(CHAMPION, None, 0.1, "ab")}) == []  # idempotent
    return store


def test_a_rollback_on_one_replica_is_honoured_by_another_within_a_second(db: Database
                                                                          ) -> None:
    store = seeded(db)
    other = RolloutView(RolloutStore(db), ttl_s=0.25)
    seen: list[tuple[RolloutState | None, RolloutState]] = []
    other.listen(lambda before, after: seen.append((before, after)))

    async def scenario() -> float:
        refresher = asyncio.create_task(other.run_refresher())
        await asyncio.sleep(0.3)
        assert other.get("assistant") is not None
        assert other.get("assistant").live_challenger == CHALLENGER  # type: ignore[union-attr]
        written = time.monotonic()
        await asyncio.to_thread(store.rollback, "assistant", "canary", "failed")
        while other.get("assistant").status is not Status.ROLLED_BACK:  # type: ignore[union-attr]
            await asyncio.sleep(0.01)
        took = time.monotonic() - written
        refresher.cancel()
        return took

    took = asyncio.run(scenario())
    assert took < 1.0, took
    changes = [(b.status if b else None, a.status) for b, a in seen]
    assert changes == [(None, Status.RUNNING), (Status.RUNNING, Status.ROLLED_BACK)]


def test_adopt_is_seen_at_once_and_older_generations_never_win(db: Database) -> None:
    store = seeded(db)
    view = RolloutView(store, ttl_s=0.5)
    before = view.get("assistant")
    assert before is not None
    newer = store.set_share("assistant", 0.9, "admin")
    view.adopt(newer)
    assert view.get("assistant") == newer
    view._install({"assistant": before})  # a stale read racing a write
    assert view.get("assistant") == newer


def test_a_store_outage_keeps_the_last_known_state(db: Database) -> None:
    store = seeded(db)
    now = [0.0]
    view = RolloutView(store, ttl_s=0.25, clock=lambda: now[0])
    known = view.get("assistant")
    db.engine.dispose()
    with db.engine.connect() as connection:  # break the table for the next read
        connection.exec_driver_sql("ALTER TABLE rollout_state RENAME TO rollout_state_gone")
        connection.commit()
    now[0] += 1.0
    assert view.get("assistant") == known
    assert view.last_error is not None and "rollout_state" in view.last_error
