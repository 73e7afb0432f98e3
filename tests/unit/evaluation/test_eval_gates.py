"""Quality gates: parsing, and pass / fail / inconclusive / unmeasured with intervals."""

from __future__ import annotations

from pathlib import Path

import pytest

from warden.evaluation.gates import (
    GatesConfig,
    GatesError,
    Verdict,
    evaluate_gates,
    load_gates,
    parse_gates,
)
from warden.evaluation.metric import Metric

SEED_YAML = """
quality_gates:
  precision_min: 0.20
  recall_min: 0.45
  f1_min: 0.22
  latency_max: 30.0
  faithfulness_min: 0.60
  oracle_retrieval_hit_min: 0.85
  reader_used_gold_min: 0.70
  budget_violations_max: 0
  prefix_leakage_max: 0
  unmeasured_max: 1
  inconclusive_fails: false
"""


def _config(**gates: float | bool | int) -> GatesConfig:
    return parse_gates(dict(gates))


def _mean_metric(name: str, values: list[float]) -> Metric:
    return Metric.measured(name, sum(values) / len(values), values)


def _verdict(config: GatesConfig, metric: Metric) -> Verdict:
    return evaluate_gates(config, {metric.name: metric}).results[0].verdict


def test_seed_gates_file_parses(tmp_path: Path) -> None:
    path = tmp_path / "gates.yaml"
    path.write_text(SEED_YAML)
    config = load_gates(path)
    assert config.thresholds() == {
        "precision_min": 0.20, "recall_min": 0.45, "f1_min": 0.22, "latency_max": 30.0,
        "faithfulness_min": 0.60, "oracle_retrieval_hit_min": 0.85,
        "reader_used_gold_min": 0.70, "budget_violations_max": 0.0,
        "prefix_leakage_max": 0.0}
    assert config.unmeasured_max == 1 and config.inconclusive_fails is False
    measured = {gate.metric.measurement for gate in config.gates}
    assert {"oracle_retrieval_hit_prefilter", "latency_p95_s",
            "prefix_leakage_violations"} <= measured


@pytest.mark.parametrize(("data", "fragment"), [
    ({"recal_min": 0.4}, "recal_min: unknown gate"),
    ({"recall_minimum": 0.4}, "recall_minimum: unknown gate"),
    ({"recall_min": 45}, "outside 0..1; thresholds are fractions"),
    ({"recall_min": "high"}, "recall_min: expected a number"),
    ({"latency_max": -1}, "negative"),
    ({"recall_min": 0.4, "inconclusive_fails": "yes"}, "inconclusive_fails: expected true"),
    ({"recall_min": 0.4, "unmeasured_max": -1}, "unmeasured_max: expected a whole number"),
    ({"recall_min": 0.4, "confidence": 95}, "confidence: 95 must lie strictly"),
    ({"unmeasured_max": 0}, "no gate given"),
    ({}, "expected a mapping of gates"),
])
def test_bad_gates_name_the_key(data: dict[str, object], fragment: str) -> None:
    with pytest.raises(GatesError) as caught:
        parse_gates(data)
    assert fragment in str(caught.value)


def test_bad_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "gates.yaml"
    path.write_text("quality_gates: [recall_min: : 1")
    with pytest.raises(GatesError, match="not valid YAML"):
        load_gates(path)


def test_mean_gate_pass_fail_and_inconclusive() -> None:
    config = _config(recall_min=0.5)
    assert _verdict(config, _mean_metric("recall", [0.8, 0.9, 0.85, 0.95, 0.9] * 4)) \
        is Verdict.PASS
    assert _verdict(config, _mean_metric("recall", [0.1, 0.2, 0.15, 0.25, 0.2] * 4)) \
        is Verdict.FAIL
    # mean 0.55 is above 0.5, but with this spread the interval reaches below it
    straddling = _mean_metric("recall", [0.0, 1.0, 0.75, 0.25, 0.75])
    result = evaluate_gates(config, {"recall": straddling}).results[0]
    assert result.verdict is Verdict.INCONCLUSIVE
    assert result.value == pytest.approx(0.55)
    assert result.interval is not None and result.interval.low < 0.5 < result.interval.high
    assert result.plain()["threshold"] == 0.5 and result.plain()["interval"]["level"] == 0.95


def test_proportion_gate_uses_wilson_so_five_of_five_is_not_proof() -> None:
    config = _config(oracle_retrieval_hit_min=0.85)
    five = Metric.measured("oracle_retrieval_hit_prefilter", 1.0, [1.0] * 5)
    result = evaluate_gates(config, {five.name: five}).results[0]
    assert result.verdict is Verdict.INCONCLUSIVE  # Wilson 95%: [0.566, 1]
    assert result.interval is not None and result.interval.low == pytest.approx(0.5655, abs=1e-3)
    fifty = Metric.measured(five.name, 1.0, [1.0] * 50)
    assert _verdict(config, fifty) is Verdict.PASS  # [0.929, 1]
    poor = Metric.measured(five.name, 0.5, [1.0, 0.0] * 25)
    assert _verdict(config, poor) is Verdict.FAIL


def test_violation_counts_are_exact() -> None:
    config = _config(budget_violations_max=0)
    clean = Metric.measured("budget_violations", 0.0, [0.0] * 200)
    one = Metric.measured("budget_violations", 1.0, [0.0] * 199 + [1.0])
    assert _verdict(config, clean) is Verdict.PASS
    result = evaluate_gates(config, {one.name: one}).results[0]
    assert result.verdict is Verdict.FAIL and result.value == 1.0
    assert result.interval is not None and result.interval.low == result.interval.high == 1.0


def test_latency_gate_on_p95() -> None:
    config = _config(latency_max=30.0)
    fast = Metric.measured("latency_p95_s", 2.0, [1.0 + 0.01 * i for i in range(100)])
    slow = Metric.measured("latency_p95_s", 40.0, [35.0 + 0.1 * i for i in range(100)])
    assert _verdict(config, fast) is Verdict.PASS
    assert _verdict(config, slow) is Verdict.FAIL


def test_unmeasured_budget_and_inconclusive_policy() -> None:
    measurements = {
        "recall": _mean_metric("recall", [0.0, 1.0, 0.75, 0.25, 0.75]),  # inconclusive
        "faithfulness": Metric.unmeasured("faithfulness", "retrieved2response missing"),
    }
    strict = evaluate_gates(_config(recall_min=0.5, faithfulness_min=0.6), measurements)
    assert [r.verdict for r in strict.results] == [Verdict.INCONCLUSIVE, Verdict.UNMEASURED]
    assert strict.results[1].reason == "retrieved2response missing"
    assert not strict.passed
    assert any("unmeasured_max is 0" in p for p in strict.problems())
    assert any("recall_min: inconclusive" in p for p in strict.problems())
    lenient = evaluate_gates(_config(recall_min=0.5, faithfulness_min=0.6, unmeasured_max=1,
                                     inconclusive_fails=False), measurements)
    assert lenient.passed and lenient.problems() == []
    assert lenient.plain()["gates"][0]["verdict"] == "inconclusive"


def test_missing_failed_and_too_small_measurements() -> None:
    config = _config(recall_min=0.5, precision_min=0.5, f1_min=0.5)
    report = evaluate_gates(config, {
        "recall": Metric.failed("recall", "judge crashed"),
        "precision": _mean_metric("precision", [0.9]),  # one item: no interval
    })
    verdicts = {r.gate.key: r for r in report.results}
    assert verdicts["recall_min"].verdict is Verdict.FAIL
    assert "judge crashed" in (verdicts["recall_min"].reason or "")
    assert verdicts["precision_min"].verdict is Verdict.UNMEASURED
    assert "at least 2" in (verdicts["precision_min"].reason or "")
    assert verdicts["f1_min"].verdict is Verdict.UNMEASURED
    assert "no measurement named f1" in (verdicts["f1_min"].reason or "")
    assert not report.passed


def test_intervals_are_reproducible_with_the_seed() -> None:
    metric = _mean_metric("recall", [0.1 * i for i in range(11)])
    first = evaluate_gates(_config(recall_min=0.4, seed=7), {"recall": metric}).results[0]
    again = evaluate_gates(_config(recall_min=0.4, seed=7), {"recall": metric}).results[0]
    assert first.interval == again.interval
