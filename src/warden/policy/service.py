"""The advisory service: one situation in, the advisor's decision, the enforced decision and
the record of both out.

    mode (per action type) -> current engine -> advisor (active prompt variant) -> enforce
    -> store (+ review item in advisory mode) -> audit `advisory.decision` -> metrics

`evaluate` runs the same advisor without recording anything (the semantic suite, replays).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from warden.config.advisory import AdvisoryConfig
from warden.policy import variants
from warden.policy.advisor import Advice, Advisor, Generator
from warden.policy.control import AdvisoryControl
from warden.policy.current import CurrentDecision, CurrentEngine
from warden.policy.decision import Decision, Mode
from warden.policy.features import SituationFeatures
from warden.policy.metrics import AdvisoryMetrics
from warden.policy.modes import Enforcement, enforce, fail_safe
from warden.policy.pool import ExamplePicker
from warden.policy.prompts import load_variant
from warden.policy.rules import RulesEngine
from warden.policy.situation import Situation
from warden.policy.tables import AdvisoryDecisionRow

log = logging.getLogger(__name__)


def fallback_reasoning(advice: Advice, current: CurrentDecision) -> str:
    return (f"fallback ({advice.error.value if advice.error else 'error'}): the advisor gave "
            f"no decision, so the current policy engine's ({current.source}) stands")


class AdvisoryService:
    def __init__(self, config: AdvisoryConfig, control: AdvisoryControl, rules: RulesEngine,
                 current: CurrentEngine, metrics: AdvisoryMetrics | None, *,
                 variants_dir: Path | None,
                 held_out: Sequence[tuple[str, Situation]]) -> None:
        self.config = config
        self.control = control
        self.rules = rules
        self.current = current
        self.metrics = metrics
        self.variants_dir = variants_dir
        self._held_out = tuple(held_out)
        self._features = SituationFeatures(rules)
        self._advisors: dict[str, Advisor] = {}
        self._build_lock = asyncio.Lock()
        self._since_refresh = 0
        self._background: set[asyncio.Task[None]] = set()

    # the advisor of a prompt variant ---------------------------------------------------------
    def _build(self, name: str) -> Advisor:
        cfg = self.config
        variant = load_variant(name, self.rules, cfg.reasoning_max_chars, self.variants_dir)
        picker = None
        k = variant.spec.examples_k if variant.spec.examples_k is not None else cfg.fewshot_k
        if variant.pool and k > 0:
            picker = ExamplePicker(variant.pool, self._held_out, self._features)
            if picker.leakage.n_excluded:
                log.info("advisory variant %s: %d pool examples excluded by the leakage "
                         "guard", name, picker.leakage.n_excluded)
        return Advisor(self.rules, variant, picker, fewshot_k=cfg.fewshot_k,
                       timeout_s=cfg.timeout_s, reasoning_max_chars=cfg.reasoning_max_chars)

    async def advisor(self, variant: str | None = None) -> Advisor:
        name: str = variant if variant else await asyncio.to_thread(self.control.active_variant)
        advisor = self._advisors.get(name)
        if advisor is not None:
            return advisor
        async with self._build_lock:
            if name not in self._advisors:
                self._advisors[name] = await asyncio.to_thread(self._build, name)
            return self._advisors[name]

    async def warm_up(self) -> None:
        try:
            await self.advisor()
        except Exception:
            log.exception("advisory warm-up failed; the first advisory will retry")

    # serving ---------------------------------------------------------------------------------
    async def advise(self, situation: Situation, caller_current: Decision | None,
                     generator: Generator, *, key_id: str, request_id: str) -> dict[str, Any]:
        action = situation.action_type
        modes = await asyncio.to_thread(self.control.modes)
        mode = modes[action].mode
        risk_tier = self.config.action_policy(action).risk_tier
        current = await self.current.decide(situation, caller_current)
        advisor = await self.advisor()
        advice = await advisor.advise(situation, generator, request_id)
        outcome = enforce(mode, advice.decision, current.decision, risk_tier,
                          self.config.fail_safe_tiers)
        advisory_id = "adv_" + secrets.token_hex(12)
        reasoning = advice.reasoning or fallback_reasoning(advice, current)
        row = self._row(advisory_id, situation, mode=mode, risk_tier=risk_tier, advice=advice,
                        current=current, outcome=outcome, key_id=key_id, request_id=request_id)
        review_timeout = self.config.review.timeout_s if outcome.requires_human else None
        await asyncio.to_thread(self.control.store.record, row, review_timeout)
        await asyncio.to_thread(self.control.audit.append, "advisory.decision", key_id, {
            "advisory_id": advisory_id, "request_id": request_id, "action_type": action,
            "risk_tier": risk_tier, "mode": mode.value,
            "decision": row.advisor_decision, "current_decision": current.decision.value,
            "current_source": current.source, "enforced_decision": outcome.decision.value,
            "requires_human": outcome.requires_human, "fail_safe": outcome.fail_safe,
            "error": row.error, "reasoning_sha256": row.reasoning_hash,
            "prompt_variant": advice.prompt_variant, "prompt_hash": advice.prompt_hash,
            "model": advice.model, "examples": list(advice.example_ids)})
        self._observe(action, mode, advice, current, outcome)
        return {
            "advisory_id": advisory_id,
            "decision": (advice.decision or current.decision).value,
            "reasoning": reasoning, "risk_tier": risk_tier, "mode": mode.value,
            "enforced_decision": outcome.decision.value,
            "requires_human": outcome.requires_human, "model": advice.model,
            "prompt_variant": advice.prompt_variant, "prompt_hash": advice.prompt_hash,
            "latency_ms": round(advice.latency_ms, 1),
        }

    def _row(self, advisory_id: str, situation: Situation, *, mode: Mode, risk_tier: str,
             advice: Advice, current: CurrentDecision, outcome: Enforcement, key_id: str,
             request_id: str) -> AdvisoryDecisionRow:
        return AdvisoryDecisionRow(
            id=advisory_id, created_at=self.control.store.clock(),
            action_type=situation.action_type, actor_role=situation.actor_role,
            risk_tier=risk_tier, mode=mode.value, prompt_variant=advice.prompt_variant,
            prompt_hash=advice.prompt_hash, model=advice.model,
            advisor_decision=advice.decision.value if advice.decision else None,
            reasoning=advice.reasoning,
            reasoning_hash=hashlib.sha256(advice.reasoning.encode()).hexdigest()
            if advice.reasoning else None,
            current_decision=current.decision.value, current_source=current.source,
            enforced_decision=outcome.decision.value, requires_human=outcome.requires_human,
            fail_safe=outcome.fail_safe, error=advice.error.value if advice.error else None,
            latency_ms=advice.latency_ms, situation=situation.plain(), key_id=key_id,
            request_id=request_id)

    def _observe(self, action: str, mode: Mode, advice: Advice, current: CurrentDecision,
                 outcome: Enforcement) -> None:
        metrics = self.metrics
        if metrics is None:
            return
        said = advice.decision.value if advice.decision else "error"
        metrics.decisions.labels(action, mode.value, said).inc()
        metrics.enforced.labels(action, mode.value, outcome.decision.value).inc()
        compared = "error" if advice.decision is None else \
            "match" if advice.decision is current.decision else "mismatch"
        metrics.comparisons.labels(action, mode.value, compared).inc()
        metrics.latency.labels(action).observe(advice.latency_ms / 1000)
        if advice.error is not None:
            metrics.errors.labels(action, advice.error.value).inc()
        if current.error is not None:
            metrics.current_engine_errors.labels(current.source).inc()
        if outcome.fail_safe:
            metrics.fail_safe.labels(action).inc()
        self._since_refresh += 1
        if self._since_refresh >= self.config.shift.recompute_every:
            self._since_refresh = 0
            task = asyncio.get_running_loop().create_task(self._refresh_gauges())
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _refresh_gauges(self) -> None:
        try:
            await asyncio.to_thread(self.control.refresh_gauges)
        except Exception:
            log.warning("advisory gauges refresh failed", exc_info=True)

    # evaluation ------------------------------------------------------------------------------
    async def evaluate(self, situation: Situation, current: Decision | None,
                       generator: Generator, *, request_id: str,
                       prompt_variant: str | None = None) -> dict[str, Any]:
        """The advisor's answer, the rules' decision and the hybrid, recording nothing."""
        advisor = await self.advisor(prompt_variant)
        advice = await advisor.advise(situation, generator, request_id)
        ruled = self.rules.decide(situation)
        reference = current or ruled.decision
        risk_tier = self.config.action_policy(situation.action_type).risk_tier
        hybrid = reference if advice.decision is None else fail_safe(
            advice.decision, reference, risk_tier, self.config.fail_safe_tiers)[0]
        return {"decision": advice.decision.value if advice.decision else None,
                "reasoning": advice.reasoning, "error": advice.error.value
                if advice.error else None, "error_detail": advice.error_detail,
                "rules_decision": ruled.decision.value, "rule_ids": list(ruled.rule_ids),
                "hybrid_decision": hybrid.value, "risk_tier": risk_tier,
                "model": advice.model, "prompt_variant": advice.prompt_variant,
                "prompt_hash": advice.prompt_hash, "examples": list(advice.example_ids),
                "latency_ms": round(advice.latency_ms, 1)}

    # prompt variants -------------------------------------------------------------------------
    def refresh_pool(self, name: str | None, actor: str) -> dict[str, Any]:
        return variants.refresh(self.control, self.rules, self._folder(), name, actor)

    def activate_variant(self, name: str, actor: str) -> dict[str, Any]:
        return variants.activate(self.control, self.rules, self._folder(), name, actor)

    def _folder(self) -> Path:
        if self.variants_dir is None:
            raise ValueError("advisory variants need a directory (advisory.variants_dir)")
        return self.variants_dir

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        await self.current.close()
