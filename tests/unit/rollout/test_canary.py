"""The canary analysis wiring: smoke figures and live traffic in, KPI verdicts, the Kayenta
score and the Argo budget out. The statistics themselves are tested in
tests/unit/evaluation/test_canary_judge.py."""

from __future__ import annotations

import random

import pytest

from warden.config.rollouts import CanaryConfig
from warden.evaluation.canary_judge import AnalysisState
from warden.rollout.arms import RolloutError
from warden.rollout.canary import (
    ArmEval,
    IndexFacts,
    ItemFigures,
    LiveArm,
    analyse,
    baseline_check,
    budget_for,
    failed_measurement,
    resume_budget,
    specs_for,
)

N = 60


def arm(*, hits: int, used: int, f1: float, cited_gold: int, seed: int = 0) -> ArmEval:
    rng = random.Random(seed)
    return ArmEval(tuple(ItemFigures(f"q{i}", max(0.0, min(1.0, f1 + rng.uniform(-.1, .1))),
                                     i < hits, i < used, 1, int(i < cited_gold), f"a{i}")
                         for i in range(N)))


def live(latency: float, n: int = N, seed: int = 1) -> LiveArm:
    rng = random.Random(seed)
    return LiveArm(tuple(latency * rng.uniform(0.8, 1.2) for _ in range(n)),
                   budget_checked=n)


GOOD = arm(hits=50, used=30, f1=0.5, cited_gold=30)
LIVE = {"champion": live(400), "challenger": live(400, seed=2)}
NEW_INDEX = IndexFacts((7,), chunks_total=1000, duplicates=200, leak_rows_checked=800)
CONFIG = CanaryConfig()


def test_an_equal_challenger_passes_and_a_degraded_index_fails() -> None:
    budget = AnalysisState(budget_for(CONFIG))
    same = analyse(CONFIG, GOOD, arm(hits=50, used=30, f1=0.5, cited_gold=30, seed=3),
                   live=LIVE, facts=NEW_INDEX, budget=budget)
    assert same.verdict == "pass", same.evidence()
    assert same.action == "continue" and same.budget.successful == 1
    degraded = analyse(CONFIG, GOOD, arm(hits=0, used=0, f1=0.45, cited_gold=0), live=LIVE,
                       facts=NEW_INDEX, budget=budget)
    assert degraded.verdict == "fail"
    failing = {k.name for k in degraded.result.kpis if k.verdict.value == "fail"}  # type: ignore[union-attr]
    assert {"oracle_retrieval_hit_prefilter", "reader_used_gold", "precision"} <= failing
    assert degraded.action == "abort"  # failure_limit 0: the first fail aborts


def test_a_slower_challenger_fails_latency_and_a_leaking_index_fails_critically() -> None:
    slow = analyse(CONFIG, GOOD, GOOD, live={"champion": live(400),
                                             "challenger": live(600, seed=2)},
                   facts=NEW_INDEX, budget=AnalysisState(budget_for(CONFIG)))
    latency = next(k for k in slow.result.kpis if k.name == "latency_p95")  # type: ignore[union-attr]
    assert latency.verdict.value == "fail"
    leaking = IndexFacts((7,), 1000, 200, 800, leak_problems=3)
    leak = analyse(CONFIG, GOOD, GOOD, live=LIVE, facts=leaking,
                   budget=AnalysisState(budget_for(CONFIG)))
    assert leak.verdict == "fail" and "prefix_leakage" in leak.result.reason  # type: ignore[union-attr]


def test_kpis_that_cannot_apply_are_left_out_with_the_reason() -> None:
    result = analyse(CONFIG, GOOD, GOOD, live=LIVE, facts=IndexFacts(),
                     budget=AnalysisState(budget_for(CONFIG)))
    assert result.skipped == {"dedup_rate": "the challenger serves no new index version",
                              "prefix_leakage": "the challenger serves no new index version",
                              "tool_call_schema_conformance":
                                  "no tool call in the challenger's traffic"}
    assert {k.name for k in result.result.kpis}.isdisjoint(result.skipped)  # type: ignore[union-attr]


def test_too_few_live_samples_are_inconclusive_never_a_pass() -> None:
    few = {"champion": live(400, n=20), "challenger": live(400, n=20)}
    result = analyse(CONFIG, GOOD, GOOD, live=few, facts=NEW_INDEX,
                     budget=AnalysisState(budget_for(CONFIG)))
    assert result.verdict == "inconclusive"
    latency = next(k for k in result.result.kpis if k.name == "latency_p95")  # type: ignore[union-attr]
    assert latency.verdict.value == "inconclusive" and "needs >= 50" in latency.reason


def test_the_budget_carries_over_and_errors_count_towards_their_limit() -> None:
    budget = resume_budget(budget_for(CONFIG), {"successful": 3, "consecutive_error": 4})
    assert budget.successful == 3
    errored = failed_measurement(budget, "server unreachable")
    assert errored.verdict == "error" and errored.action == "abort"  # 5 > limit 4
    assert errored.evidence()["error"] == "server unreachable"
    patient = CanaryConfig(inconclusive_limit=0)
    few = {"champion": live(400, n=5), "challenger": live(400, n=5)}
    paused = analyse(patient, GOOD, GOOD, live=few, facts=NEW_INDEX,
                     budget=AnalysisState(budget_for(patient)))
    assert paused.action == "pause"


def test_overrides_change_specs_and_unknown_kpis_are_refused() -> None:
    config = CanaryConfig(min_samples=8, kpis={
        "oracle_retrieval_hit_prefilter": {"critical": True, "low": 0.0},
        "dedup_rate": {"enabled": False}})
    specs = {s.name: s for s in specs_for(config)}
    assert "dedup_rate" not in specs
    oracle = specs["oracle_retrieval_hit_prefilter"]
    assert (oracle.critical, oracle.low, oracle.high, oracle.min_samples) == (True, 0.0, 0.15, 8)
    with pytest.raises(RolloutError, match="unknown KPI latency_p99"):
        specs_for(CanaryConfig(kpis={"latency_p99": {"high": 0.2}}))


def test_a_rerun_matching_the_baseline_and_one_that_does_not() -> None:
    same = baseline_check(CONFIG, GOOD, GOOD)
    assert same["matches_baseline"] and same["identical_answers"] == N
    worse = baseline_check(CONFIG, arm(hits=0, used=0, f1=0.1, cited_gold=0), GOOD)
    assert not worse["matches_baseline"]
