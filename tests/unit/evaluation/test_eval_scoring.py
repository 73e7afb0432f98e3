"""A run's metrics from item results: judge off, judged items, chunk texts unavailable,
judge noise over repeated labellings, and the measurements the gates read."""

from __future__ import annotations

from warden.evaluation.dataset import EvalItem
from warden.evaluation.judge import Judgement
from warden.evaluation.prompt import item_prompt
from warden.evaluation.ragchecker_input import CheckedQuery
from warden.evaluation.records import ItemResult, new_result
from warden.evaluation.scoring import CHUNK_METRICS, claim_scores

E, N = "Entailment", "Neutral"


def result(item_id: str, answer: str | None, judgement: Judgement | None = None) -> ItemResult:
    item = EvalItem(item_id, "Q?", "the answer", gold_doc_ids=("d.md",))
    out = new_result(item, item_prompt(item, []), {})
    out.answer, out.latency_s, out.judgement = answer, 1.0, judgement
    return out


def labelled(item_id: str, *rounds: tuple[str, ...]) -> Judgement:
    queries = tuple(CheckedQuery(item_id, labels, (E,), ((E,),) * len(labels), ((E,),))
                    for labels in rounds)
    return Judgement(item_id, ("c",) * len(rounds[0]), ("g",), queries)


def test_judge_off_leaves_every_claim_metric_unmeasured_with_the_reason() -> None:
    scores = claim_scores([result("a", "the answer")], "--judge none: no claim judge ran", None)
    assert scores.answer["token_f1"].value == 1.0
    assert all(not m.is_measured and "--judge none" in (m.reason or "")
               for m in scores.claims.values())
    assert "precision" in scores.gate_inputs() and "token_f1" in scores.gate_inputs()


def test_judged_items_score_and_failed_ones_are_reported() -> None:
    results = [result("a", "x", labelled("a", (E, N))), result("b", "y", labelled("b", (E,))),
               result("c", "z", Judgement("c", error="judge timed out")), result("d", "w")]
    scores = claim_scores(results, None, None)
    assert scores.judged == 3 and scores.judge_errors == ["c: judge timed out"]
    assert scores.claims["precision"].value == 75.0  # mean of 0.5 and 1.0, x100
    assert scores.claim_fractions["precision"].items == (0.5, 1.0)
    assert results[0].claim_metrics["precision"] == 0.5
    assert results[3].claim_metrics == {}


def test_without_chunk_texts_the_chunk_metrics_are_unmeasured() -> None:
    scores = claim_scores([result("a", "x", labelled("a", (E,)))], None, "no chunk texts")
    assert scores.claims["precision"].is_measured
    for name in CHUNK_METRICS:
        assert scores.claims[name].reason == "no chunk texts"
        assert not scores.claim_fractions[name].is_measured
    assert set(CHUNK_METRICS) == {"claim_recall", "context_precision", "context_utilization",
                                  "noise_sensitivity_in_relevant",
                                  "noise_sensitivity_in_irrelevant", "hallucination",
                                  "self_knowledge", "faithfulness"}


def test_every_judge_call_failing_is_a_failed_metric_not_a_zero() -> None:
    scores = claim_scores([result("a", "x", Judgement("a", error="boom"))], None, None)
    assert all(m.state == "failed" and "boom" in (m.reason or "")
               for m in scores.claims.values())


def test_repeats_give_judge_noise() -> None:
    results = [result("a", "x", labelled("a", (E, N), (E, E))),
               result("b", "y", labelled("b", (E,), (E,)))]
    scores = claim_scores(results, None, None)
    assert scores.noise is not None and scores.noise.n_labellings == 2
    assert scores.noise.spreads["precision"].values == (75.0, 100.0)
    assert scores.claims["precision"].value == 75.0  # the first (temperature 0) labelling
