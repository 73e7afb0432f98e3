"""Traffic samples: buffered off the request path, written in batches, never lost on a
failed write (within the buffer), read back per arm and per window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from warden.rollout.traffic import TrafficReader, TrafficRecorder, TrafficSample, summarize
from warden.store.db import Database

NOW = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


def sample(arm: str | None = "champion", *, latency: float = 100.0, minutes: int = 0,
           **extra: object) -> TrafficSample:
    return TrafficSample(model="assistant", latency_ms=latency, prompt_tokens=10,
                         completion_tokens=5, finish_reason="stop", rollout="assistant",
                         arm=arm, arm_hash=f"{arm}-hash", at=NOW + timedelta(minutes=minutes),
                         **extra)  # type: ignore[arg-type]


def test_samples_are_written_in_a_batch_and_read_back_per_arm(db: Database) -> None:
    recorder = TrafficRecorder(db)
    for i in range(5):
        recorder.record(sample("champion", latency=100 + i, minutes=i))
    recorder.record(sample("challenger", latency=300, budget_violation=True))
    recorder.record(sample("challenger", latency=310, pinned=True))
    assert recorder.flush() == 7 and recorder.flush() == 0
    reader = TrafficReader(db)
    champion = reader.arm_samples("assistant", "champion", since=NOW)
    assert [s.latency_ms for s in champion] == [100, 101, 102, 103, 104]
    challenger = reader.arm_samples("assistant", "challenger", since=NOW)
    assert [s.latency_ms for s in challenger] == [300]  # pinned (evaluation) excluded
    assert reader.arm_samples("assistant", "challenger", since=NOW, arm_hash="other") == []
    assert len(reader.arm_samples("assistant", "challenger", since=NOW,
                                  include_pinned=True)) == 2
    summary = summarize(challenger)
    assert summary["requests"] == 1 and summary["budget_violations"] == 1


def test_a_failed_write_keeps_the_batch_and_a_full_buffer_drops_the_oldest(db: Database
                                                                           ) -> None:
    recorder = TrafficRecorder(db, max_buffer=3)
    for i in range(5):
        recorder.record(sample(latency=float(i)))
    assert recorder.dropped == 2
    db.engine.dispose()
    with db.engine.connect() as connection:
        connection.exec_driver_sql("ALTER TABLE traffic_samples RENAME TO gone")
        connection.commit()
    with pytest.raises(Exception, match="traffic_samples"):
        recorder.flush()
    with db.engine.connect() as connection:
        connection.exec_driver_sql("ALTER TABLE gone RENAME TO traffic_samples")
        connection.commit()
    assert recorder.flush() == 3
    latencies = [s.latency_ms for s in TrafficReader(db).window(NOW, NOW + timedelta(1))]
    assert latencies == [2.0, 3.0, 4.0]


def test_windows_leave_out_shadow_and_pinned_requests_and_purge_drops_old_ones(
        db: Database) -> None:
    recorder = TrafficRecorder(db)
    recorder.record(sample(minutes=0))
    recorder.record(sample("challenger", minutes=1, shadow=True))
    recorder.record(sample(minutes=2, pinned=True))
    recorder.record(sample(minutes=90))
    recorder.flush()
    reader = TrafficReader(db)
    assert len(reader.window(NOW, NOW + timedelta(hours=1))) == 1
    assert len(reader.window(NOW, NOW + timedelta(hours=1), include_shadow=True)) == 2
    assert reader.purge(timedelta(hours=1), now=NOW + timedelta(hours=1, minutes=30)) == 3
    assert len(reader.window(NOW, NOW + timedelta(days=1), include_shadow=True)) == 1


def test_status_follows_the_finish_reason() -> None:
    assert sample().status == "ok"
    assert TrafficSample("m", 1.0, 1, 1, "cancelled").status == "error"
