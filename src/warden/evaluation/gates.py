"""Quality gates from YAML, judged with confidence intervals over the eval items.

A gate is `<metric>_min: X` or `<metric>_max: X`. Its verdict is:
- pass / fail when the interval lies on one side of the threshold,
- inconclusive when the interval straddles it (the data cannot tell; never a pass),
- unmeasured when the metric could not be measured (its reason is carried along).
The gates file says whether an inconclusive gate fails the run (`inconclusive_fails`,
default true) and how many gates may be unmeasured (`unmeasured_max`, default 0).

Intervals: a mean gets the percentile bootstrap over items; a proportion (a 0/1 per item,
e.g. oracle hit) gets Wilson's score interval, because the bootstrap of 5 hits out of 5 is
the single point 1.0 and would pass any threshold on five items; p95 latency gets the
bootstrap of the 95th percentile; a violation count is exact (every item was checked).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from warden.evaluation.metric import Metric, MetricState
from warden.evaluation.stats import FloatArray, Interval, bootstrap_ci, mean, wilson_interval


class Statistic(StrEnum):
    MEAN = "mean"
    PROPORTION = "proportion"
    P95 = "p95"
    COUNT = "count"


class Direction(StrEnum):
    MIN = "min"
    MAX = "max"


class Verdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"
    UNMEASURED = "unmeasured"


@dataclass(frozen=True)
class GateMetric:
    measurement: str  # the Metric name the runner provides
    statistic: Statistic
    unit: str = "fraction"  # fraction thresholds must lie in 0..1


_MEAN_FRACTIONS = ("precision", "recall", "f1", "claim_recall", "context_precision",
                   "context_utilization", "noise_sensitivity_in_relevant",
                   "noise_sensitivity_in_irrelevant", "hallucination", "self_knowledge",
                   "faithfulness", "token_f1")
GATE_METRICS: dict[str, GateMetric] = {
    # precision/recall/f1/faithfulness...: RAGChecker's claim-level per-query fractions.
    **{name: GateMetric(name, Statistic.MEAN) for name in _MEAN_FRACTIONS},
    "exact_match": GateMetric("exact_match", Statistic.PROPORTION),
    "oracle_retrieval_hit": GateMetric("oracle_retrieval_hit_prefilter", Statistic.PROPORTION),
    "reader_used_gold": GateMetric("reader_used_gold", Statistic.PROPORTION),
    "latency": GateMetric("latency_p95_s", Statistic.P95, unit="s"),  # p95 end to end
    "budget_violations": GateMetric("budget_violations", Statistic.COUNT, unit="count"),
    "prefix_leakage": GateMetric("prefix_leakage_violations", Statistic.COUNT, unit="count"),
}
_OPTIONS = ("inconclusive_fails", "unmeasured_max", "confidence", "bootstrap_resamples", "seed")


class GatesError(ValueError):
    """The gates file is wrong; the message names the key and the fix."""


@dataclass(frozen=True)
class Gate:
    key: str  # as written, e.g. "recall_min"
    name: str  # e.g. "recall"
    direction: Direction
    threshold: float

    @property
    def metric(self) -> GateMetric:
        return GATE_METRICS[self.name]


@dataclass(frozen=True)
class GatesConfig:
    gates: tuple[Gate, ...]
    inconclusive_fails: bool = True
    unmeasured_max: int = 0
    confidence: float = 0.95
    bootstrap_resamples: int = 2000
    seed: int = 0

    def thresholds(self) -> dict[str, float]:
        return {gate.key: gate.threshold for gate in self.gates}


def _number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise GatesError(f"{key}: expected a number, got {value!r}")
    return float(value)


def _gate(key: str, value: Any) -> Gate:
    name, _, suffix = key.rpartition("_")
    if suffix not in ("min", "max") or name not in GATE_METRICS:
        known = ", ".join(f"{n}_min/{n}_max" for n in GATE_METRICS)
        raise GatesError(f"{key}: unknown gate; a gate is <metric>_min or <metric>_max with "
                         f"one of: {known}; options: {', '.join(_OPTIONS)}")
    threshold = _number(key, value)
    unit = GATE_METRICS[name].unit
    if unit == "fraction" and not 0 <= threshold <= 1:
        raise GatesError(f"{key}: {threshold:g} is outside 0..1; thresholds are fractions "
                         f"(write 0.85 for 85%)")
    if unit != "fraction" and threshold < 0:
        raise GatesError(f"{key}: {threshold:g} is negative; a {unit} cannot be")
    return Gate(key, name, Direction(suffix), threshold)


def parse_gates(data: Any) -> GatesConfig:
    """Gates from a decoded YAML/JSON document: the mapping itself, or under `quality_gates`."""
    if isinstance(data, dict) and set(data) == {"quality_gates"}:
        data = data["quality_gates"]
    if not isinstance(data, dict) or not data:
        raise GatesError("quality_gates: expected a mapping of gates, e.g. "
                         "{recall_min: 0.45, latency_max: 30.0}")
    options: dict[str, Any] = {}
    gates: list[Gate] = []
    for key, value in data.items():
        if not isinstance(key, str):
            raise GatesError(f"{key!r}: gate names are strings such as recall_min")
        if key in _OPTIONS:
            options[key] = value
        else:
            gates.append(_gate(key, value))
    if not gates:
        raise GatesError("quality_gates: no gate given; add at least one <metric>_min or "
                         "<metric>_max")
    fails = options.get("inconclusive_fails", True)
    if not isinstance(fails, bool):
        raise GatesError(f"inconclusive_fails: expected true or false, got {fails!r}")
    confidence = _number("confidence", options.get("confidence", 0.95))
    if not 0 < confidence < 1:
        raise GatesError(f"confidence: {confidence:g} must lie strictly between 0 and 1 "
                         "(e.g. 0.95)")
    integers: dict[str, int] = {}
    for key, default, least in (("unmeasured_max", 0, 0), ("bootstrap_resamples", 2000, 100),
                                ("seed", 0, 0)):
        value = options.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise GatesError(f"{key}: expected a whole number >= {least}, got {value!r}")
        integers[key] = value
    return GatesConfig(tuple(gates), fails, integers["unmeasured_max"], confidence,
                       integers["bootstrap_resamples"], integers["seed"])


def load_gates(path: Path) -> GatesConfig:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise GatesError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise GatesError(f"{path}: not valid YAML ({exc})") from None
    try:
        return parse_gates(data)
    except GatesError as exc:
        raise GatesError(f"{path}: {exc}") from None


@dataclass(frozen=True)
class GateResult:
    gate: Gate
    verdict: Verdict
    value: float | None = None
    interval: Interval | None = None
    n: int = 0
    reason: str | None = None

    def plain(self) -> dict[str, Any]:
        return {"gate": self.gate.key, "metric": self.gate.metric.measurement,
                "verdict": str(self.verdict), "value": self.value,
                "interval": None if self.interval is None else self.interval.as_dict(),
                "threshold": self.gate.threshold, "direction": str(self.gate.direction),
                "unit": self.gate.metric.unit, "n": self.n, "reason": self.reason}


@dataclass(frozen=True)
class GateReport:
    results: tuple[GateResult, ...]
    config: GatesConfig

    def count(self, verdict: Verdict) -> int:
        return sum(1 for r in self.results if r.verdict is verdict)

    def problems(self) -> list[str]:
        """Why the run does not pass; empty when it does."""
        out = [f"{r.gate.key}: fail ({r.reason})" for r in self.results
               if r.verdict is Verdict.FAIL]
        if self.config.inconclusive_fails:
            out += [f"{r.gate.key}: inconclusive ({r.reason}); inconclusive_fails is true"
                    for r in self.results if r.verdict is Verdict.INCONCLUSIVE]
        unmeasured = self.count(Verdict.UNMEASURED)
        if unmeasured > self.config.unmeasured_max:
            names = ", ".join(r.gate.key for r in self.results
                              if r.verdict is Verdict.UNMEASURED)
            out.append(f"{unmeasured} gate(s) unmeasured ({names}); unmeasured_max is "
                       f"{self.config.unmeasured_max}")
        return out

    @property
    def passed(self) -> bool:
        return not self.problems()

    def plain(self) -> dict[str, Any]:
        return {"passed": self.passed, "problems": self.problems(),
                "inconclusive_fails": self.config.inconclusive_fails,
                "unmeasured_max": self.config.unmeasured_max,
                "confidence": self.config.confidence,
                "gates": [r.plain() for r in self.results]}


def p95(values: FloatArray) -> float:
    return float(np.percentile(values, 95))


def _interval(gate: Gate, metric: Metric, config: GatesConfig) -> Interval | str:
    """The gate's interval, or why there is none."""
    items = np.asarray(metric.items, dtype=np.float64)
    statistic = gate.metric.statistic
    if statistic is Statistic.COUNT:
        count = float(items.sum()) if items.size else float(metric.value or 0.0)
        return Interval(count, count, count, config.confidence)
    if statistic is Statistic.PROPORTION:
        if items.size == 0:
            return "no per-item values to put an interval on"
        if not np.all((items == 0) | (items == 1)):
            return "a proportion needs 0/1 per item"
        return wilson_interval(int(items.sum()), int(items.size), config.confidence)
    if items.size < 2:
        return f"{items.size} item(s): an interval needs at least 2"
    return bootstrap_ci(items, statistic=p95 if statistic is Statistic.P95 else mean,
                        n_resamples=config.bootstrap_resamples, level=config.confidence,
                        seed=config.seed)


def judge_gate(gate: Gate, metric: Metric | None, config: GatesConfig) -> GateResult:
    if metric is None:
        return GateResult(gate, Verdict.UNMEASURED,
                          reason=f"no measurement named {gate.metric.measurement} was given")
    if metric.state is MetricState.UNMEASURED:
        return GateResult(gate, Verdict.UNMEASURED, reason=metric.reason)
    if metric.state is MetricState.FAILED:
        return GateResult(gate, Verdict.FAIL, reason=f"the metric failed: {metric.reason}")
    interval = _interval(gate, metric, config)
    if isinstance(interval, str):
        return GateResult(gate, Verdict.UNMEASURED, metric.value, n=len(metric.items),
                          reason=interval)
    value, threshold, n = interval.point, gate.threshold, len(metric.items)
    shown = (f"{value:.4g} [{interval.low:.4g}, {interval.high:.4g}] vs "
             f"{gate.direction} {threshold:g}")
    if interval.straddles(threshold):
        return GateResult(gate, Verdict.INCONCLUSIVE, value, interval, n,
                          f"{shown}: the interval straddles the threshold")
    ok = value >= threshold if gate.direction is Direction.MIN else value <= threshold
    return GateResult(gate, Verdict.PASS if ok else Verdict.FAIL, value, interval, n, shown)


def evaluate_gates(config: GatesConfig, measurements: Mapping[str, Metric]) -> GateReport:
    """Every gate's verdict on the given metrics (keyed by Metric name)."""
    return GateReport(tuple(judge_gate(gate, measurements.get(gate.metric.measurement), config)
                            for gate in config.gates), config)
