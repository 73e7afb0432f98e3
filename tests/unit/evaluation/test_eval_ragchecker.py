"""RAGChecker metrics from labels: the published example, hand-computed cases, edge cases."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from warden.evaluation.metric import MetricState
from warden.evaluation.ragchecker import METRIC_GROUPS, METRICS, query_metrics, score_queries
from warden.evaluation.ragchecker_input import (
    CheckedQuery,
    CheckingOutputError,
    load_checking_output,
    parse_checking_output,
)

DATA = Path(__file__).resolve().parents[2] / "data" / "evaluation"
EXAMPLE = DATA / "ragchecker_example_checking_outputs.json"
EXPECTED = DATA / "ragchecker_example_expected.json"

E, N, C = "Entailment", "Neutral", "Contradiction"


def _query(**labels: Any) -> CheckedQuery:
    return parse_checking_output({"results": [{"query_id": "q", **labels}]})[0]


# A hand-built query: 3 chunks (c0, c1 relevant; c2 irrelevant), 4 answer claims, 5 response
# claims, one response claim of each kind.
HAND = {
    "retrieved_context": [{"text": "c0"}, {"text": "c1"}, {"text": "c2"}],
    "gt_answer_claims": ["g0", "g1", "g2", "g3"],
    "response_claims": ["r0", "r1", "r2", "r3", "r4"],
    "retrieved2answer": [[E, N, N],   # g0 in c0
                         [N, E, N],   # g1 in c1
                         [N, N, N],   # g2 in no chunk
                         [E, N, C]],  # g3 in c0
    "response2answer": [E, N, E, E],  # the response states g0, g2, g3
    "answer2response": [E, E, N, C, N],  # r0, r1 correct
    "retrieved2response": [[E, N, N],   # r0: correct, from relevant c0
                           [N, N, N],   # r1: correct, from no chunk (self-knowledge)
                           [N, E, N],   # r2: wrong, from relevant c1
                           [N, N, E],   # r3: wrong, from irrelevant c2 only
                           [N, N, N]],  # r4: wrong, from no chunk (hallucination)
}


def test_published_example_group_figures_match_ragchecker() -> None:
    expected = json.loads(EXPECTED.read_text())
    ours = score_queries(load_checking_output(EXAMPLE)).grouped()
    for group, names in METRIC_GROUPS.items():
        for name in names:
            assert ours[group][name] == expected[group][name], (group, name)


def test_published_example_per_query_values_match_the_file_exactly() -> None:
    document = json.loads(EXAMPLE.read_text())
    # The file also stores RAGChecker's own group figures: the same as the README's.
    assert document["metrics"] == {k: v for k, v in json.loads(EXPECTED.read_text()).items()
                                   if k != "_source"}
    score = score_queries(load_checking_output(EXAMPLE))
    assert [q.query_id for q in score.per_query] == ["0", "1"]
    for ours, theirs in zip(score.per_query, document["results"], strict=True):
        assert ours.metrics == theirs["metrics"]  # bit for bit, all 11 metrics


def test_every_metric_hand_computed() -> None:
    got = query_metrics(_query(**HAND))
    assert got["precision"] == pytest.approx(2 / 5)
    assert got["recall"] == pytest.approx(3 / 4)
    assert got["f1"] == pytest.approx(2 * 0.4 * 0.75 / (0.4 + 0.75))
    assert got["claim_recall"] == pytest.approx(3 / 4)  # g0, g1, g3
    assert got["context_precision"] == pytest.approx(2 / 3)  # c0, c1
    assert got["context_utilization"] == pytest.approx(2 / 3)  # of g0,g1,g3: g0 and g3
    assert got["noise_sensitivity_in_relevant"] == pytest.approx(1 / 5)  # r2
    assert got["noise_sensitivity_in_irrelevant"] == pytest.approx(1 / 5)  # r3
    assert got["hallucination"] == pytest.approx(1 / 5)  # r4
    assert got["self_knowledge"] == pytest.approx(1 / 5)  # r1
    assert got["faithfulness"] == pytest.approx(3 / 5)  # r0, r2, r3


def test_noise_sensitivity_counts_a_claim_once_relevant_first() -> None:
    # r0 is wrong and entailed by both the relevant c0 and the irrelevant c1.
    got = query_metrics(_query(retrieved2answer=[[E, N]], response2answer=[E],
                               answer2response=[N], retrieved2response=[[E, E]]))
    assert got["noise_sensitivity_in_relevant"] == 1.0
    assert got["noise_sensitivity_in_irrelevant"] == 0.0


def test_only_the_exact_label_entailment_counts() -> None:
    got = query_metrics(_query(answer2response=["entailment", "ENTAILMENT", "Entailed", E],
                               response2answer=[C, N]))
    assert got["precision"] == 0.25
    assert got["recall"] == 0.0
    assert got["f1"] == 0.0  # recall 0: F1 is 0, not a division


def test_group_figure_is_macro_average_times_100_one_decimal() -> None:
    queries = parse_checking_output({"results": [
        {"query_id": "a", "answer2response": [E, N, N]},  # 1/3
        {"query_id": "b", "answer2response": [N]},  # 0
        {"query_id": "c", "answer2response": [E, E, E, E, E, E, N]},  # 6/7
    ]})
    precision = score_queries(queries).metrics["precision"]
    assert precision.value == 39.7  # (1/3 + 0 + 6/7) / 3 = 0.3968...
    assert precision.items == pytest.approx((1 / 3, 0.0, 6 / 7))


@pytest.mark.parametrize("labels", [
    {"answer2response": [], "response2answer": [], "retrieved2response": [],
     "retrieved2answer": []},
    # chunks retrieved but no claims at all
    {"retrieved_context": [{"text": "x"}], "answer2response": [], "response2answer": [],
     "retrieved2response": [], "retrieved2answer": []},
    # claims but nothing retrieved: rows of zero labels
    {"answer2response": [E], "response2answer": [E], "retrieved2response": [[]],
     "retrieved2answer": [[]]},
])
def test_empty_inputs_give_zero_never_nan(labels: dict[str, Any]) -> None:
    got = query_metrics(_query(**labels))
    for name in METRICS:
        value = got[name]
        assert value is not None and not math.isnan(value), name
    if labels["answer2response"]:  # only retrieval-based metrics are empty here
        assert got["precision"] == 1.0
        for name in ("claim_recall", "context_precision", "context_utilization",
                     "faithfulness", "hallucination", "self_knowledge",
                     "noise_sensitivity_in_relevant"):
            assert got[name] == 0.0, name
    else:
        assert all(got[name] == 0.0 for name in METRICS)
    score = score_queries([_query(**labels)])
    assert all(m.state is MetricState.MEASURED for m in score.metrics.values())


def test_missing_label_set_makes_its_metrics_unmeasured_with_the_reason() -> None:
    queries = parse_checking_output({"results": [
        {"query_id": "a", "answer2response": [E], "response2answer": [E]},
        {"query_id": "b", "answer2response": [N], "response2answer": [E],
         "retrieved2answer": [[E]]},
    ]})
    score = score_queries(queries)
    assert score.metrics["precision"].value == 50.0
    claim_recall = score.metrics["claim_recall"]
    assert claim_recall.state is MetricState.UNMEASURED and claim_recall.value is None
    assert "retrieved2answer" in (claim_recall.reason or "")
    assert "query_id a" in (claim_recall.reason or "")
    assert score.grouped()["retriever"]["claim_recall"] is None
    assert "faithfulness" in score.unmeasured()
    assert score.per_query[1].metrics["claim_recall"] == 1.0


def test_fractions_feed_gates_unrounded() -> None:
    fractions = score_queries(load_checking_output(EXAMPLE)).fractions()
    assert fractions["precision"].value == pytest.approx((8 / 11 + 4 / 5) / 2)
    assert len(fractions["precision"].items) == 2


@pytest.mark.parametrize(("document", "fragment"), [
    ([], "top level"),
    ({"result": []}, "top level"),
    ({"results": {}}, "results: expected a list"),
    ({"results": []}, "results: the list is empty"),
    ({"results": [{"query_id": "0", "query": "q", "gt_answer": "a", "response": "b"}]},
     "checking INPUT file"),
    ({"results": ["x"]}, "results[0]: expected an object"),
    ({"results": [{"answer2response": "Entailment"}]}, "results[0].answer2response: expected"),
    ({"results": [{"answer2response": [True]}]}, "results[0].answer2response[0]"),
    ({"results": [{"retrieved2answer": [[E, N], [E]]}]}, "results[0].retrieved2answer[1]"),
    ({"results": [{"response_claims": ["a", "b"], "answer2response": [E]}]},
     "results[0].answer2response: has 1 entries but there are 2 response claims"),
    ({"results": [{"answer2response": [E, E], "retrieved2response": [[E]]}]},
     "results[0].retrieved2response: has 1 entries"),
    ({"results": [{"retrieved_context": [{}, {}], "retrieved2answer": [[E]]}]},
     "results[0].retrieved2answer[0]: has 1 entries but there are 2 chunks"),
    ({"results": [{"retrieved2answer": [[E]], "retrieved2response": [[E, N]]}]},
     "retrieved2response rows have 2 labels but retrieved2answer rows have 1"),
])
def test_malformed_documents_name_the_problem(document: Any, fragment: str) -> None:
    with pytest.raises(CheckingOutputError, match=None) as caught:
        parse_checking_output(document)
    assert fragment in str(caught.value)


def test_unreadable_files_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(CheckingOutputError, match="no such file"):
        load_checking_output(tmp_path / "absent.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"results": [')
    with pytest.raises(CheckingOutputError, match="not valid JSON"):
        load_checking_output(broken)
