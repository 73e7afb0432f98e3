"""One canary analysis (pure): the KPIs from the smoke runs and the live traffic, judged by
`evaluation.canary_judge`, and the next step under the Argo-style budget.

Data sources, per the issue's table:
  smoke eval, same prompts on both arms   oracle_retrieval_hit_prefilter, reader_used_gold,
                                          f1 (token F1 per item), precision (share of cited
                                          chunks that are gold: citation precision)
  live traffic, per arm                   latency_p95 (Mann-Whitney + p95 bootstrap),
                                          budget_violations, tool_call_schema_conformance
  the challenger's index versions         dedup_rate (on new versions), prefix_leakage
A KPI whose source cannot apply to this rollout (no new index version: no dedup rate; no tool
call in the window: no conformance) is left out with the reason in the evidence; one that
applies but lacks data stays in and is inconclusive (never a pass).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from warden.config.rollouts import CanaryConfig
from warden.evaluation.canary_judge import (
    DEFAULT_KPIS,
    AnalysisBudget,
    AnalysisState,
    CanaryPolicy,
    CanaryResult,
    Counts,
    KpiKind,
    KpiMeasurement,
    KpiSpec,
    KpiVerdict,
    MeasurementPhase,
    judge_canary,
)
from warden.rollout.arms import RolloutError

KNOWN_KPIS = tuple(spec.name for spec in DEFAULT_KPIS)
QUALITY_KPIS = ("oracle_retrieval_hit_prefilter", "reader_used_gold", "f1", "precision")


@dataclass(frozen=True)
class ItemFigures:
    """One smoke item's judge-free figures on one arm (None: not applicable to it)."""

    item_id: str
    f1: float
    oracle_hit: bool | None
    used_gold: bool | None
    cited: int
    cited_gold: int
    answer_sha256: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class ArmEval:
    items: tuple[ItemFigures, ...]

    @property
    def errors(self) -> int:
        return sum(i.error is not None for i in self.items)

    def counts(self, attribute: str) -> Counts:
        seen = [getattr(i, attribute) for i in self.items if getattr(i, attribute) is not None]
        return Counts(sum(bool(v) for v in seen), len(seen))

    def f1(self) -> list[float]:
        return [i.f1 for i in self.items]

    def precision(self) -> Counts:
        return Counts(sum(i.cited_gold for i in self.items), sum(i.cited for i in self.items))

    def summary(self) -> dict[str, Any]:
        f1 = self.f1()
        oracle, used, precision = self.counts("oracle_hit"), self.counts("used_gold"), \
            self.precision()

        def rate(c: Counts) -> float | None:
            return round(c.successes / c.n, 4) if c.n else None

        return {"items": len(self.items), "errors": self.errors,
                "f1": round(sum(f1) / len(f1), 4) if f1 else None,
                "oracle_retrieval_hit_prefilter": rate(oracle),
                "reader_used_gold": rate(used), "precision": rate(precision)}


@dataclass(frozen=True)
class LiveArm:
    """An arm's live traffic in the window (numbers only)."""

    latency_ms: tuple[float, ...] = ()
    budget_checked: int = 0
    budget_violations: int = 0
    tool_calls: int = 0
    tool_calls_invalid: int = 0
    errors: int = 0

    @classmethod
    def from_plain(cls, raw: Mapping[str, Any]) -> LiveArm:
        return cls(tuple(float(x) for x in raw.get("latency_ms", ())),
                   int(raw.get("budget_checked", 0)), int(raw.get("budget_violations", 0)),
                   int(raw.get("tool_calls", 0)), int(raw.get("tool_calls_invalid", 0)),
                   int(raw.get("errors", 0)))


@dataclass(frozen=True)
class IndexFacts:
    """The challenger's index versions that differ from the champion's."""

    new_versions: tuple[int, ...] = ()
    chunks_total: int = 0
    duplicates: int = 0
    leak_rows_checked: int = 0
    leak_problems: int = 0

    @classmethod
    def from_plain(cls, raw: Mapping[str, Any]) -> IndexFacts:
        return cls(tuple(int(v) for v in raw.get("new_versions", ())),
                   int(raw.get("chunks_total", 0)), int(raw.get("duplicates", 0)),
                   int(raw.get("leak_rows_checked", 0)), int(raw.get("leak_problems", 0)))


def specs_for(config: CanaryConfig) -> list[KpiSpec]:
    """The default KPIs with the config's overrides and min_samples; unknown names fail."""
    unknown = sorted(set(config.kpis) - set(KNOWN_KPIS))
    if unknown:
        raise RolloutError(f"canary.kpis: unknown KPI {', '.join(unknown)} (known: "
                           f"{', '.join(KNOWN_KPIS)})")
    specs = []
    for default in DEFAULT_KPIS:
        override = config.kpis.get(default.name)
        if override is not None and not override.enabled:
            continue
        changes = {} if override is None else {
            k: v for k, v in override.model_dump(exclude={"enabled"}).items() if v is not None}
        specs.append(replace(default, **{"min_samples": config.min_samples, **changes}))
    return specs


def policy_for(config: CanaryConfig) -> CanaryPolicy:
    return CanaryPolicy(level=config.confidence, marginal_level=config.marginal_confidence,
                        pass_score=config.pass_score, marginal_score=config.marginal_score)


def budget_for(config: CanaryConfig) -> AnalysisBudget:
    return AnalysisBudget(failure_limit=config.failure_limit,
                          inconclusive_limit=config.inconclusive_limit,
                          consecutive_error_limit=config.consecutive_error_limit)


def measurements(champion: ArmEval, challenger: ArmEval, live: Mapping[str, LiveArm],
                 facts: IndexFacts) -> tuple[list[KpiMeasurement], dict[str, str]]:
    """Every KPI's data, and the KPIs that cannot apply to this rollout (with why)."""
    old, new = live.get("champion", LiveArm()), live.get("challenger", LiveArm())
    out = [
        KpiMeasurement("oracle_retrieval_hit_prefilter", challenger.counts("oracle_hit"),
                       champion.counts("oracle_hit")),
        KpiMeasurement("reader_used_gold", challenger.counts("used_gold"),
                       champion.counts("used_gold")),
        KpiMeasurement("f1", challenger.f1(), champion.f1()),
        KpiMeasurement("precision", challenger.precision(), champion.precision()),
        KpiMeasurement("latency_p95", new.latency_ms, old.latency_ms),
        KpiMeasurement("budget_violations", Counts(new.budget_violations, new.budget_checked)),
    ]
    skipped: dict[str, str] = {}
    if facts.new_versions:
        out.append(KpiMeasurement("dedup_rate", Counts(facts.duplicates, facts.chunks_total)))
        out.append(KpiMeasurement("prefix_leakage",
                                  Counts(facts.leak_problems, max(facts.leak_rows_checked,
                                                                  facts.leak_problems))))
    else:
        reason = "the challenger serves no new index version"
        skipped["dedup_rate"] = skipped["prefix_leakage"] = reason
    if new.tool_calls:
        out.append(KpiMeasurement("tool_call_schema_conformance",
                                  Counts(new.tool_calls - new.tool_calls_invalid,
                                         new.tool_calls)))
    else:
        skipped["tool_call_schema_conformance"] = "no tool call in the challenger's traffic"
    return out, skipped


@dataclass(frozen=True)
class Analysis:
    result: CanaryResult | None  # None: the measurement itself failed (Argo's Error)
    skipped: dict[str, str]
    budget: AnalysisState
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        return "error" if self.result is None else self.result.verdict.value

    @property
    def score(self) -> float | None:
        return None if self.result is None else round(self.result.score, 2)

    @property
    def action(self) -> str:
        return self.budget.action.value

    def evidence(self) -> dict[str, Any]:
        return {"result": None if self.result is None else self.result.as_dict(),
                "not_applicable": self.skipped, "error": self.error,
                "budget": budget_plain(self.budget), **self.extra}


def budget_plain(state: AnalysisState) -> dict[str, int]:
    return {"successful": state.successful, "failed": state.failed,
            "inconclusive": state.inconclusive, "error": state.error,
            "consecutive_error": state.consecutive_error}


def resume_budget(budget: AnalysisBudget, previous: Mapping[str, Any] | None) -> AnalysisState:
    """The counters carried over from the last verdict on the same challenger."""
    counters = dict(previous or {})
    return AnalysisState(budget, **{k: int(counters.get(k, 0)) for k in
                                    ("successful", "failed", "inconclusive", "error",
                                     "consecutive_error")})


def analyse(config: CanaryConfig, champion: ArmEval, challenger: ArmEval, *,
            live: Mapping[str, LiveArm], facts: IndexFacts, budget: AnalysisState
            ) -> Analysis:
    data, skipped = measurements(champion, challenger, live, facts)
    specs = [s for s in specs_for(config) if s.name not in skipped]
    known = {s.name for s in specs}
    result = judge_canary([m for m in data if m.name in known], specs, policy_for(config))
    return Analysis(result, skipped, _recorded(budget, result.verdict.value))


def failed_measurement(budget: AnalysisState, error: str) -> Analysis:
    return Analysis(None, {}, _recorded(budget, MeasurementPhase.ERROR), error=error)


def _recorded(budget: AnalysisState, outcome: str | MeasurementPhase) -> AnalysisState:
    if budget.action.value != "continue":  # an ended analysis restarts its counters
        budget = AnalysisState(budget.budget)
    return budget.record(outcome if isinstance(outcome, MeasurementPhase)
                         else KpiVerdict(outcome))


def baseline_check(config: CanaryConfig, rerun: ArmEval, baseline: ArmEval,
                   tolerance: float = 0.05) -> dict[str, Any]:
    """After a rollback: does the champion's smoke rerun match the baseline? Each quality KPI
    may not be confidently worse than the baseline by more than `tolerance`; identical
    answers (temperature 0, seed 42) are counted as well."""
    kinds = {"f1": KpiKind.MEAN}
    specs = [KpiSpec(name, kinds.get(name, KpiKind.PROPORTION), low=-tolerance,
                     min_samples=config.min_samples) for name in QUALITY_KPIS]
    data, _ = measurements(baseline, rerun, {}, IndexFacts())
    result = judge_canary([m for m in data if m.name in QUALITY_KPIS], specs,
                          policy_for(config))
    before = {i.item_id: i.answer_sha256 for i in baseline.items}
    shared = [i for i in rerun.items if i.item_id in before and i.answer_sha256]
    same = sum(before[i.item_id] == i.answer_sha256 for i in shared)
    matches = all(k.verdict.value != "fail" for k in result.kpis)
    return {"matches_baseline": matches, "verdict": result.verdict.value,
            "kpis": [k.as_dict() for k in result.kpis],
            "identical_answers": same, "compared_items": len(shared),
            "rerun": rerun.summary(), "baseline": baseline.summary()}

