"""The semantic test suite (data/suite/) and how a run over it is scored (pure).

Each case has the decision the written policy requires. A run records, per case, what the
advisor said alone and what the hybrid said (the advisor through the rules fail-safe, falling
back to the rules when the advisor erred), and the pass rates come with Wilson intervals,
overall and per action type. A wrong allow on a high-risk action is counted on its own: the
seed's "no critical errors" target is zero of them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from warden.policy.decision import Decision
from warden.policy.measurement import Rate, grouped
from warden.policy.situation import Situation

SHIPPED_SUITE = "semantic_suite.jsonl"


@dataclass(frozen=True)
class SuiteCase:
    id: str
    situation: Situation
    expected: Decision
    clauses: tuple[str, ...] = ()


def parse_suite(text: str, source: str) -> list[SuiteCase]:
    cases: list[SuiteCase] = []
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            case = SuiteCase(str(raw["id"]), Situation.model_validate(raw["situation"]),
                             Decision.parse(raw["expected"], "expected"),
                             tuple(raw.get("clauses", ())))
        except (ValueError, KeyError, TypeError, ValidationError) as exc:
            raise ValueError(f"{source} line {number}: needs id, situation and expected "
                             f"({exc})") from exc
        if case.id in seen:
            raise ValueError(f"{source} line {number}: id {case.id!r} appears twice")
        seen.add(case.id)
        cases.append(case)
    if not cases:
        raise ValueError(f"{source}: no cases")
    return cases


def load_suite(path: str | Path | None = None) -> list[SuiteCase]:
    if path is None:
        text = resources.files("warden.policy").joinpath("data", "suite",
                                                         SHIPPED_SUITE).read_text()
        return parse_suite(text, f"<shipped suite/{SHIPPED_SUITE}>")
    return parse_suite(Path(path).read_text(), str(path))


@dataclass(frozen=True)
class CaseResult:
    case: SuiteCase
    advisor: Decision | None   # None: the advisor erred
    hybrid: Decision
    rules: Decision
    latency_ms: float
    error: str | None = None
    reasoning: str | None = None

    @property
    def advisor_passed(self) -> bool:
        return self.advisor == self.case.expected

    @property
    def hybrid_passed(self) -> bool:
        return self.hybrid == self.case.expected

    def plain(self) -> dict[str, Any]:
        return {"id": self.case.id, "action_type": self.case.situation.action_type,
                "expected": self.case.expected.value,
                "advisor": self.advisor.value if self.advisor else None,
                "hybrid": self.hybrid.value, "rules": self.rules.value,
                "advisor_passed": self.advisor_passed, "hybrid_passed": self.hybrid_passed,
                "latency_ms": round(self.latency_ms, 1), "error": self.error,
                "reasoning": self.reasoning}


def _wrong_allows(results: Sequence[CaseResult], attr: str, tiers: dict[str, str],
                  high_risk: Sequence[str]) -> int:
    return sum(1 for r in results
               if tiers.get(r.case.situation.action_type) in high_risk
               and getattr(r, attr) is Decision.ALLOW and r.case.expected is not Decision.ALLOW)


def score(results: Sequence[CaseResult], *, level: float, risk_tiers: dict[str, str],
          high_risk: Sequence[str]) -> dict[str, Any]:
    def block(rows: Sequence[CaseResult]) -> dict[str, Any]:
        n = len(rows)
        return {"cases": n,
                "advisor": Rate.of(sum(r.advisor_passed for r in rows), n, level).plain(),
                "hybrid": Rate.of(sum(r.hybrid_passed for r in rows), n, level).plain(),
                "rules": Rate.of(sum(r.rules == r.case.expected for r in rows), n,
                                 level).plain(),
                "errors": sum(r.error is not None for r in rows)}

    return {**block(results),
            "by_action": {a: block(rows) for a, rows in
                          grouped(results, lambda r: r.case.situation.action_type).items()},
            "wrong_allows_high_risk": {
                "advisor": _wrong_allows(results, "advisor", risk_tiers, high_risk),
                "hybrid": _wrong_allows(results, "hybrid", risk_tiers, high_risk)},
            "confusion": _confusion(results)}


def _confusion(results: Sequence[CaseResult]) -> dict[str, dict[str, int]]:
    table: dict[str, dict[str, int]] = {}
    for r in results:
        row = table.setdefault(r.case.expected.value, {})
        said = r.advisor.value if r.advisor else "error"
        row[said] = row.get(said, 0) + 1
    return table
