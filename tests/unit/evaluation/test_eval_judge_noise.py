"""Judge noise over N labellings: agreement figures and per-metric spread, by hand."""

from __future__ import annotations

from typing import Any

import pytest

from warden.evaluation.judge_noise import LabellingMismatch, judge_noise
from warden.evaluation.metric import MetricState
from warden.evaluation.ragchecker_input import CheckedQuery, parse_checking_output

E, N, C = "Entailment", "Neutral", "Contradiction"


def _labelling(*results: dict[str, Any]) -> list[CheckedQuery]:
    return parse_checking_output({"results": list(results)})


THREE = [
    _labelling({"query_id": "q", "answer2response": [E, N], "response2answer": [E]}),
    _labelling({"query_id": "q", "answer2response": [E, E], "response2answer": [E]}),
    _labelling({"query_id": "q", "answer2response": [E, C], "response2answer": [N]}),
]


def test_agreement_hand_computed() -> None:
    noise = judge_noise(THREE)
    assert noise.n_labellings == 3 and noise.n_cells == 3
    agreement = noise.agreement
    # cells: (E,E,E) -> 1; (N,E,C) -> 0; (E,E,N) -> 1 agreeing pair of 3 = 1/3
    assert agreement["pairwise_agreement"].value == pytest.approx(4 / 9)
    assert agreement["unanimous_rate"].value == pytest.approx(1 / 3)
    assert agreement["entailment_unanimous_rate"].value == pytest.approx(1 / 3)
    # label shares E 6/9, N 2/9, C 1/9: chance 41/81; kappa (36/81 - 41/81) / (40/81)
    assert agreement["fleiss_kappa"].value == pytest.approx(-0.125)


def test_spread_hand_computed() -> None:
    noise = judge_noise(THREE)
    precision = noise.spreads["precision"]
    assert precision.values == pytest.approx((50.0, 100.0, 50.0))
    assert (precision.minimum, precision.maximum) == (50.0, 100.0)
    assert precision.sd == pytest.approx(28.8675, abs=1e-4)  # sample sd (n - 1)
    assert noise.spreads["recall"].sd == pytest.approx(57.7350, abs=1e-4)
    assert noise.spreads["f1"].values == pytest.approx((200 / 3, 100.0, 0.0))
    assert "retrieved2answer" in noise.unmeasured["claim_recall"]
    assert "claim_recall" not in noise.spreads
    assert noise.plain()["spread"]["precision"]["max"] == 100.0


def test_identical_labellings_agree_fully_and_kappa_is_undefined() -> None:
    same = _labelling({"query_id": "q", "answer2response": [E, E], "response2answer": [E]})
    noise = judge_noise([same, same])
    assert noise.agreement["pairwise_agreement"].value == 1.0
    assert noise.agreement["unanimous_rate"].value == 1.0
    kappa = noise.agreement["fleiss_kappa"]
    assert kappa.state is MetricState.UNMEASURED and "undefined" in (kappa.reason or "")
    assert noise.spreads["precision"].sd == 0.0


def test_labellings_must_label_the_same_claims() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        judge_noise(THREE[:1])
    other_claims = _labelling({"query_id": "q", "answer2response": [E, N, N],
                               "response2answer": [E]})
    with pytest.raises(LabellingMismatch, match="other claims"):
        judge_noise([THREE[0], other_claims])
    other_query = _labelling({"query_id": "z", "answer2response": [E, N],
                              "response2answer": [E]})
    with pytest.raises(LabellingMismatch, match="query ids differ"):
        judge_noise([THREE[0], other_query])
    with pytest.raises(LabellingMismatch, match="has 2 results"):
        judge_noise([THREE[0], THREE[0] + THREE[1]])
