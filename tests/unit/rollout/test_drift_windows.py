"""Drift of recorded traffic: the windows, the features, and the verdicts end to end on the
store (the PSI rule itself is tested in tests/unit/evaluation/test_drift.py)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from warden.config.rollouts import DriftConfig
from warden.rollout.drift_windows import drift_windows, features
from warden.rollout.traffic import TrafficReader, TrafficRecorder, TrafficSample
from warden.store.db import Database

NOW = datetime(2026, 3, 1, tzinfo=UTC)
CONFIG = DriftConfig(current_window_s=3600, baseline_window_s=6 * 3600)


def record(db: Database, n: int, *, start: datetime, span: timedelta, latency: float,
           seed: int, refusal_rate: float = 0.05, **extra: object) -> None:
    rng = random.Random(seed)
    recorder = TrafficRecorder(db)
    for i in range(n):
        recorder.record(TrafficSample(
            model="assistant", latency_ms=rng.lognormvariate(0, 0.3) * latency,
            prompt_tokens=rng.randint(20, 200), completion_tokens=rng.randint(5, 60),
            finish_reason="stop", refusal=rng.random() < refusal_rate,
            top_score=rng.uniform(0.3, 0.9), guard={"pii": rng.uniform(0, 0.2)},
            at=start + span * (i / n), **extra))  # type: ignore[arg-type]
    recorder.flush()


def test_features_are_what_the_samples_recorded() -> None:
    sample = TrafficSample("m", 120.0, 30, 8, "stop", refusal=True, top_score=0.7,
                           guard={"pii": 0.4, "toxicity": 0.0})
    plain = TrafficSample("m", 80.0, 10, 2, "stop")
    out = features([sample, plain])
    assert out["latency"] == [120.0, 80.0] and out["refusal_rate"] == [1.0, 0.0]
    assert out["top_retrieval_score"] == [0.7]  # only requests with retrieval
    assert out["guard_score.pii"] == [0.4] and out["guard_score.toxicity"] == [0.0]


def test_same_traffic_is_ok_and_slower_traffic_alerts_on_latency(db: Database) -> None:
    baseline_start = NOW - timedelta(hours=7)
    record(db, 1200, start=baseline_start, span=timedelta(hours=6), latency=400, seed=1)
    record(db, 400, start=NOW - timedelta(hours=1), span=timedelta(minutes=59), latency=400,
           seed=2)
    calm = drift_windows(TrafficReader(db), CONFIG, now=NOW)
    verdicts = {r.feature: r.verdict.value for r in calm.results}
    assert set(verdicts.values()) == {"ok"}, calm.plain()
    record(db, 400, start=NOW, span=timedelta(minutes=59), latency=900, seed=3)
    slow = drift_windows(TrafficReader(db), CONFIG, now=NOW + timedelta(hours=1))
    by_feature = {r.feature: r for r in slow.results}
    assert by_feature["latency"].verdict.value == "alert"
    assert by_feature["prompt_tokens"].verdict.value == "ok"
    assert slow.plain()["worst"] == "alert" and slow.psi()["latency"] > 0.25  # type: ignore[operator]


def test_small_windows_are_insufficient_and_shadow_or_pinned_requests_do_not_count(
        db: Database) -> None:
    record(db, 30, start=NOW - timedelta(hours=5), span=timedelta(hours=1), latency=400,
           seed=1)
    record(db, 500, start=NOW - timedelta(minutes=50), span=timedelta(minutes=40),
           latency=400, seed=2, shadow=True)
    record(db, 500, start=NOW - timedelta(minutes=50), span=timedelta(minutes=40),
           latency=400, seed=3, pinned=True)
    report = drift_windows(TrafficReader(db), CONFIG, now=NOW)
    assert {r.verdict.value for r in report.results} == {"insufficient"}
    assert all(r.psi is None and r.n_current == 0 for r in report.results)


def test_psi_values_reach_the_metric() -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from warden.rollout.metrics import RolloutMetrics

    registry = CollectorRegistry()
    RolloutMetrics(registry).set_drift({"latency": 0.31, "refusal_rate": None})
    text = generate_latest(registry).decode()
    assert 'warden_drift_psi{feature="latency"} 0.31' in text
    assert 'feature="refusal_rate"' not in text  # unmeasured: no value, never a zero
