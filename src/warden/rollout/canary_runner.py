"""The canary loop against a live server (`warden canary run`, and the server's own schedule).

Every interval:
  1. the rollout's state and canary settings (GET /admin/rollouts/NAME); nothing to do unless
     a challenger is running
  2. the smoke eval on both arms, same questions (`NAME@champion`, `NAME@challenger`)
  3. live traffic per arm since the rollout started, and the challenger's index facts
  4. the analysis (canary.py), carrying the budget counters of the last verdict on the same
     challenger, posted as a verdict (stored, audited, on /metrics)
  5. abort (failure budget spent) with auto_rollback: POST rollback, then the smoke rerun on
     the champion checked against the baseline (--baseline RUN_DIR, else this interval's
     champion run), posted as the rollback's verification
  6. otherwise, with auto_promote, promote once the canary has passed long enough
A measurement that cannot be taken (server down, a 5xx) is Argo's Error: it counts towards
consecutive_error_limit, and a verdict "error" is posted when the server can take it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from warden.config.rollouts import CanaryConfig
from warden.evaluation.client import EndpointError, WardenClient
from warden.rollout.admin_client import RolloutAdmin
from warden.rollout.arms import RolloutError
from warden.rollout.canary import (
    Analysis,
    ArmEval,
    IndexFacts,
    LiveArm,
    analyse,
    baseline_check,
    budget_for,
    failed_measurement,
    resume_budget,
)
from warden.rollout.smoke import SmokePlan, run_arm

MAX_UNREACHABLE = 4  # intervals in a row without reaching the server before giving up


@dataclass
class IntervalOutcome:
    rollout: str
    verdict: str                     # pass | marginal | fail | inconclusive | error | none
    action: str                      # continue | pause | abort | promote | stopped
    score: float | None = None
    reason: str = ""
    verdict_id: int | None = None
    rolled_back: bool = False
    promoted: bool = False
    rollback: dict[str, Any] | None = None
    verification: dict[str, Any] | None = None
    evidence: dict[str, Any] = field(default_factory=dict)

    def plain(self) -> dict[str, Any]:
        return {"rollout": self.rollout, "verdict": self.verdict, "action": self.action,
                "score": self.score, "reason": self.reason, "verdict_id": self.verdict_id,
                "rolled_back": self.rolled_back, "promoted": self.promoted,
                "rollback": self.rollback, "verification": self.verification,
                "evidence": self.evidence}


class CanaryRunner:
    def __init__(self, admin: RolloutAdmin, client: WardenClient, rollout: str, *,
                 admin_key: str, out: Path, baseline: ArmEval | None = None,
                 log: Callable[[str], None] = lambda _: None, concurrency: int = 4) -> None:
        self.admin = admin
        self.client = client
        self.rollout = rollout
        self.admin_key = admin_key
        self.out = out
        self.baseline = baseline
        self.log = log
        self.concurrency = concurrency
        self.intervals = 0

    def _smoke(self, config: CanaryConfig) -> SmokePlan:
        return SmokePlan.build(self.client.url, self.admin_key, items=config.smoke_items,
                               split=config.smoke_split, max_tokens=config.smoke_max_tokens,
                               k=config.smoke_k)

    def _arm(self, plan: SmokePlan, arm: str, out: Path) -> ArmEval:
        self.log(f"smoke eval: {plan.size} items on {self.rollout}@{arm}")
        return run_arm(self.client, plan, f"{self.rollout}@{arm}", out / arm,
                       concurrency=self.concurrency)

    def _previous_budget(self, challenger_hash: str, since: str | None
                         ) -> dict[str, Any] | None:
        """The counters of the last verdict on this challenger since it was started (a
        challenger started again begins a new analysis)."""
        latest = self.admin.verdicts(self.rollout, limit=1, evidence=True, since=since)
        if latest and latest[0].get("challenger_hash") == challenger_hash:
            budget = (latest[0].get("evidence") or {}).get("budget")
            return budget if isinstance(budget, dict) else None
        return None

    def run_once(self) -> IntervalOutcome:
        name = self.rollout
        state = self.admin.get(name)
        if state.get("status") != "running" or not state.get("challenger"):
            return IntervalOutcome(name, "none", "stopped",
                                   reason=f"no running challenger (status "
                                          f"{state.get('status')})")
        config = CanaryConfig.model_validate(state.get("canary") or {})
        champion_hash = str(state["champion"]["hash"])
        challenger_hash = str(state["challenger"]["hash"])
        self.intervals += 1
        out = self.out / f"interval-{self.intervals:04d}"
        budget = resume_budget(budget_for(config),
                               self._previous_budget(challenger_hash, state.get("started_at")))
        plan: SmokePlan | None = None
        champion: ArmEval | None = None
        try:
            plan = self._smoke(config)
            champion = self._arm(plan, "champion", out)
            challenger = self._arm(plan, "challenger", out)
            traffic = self.admin.traffic(name)
            raw_facts = self.admin.facts(name)
            facts = IndexFacts.from_plain(raw_facts)
            live = {arm: LiveArm.from_plain(traffic[arm]) for arm in ("champion", "challenger")
                    if isinstance(traffic.get(arm), dict)}
            analysis = analyse(config, champion, challenger, live=live, facts=facts,
                               budget=budget)
            analysis.extra.update({
                "smoke": {"champion": champion.summary(), "challenger": challenger.summary()},
                "live": {arm: {"requests": traffic[arm]["requests"],
                               "errors": traffic[arm]["errors"]}
                         for arm in live},
                "facts": raw_facts})
            if self.baseline is not None:
                analysis.extra["vs_baseline"] = baseline_check(config, challenger,
                                                               self.baseline)
        except (EndpointError, RolloutError) as exc:
            analysis = failed_measurement(budget, str(exc)[:500])
        return self._conclude(config, analysis, champion_hash=champion_hash,
                              challenger_hash=challenger_hash, plan=plan, champion=champion,
                              out=out)

    def _conclude(self, config: CanaryConfig, analysis: Analysis, *, champion_hash: str,
                  challenger_hash: str, plan: SmokePlan | None, champion: ArmEval | None,
                  out: Path) -> IntervalOutcome:
        name = self.rollout
        reason = analysis.error or (analysis.result.reason if analysis.result else "")
        outcome = IntervalOutcome(name, analysis.verdict, analysis.action, analysis.score,
                                  reason, evidence=analysis.evidence())
        posted = self.admin.add_verdict(name, {
            "verdict": analysis.verdict, "score": analysis.score, "action": analysis.action,
            "champion_hash": champion_hash, "challenger_hash": challenger_hash,
            "evidence": outcome.evidence})
        outcome.verdict_id = int(posted["id"])
        self.log(f"verdict {analysis.verdict} (score {analysis.score}), action "
                 f"{analysis.action}: {reason}")
        if analysis.action == "abort" and config.auto_rollback:
            self._roll_back(config, outcome, plan, champion, out)
        elif config.auto_promote and (posted.get("eligibility") or {}).get("eligible"):
            promoted = self.admin.promote(name, reason=f"canary passed: verdict "
                                                       f"{outcome.verdict_id}")
            outcome.promoted, outcome.action = True, "promote"
            self.log(f"promoted: champion is now {promoted['champion']['hash'][:12]}")
        out.mkdir(parents=True, exist_ok=True)
        (out / "verdict.json").write_text(json.dumps(outcome.plain(), indent=1,
                                                     sort_keys=True), encoding="utf-8")
        return outcome

    def _roll_back(self, config: CanaryConfig, outcome: IntervalOutcome,
                   plan: SmokePlan | None, champion: ArmEval | None, out: Path) -> None:
        failing = [k["name"] for k in ((outcome.evidence.get("result") or {}).get("kpis")
                                       or []) if k.get("verdict") == "fail"]
        self.log(f"rolling back {self.rollout}: {outcome.reason}")
        outcome.rollback = self.admin.rollback(
            self.rollout, reason=f"canary {outcome.verdict}: {outcome.reason}"[:2000],
            automatic=True, evidence={"verdict_id": outcome.verdict_id,
                                      "verdict": outcome.verdict, "score": outcome.score,
                                      "failing_kpis": failing})
        outcome.rolled_back = True
        baseline = self.baseline or champion
        try:
            plan = plan or self._smoke(config)
            rerun = self._arm(plan, "champion", out / "rerun")
        except (EndpointError, RolloutError) as exc:
            check: dict[str, Any] = {"matches_baseline": False,
                                     "error": f"smoke rerun failed: {exc}"[:500]}
        else:
            check = baseline_check(config, rerun, baseline) if baseline is not None else \
                {"matches_baseline": False, "error": "no baseline: the champion's smoke run "
                 "failed before the rollback and no --baseline was given"}
            check["baseline_source"] = "--baseline" if self.baseline else "interval champion"
        outcome.verification = check
        self.admin.verification(self.rollout, bool(check.get("matches_baseline")),
                                {k: v for k, v in check.items() if k != "matches_baseline"})
        self.log(f"smoke rerun {'matches' if check.get('matches_baseline') else 'DOES NOT match'}"
                 " the baseline")

    def run(self, *, duration_s: float, interval_s: float,
            sleep: Callable[[float], None] = time.sleep,
            clock: Callable[[], float] = time.monotonic) -> list[IntervalOutcome]:
        """Intervals until the duration is over or the analysis ends (stopped, abort,
        promote, or pause: a human decides)."""
        outcomes: list[IntervalOutcome] = []
        ends = clock() + duration_s
        unreachable = 0
        while True:
            started = clock()
            try:
                outcome = self.run_once()
                unreachable = 0
            except EndpointError as exc:  # not even a verdict could be posted
                unreachable += 1
                outcome = IntervalOutcome(self.rollout, "error", "continue", reason=str(exc))
                self.log(f"interval failed ({unreachable} in a row): {exc}")
                if unreachable > MAX_UNREACHABLE:
                    outcome.action = "stopped"
            outcomes.append(outcome)
            if outcome.action in {"stopped", "abort", "promote", "pause"} or \
                    outcome.rolled_back or outcome.promoted:
                return outcomes
            wait = interval_s - (clock() - started)
            if clock() + max(wait, 0) >= ends:
                return outcomes
            if wait > 0:
                sleep(wait)
