"""Judge-free metrics from gold labels, and the three-state Metric."""

from __future__ import annotations

import math

import pytest

from warden.evaluation.answer_metrics import (
    Gold,
    ItemRecord,
    Ref,
    answer_metrics,
    cited_refs,
    exact_match,
    normalize_answer,
    oracle_hit,
    token_f1,
    used_gold,
)
from warden.evaluation.metric import Metric, MetricState

A1, A2, B1 = Ref("a1", "docA"), Ref("a2", "docA"), Ref("b1", "docB")


def test_squad_normalisation() -> None:
    assert normalize_answer("The  Nile, (of course)!") == "nile of course"
    assert normalize_answer("An apple a day") == "apple day"
    assert normalize_answer("theory") == "theory"  # articles only as whole words


def test_token_f1_hand_computed() -> None:
    # prediction tokens: nile river longest; gold: nile is longest river in africa
    # common = {nile, river, longest} = 3; P = 3/3, R = 3/6, F1 = 2/3
    assert token_f1("The Nile river, longest.", ["The Nile is the longest river in Africa"]) \
        == pytest.approx(2 / 3)
    # tokens count as a multiset: common {x: 1, y: 1} = 2, so P = R = 2/3
    assert token_f1("x x y", ["x y y"]) == pytest.approx(2 / 3)
    assert token_f1("nothing shared", ["Nile"]) == 0.0
    assert token_f1("Nile", ["Amazon", "the Nile"]) == 1.0  # best over gold answers
    assert token_f1("", ["Nile"]) == 0.0 and token_f1("the", ["a"]) == 0.0  # no 0/0
    assert token_f1("Nile", []) == 0.0


def test_exact_match() -> None:
    assert exact_match("the Nile.", ["Nile"]) == 1.0
    assert exact_match("Nile river", ["Nile"]) == 0.0
    assert exact_match("Amazon", ["Nile", "amazon"]) == 1.0


def test_gold_matching_by_chunk_or_document() -> None:
    by_chunk, by_doc = Gold(chunk_ids=frozenset({"a2"})), Gold(doc_ids=frozenset({"docB"}))
    assert oracle_hit([A1, A2], by_chunk) and not oracle_hit([A1, B1], by_chunk)
    assert oracle_hit([A1, B1], by_doc) and not oracle_hit([A1, A2], by_doc)
    assert used_gold([B1], by_doc) and not used_gold([], by_doc)


def test_cited_refs_follow_the_markers() -> None:
    offered = [(1, A1), (2, A2), (3, B1)]
    assert cited_refs("Nile [3], longest [1][3]. See [9].", offered) == (B1, A1)
    assert cited_refs("no markers", offered) == ()


def _records() -> list[ItemRecord]:
    gold_a = Gold(answers=("Nile",), chunk_ids=frozenset({"a1"}))
    gold_b = Gold(answers=("Amazon river",), doc_ids=frozenset({"docB"}))
    return [
        ItemRecord("q1", gold_a, answer="the Nile", candidates_prefilter=(A2, A1),
                   cited=(A2,), latency_s=1.0, context_tokens=100, context_budget=100,
                   prefix_leak=False),
        ItemRecord("q2", gold_b, answer="Amazon", candidates_prefilter=(A1,), cited=(),
                   latency_s=2.0, context_tokens=120, context_budget=100, prefix_leak=True),
        ItemRecord("q3", gold_b, answer=None, candidates_prefilter=(B1,), cited=(B1,),
                   latency_s=4.0, context_tokens=50, context_budget=100, prefix_leak=False),
        # no gold refs: excluded from the gold-use rates, still scored on answers
        ItemRecord("q4", Gold(answers=("x",)), answer="x", latency_s=3.0),
    ]


def test_answer_metrics_hand_computed() -> None:
    metrics = answer_metrics(_records())
    hit = metrics["oracle_retrieval_hit_prefilter"]
    assert hit.value == pytest.approx(2 / 3) and hit.items == (1.0, 0.0, 1.0)
    assert metrics["reader_used_gold"].value == pytest.approx(1 / 3)
    # F1: q1 1.0, q2 "amazon" vs "amazon river" 2/3, q3 failed 0, q4 1.0
    assert metrics["token_f1"].value == pytest.approx((1 + 2 / 3 + 0 + 1) / 4)
    assert metrics["exact_match"].value == pytest.approx(2 / 4)
    # latencies 1, 2, 4, 3 -> p50 2.5; p95 linear: 3 + 0.85 * (4 - 3) = 3.85
    assert metrics["latency_p50_s"].value == pytest.approx(2.5)
    assert metrics["latency_p95_s"].value == pytest.approx(3.85)
    assert metrics["budget_violations"].value == 1.0  # q2 only: 100 of 100 is within
    assert metrics["budget_violations"].items == (0.0, 1.0, 0.0)
    assert metrics["prefix_leakage_violations"].value == 1.0


def test_nothing_recorded_is_unmeasured_with_a_reason_never_nan() -> None:
    metrics = answer_metrics([ItemRecord("q", Gold())])
    for metric in metrics.values():
        assert metric.state is MetricState.UNMEASURED, metric.name
        assert metric.value is None and metric.reason
    assert answer_metrics([]).keys() == metrics.keys()


def test_metric_states_refuse_nan_and_silent_values() -> None:
    with pytest.raises(ValueError, match="finite"):
        Metric.measured("x", math.nan)
    with pytest.raises(ValueError, match="finite"):
        Metric.measured("x", 1.0, [1.0, math.inf])
    with pytest.raises(ValueError, match="needs a reason"):
        Metric.unmeasured("x", "")
    with pytest.raises(ValueError, match="has no value"):
        Metric("x", MetricState.FAILED, 0.0, "boom")
    assert Metric.failed("x", "judge timed out").plain() == {
        "value": None, "state": "failed", "reason": "judge timed out"}
    assert Metric.measured("x", 0.5, [0.0, 1.0]).plain() == {"value": 0.5,
                                                             "state": "measured", "n": 2}
