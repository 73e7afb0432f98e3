"""Running the rollout: status, promotion through the gates, instant rollback, the review queue
and the stats. Synchronous and engine-free, so the CLI and the admin API share it; every
change is audited (`advisory.promote`, `advisory.rollback`, `advisory.review`).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from warden.config.advisory import ACTION_TYPES, PINNED_ADVISORY, AdvisoryConfig
from warden.policy.decision import Decision, Mode, OverrideCategory
from warden.policy.gates import Evidence, GateResult, promotion_gate
from warden.policy.measurement import (
    Shift,
    agreement,
    distribution_shift,
    override_rate,
)
from warden.policy.metrics import AdvisoryMetrics
from warden.policy.report import advisor_decisions, stats_report
from warden.policy.store import (
    AdvisoryConflict,
    AdvisoryStore,
    ModeState,
    Review,
    days_between,
    first_seen,
)
from warden.store.audit import AuditLog

MODES_TTL_S = 1.0  # how long a replica may use the modes it read (another may have changed them)


class PromotionRefused(Exception):
    def __init__(self, gate: GateResult) -> None:
        self.gate = gate
        super().__init__(f"promotion of {gate.action_type} refused: "
                         + "; ".join(gate.reasons()))


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class AdvisoryControl:
    def __init__(self, config: AdvisoryConfig, store: AdvisoryStore, audit: AuditLog,
                 metrics: AdvisoryMetrics | None = None) -> None:
        self.config = config
        self.store = store
        self.audit = audit
        self.metrics = metrics
        self._lock = threading.Lock()
        self._modes: tuple[float, dict[str, ModeState]] | None = None

    # modes ------------------------------------------------------------------------------------
    def modes(self, fresh: bool = False) -> dict[str, ModeState]:
        with self._lock:
            cached = self._modes
            if not fresh and cached and time.monotonic() - cached[0] < MODES_TTL_S:
                return cached[1]
        states = self.store.modes()
        with self._lock:
            self._modes = (time.monotonic(), states)
        if self.metrics is not None:
            for action, state in states.items():
                for mode in Mode:
                    self.metrics.mode.labels(action, mode.value).set(int(mode is state.mode))
        return states

    def active_variant(self) -> str:
        return self.store.active_variant(self.config.prompt_variant)

    def evidence(self, action_type: str, state: ModeState, variant: str,
                 now: datetime) -> Evidence:
        facts = self.store.facts(since=state.since, action_type=action_type,
                                 prompt_variant=variant)
        in_mode = [f for f in facts if f.mode is state.mode]
        level = self.config.confidence
        rate = agreement(in_mode, level) if state.mode is Mode.SHADOW else \
            override_rate(in_mode, level)
        return Evidence(rate, days_between(state.since or first_seen(in_mode), now))

    def gate(self, action_type: str, states: dict[str, ModeState] | None = None) -> GateResult:
        states = states or self.modes(fresh=True)
        self._expire()
        state = states[action_type]
        evidence = self.evidence(action_type, state, self.active_variant(), self.store.clock())
        return promotion_gate(action_type, state.mode, evidence,
                              self.config.action_policy(action_type),
                              {a: s.mode for a, s in states.items()})

    def status(self) -> dict[str, Any]:
        states = self.modes(fresh=True)
        return {"prompt_variant": self.active_variant(),
                "actions": [{**states[a].plain(),
                             "risk_tier": self.config.actions[a].risk_tier,
                             "next": self.gate(a, states).plain()} for a in ACTION_TYPES],
                "recent_changes": self.store.mode_events(limit=10)}

    def promote(self, action_type: str, actor: str) -> tuple[ModeState, GateResult]:
        _known(action_type)
        gate = self.gate(action_type)
        if not gate.passed or gate.to_mode is None:
            raise PromotionRefused(gate)
        _, state = self.store.set_mode(action_type, gate.to_mode, kind="promote", actor=actor,
                                       reason="gates passed", evidence=gate.plain(),
                                       expect=gate.from_mode)
        self.audit.append("advisory.promote", actor, {
            "action_type": action_type, "from": gate.from_mode.value,
            "to": gate.to_mode.value, "prompt_variant": self.active_variant(),
            "checks": [c.plain() for c in gate.checks]})
        self.modes(fresh=True)
        return state, gate

    def rollback(self, action_types: Sequence[str], actor: str, reason: str | None,
                 *, kind: str = "rollback") -> list[dict[str, Any]]:
        """Back to shadow at once (the current engine decides again); admin stays advisory."""
        for action in action_types:
            _known(action)
        changes = []
        states = self.modes(fresh=True)
        for action in action_types:
            before = states[action].mode
            target = Mode.ADVISORY if action == PINNED_ADVISORY else Mode.SHADOW
            if before is target:
                changes.append({"action_type": action, "from": before.value,
                                "to": target.value, "changed": False})
                continue
            self.store.set_mode(action, target, kind=kind, actor=actor, reason=reason,
                                evidence={})
            self.audit.append("advisory.rollback", actor, {
                "action_type": action, "from": before.value, "to": target.value,
                "reason_sha256": sha256(reason) if reason else None, "kind": kind})
            changes.append({"action_type": action, "from": before.value, "to": target.value,
                            "changed": True})
        self.modes(fresh=True)
        return changes

    # review queue -----------------------------------------------------------------------------
    def _expire(self) -> None:
        decision = Decision(self.config.review.timeout_decision)
        for advisory_id in self.store.expire_overdue(decision):
            self.audit.append("advisory.review", "timeout", {
                "advisory_id": advisory_id, "human_decision": decision.value,
                "timed_out": True})
            if self.metrics is not None:
                self.metrics.reviews.labels("unknown", "timeout").inc()

    def record(self, advisory_id: str) -> tuple[dict[str, Any], Review | None] | None:
        self._expire()
        return self.store.decision(advisory_id)

    def reviewed(self, overrides_only: bool = False) -> list[dict[str, Any]]:
        """Every human review with its advisory (the feedback export)."""
        self._expire()
        return self.store.reviewed(overrides_only)

    def reviews(self, status: str | None = None, action_type: str | None = None,
                limit: int = 100) -> list[dict[str, Any]]:
        self._expire()
        return [{**review.plain(), "advisory": advisory}
                for review, advisory in self.store.reviews(status, action_type, limit)]

    def decide(self, advisory_id: str, reviewer: str, human: Decision, notes: str | None,
               category: OverrideCategory | None) -> Review:
        self._expire()
        review, advisory = self.store.decide(advisory_id, reviewer, human, notes, category)
        self.audit.append("advisory.review", reviewer, {
            "advisory_id": advisory_id, "action_type": review.action_type,
            "advisor_decision": advisory["decision"], "human_decision": human.value,
            "override": review.override, "category": review.category,
            "notes_sha256": sha256(notes) if notes else None})
        if self.metrics is not None:
            outcome = "override" if review.override else "match"
            self.metrics.reviews.labels(review.action_type, outcome).inc()
            if review.override:
                self.metrics.overrides.labels(review.action_type,
                                              review.category or "unclear").inc()
        return review

    # measurement ------------------------------------------------------------------------------
    def shift(self, since: datetime | None = None) -> Shift:
        """The advisor's decisions after the active variant's baseline (in the window when
        `since` is given, else the latest baseline_size) against that baseline."""
        cfg = self.config.shift
        variant = self.active_variant()
        baseline, end = self.store.baseline(variant, cfg.baseline_size)
        after = [] if end is None else [f for f in self.store.facts(
            since=max(end, since) if since else end, prompt_variant=variant)
            if f.created_at > end]
        current = advisor_decisions(after)
        if since is None:
            current = current[-cfg.baseline_size:]
        result = distribution_shift(baseline, current, threshold=cfg.threshold,
                                    min_samples=cfg.min_samples, level=self.config.confidence)
        if self.metrics is not None:
            self.metrics.shift.set(abs(result.delta or 0.0))
            self.metrics.shift_alert.set(int(result.verdict.value == "alert"))
        return result

    def refresh_gauges(self) -> None:
        if self.metrics is None:
            return
        states = self.modes()
        variant, now = self.active_variant(), self.store.clock()
        for action, state in states.items():
            rate = self.evidence(action, state, variant, now).rate
            if rate.interval is None:
                continue
            gauge = self.metrics.agreement if state.mode is Mode.SHADOW else \
                self.metrics.override_rate
            gauge.labels(action).set(rate.interval.point)
        self.shift()

    def stats(self, window: timedelta | None = None) -> dict[str, Any]:
        self._expire()
        now = self.store.clock()
        since = now - window if window else None
        facts = self.store.facts(since=since)
        shift = self.shift(since)
        report = stats_report(facts, since=since, now=now, level=self.config.confidence,
                              active_variant=self.active_variant(), shift=shift)
        report["modes"] = {a: s.mode.value for a, s in self.modes().items()}
        return report


def _known(action_type: str) -> None:
    if action_type not in ACTION_TYPES:
        raise AdvisoryConflict(f"unknown action type '{action_type}'; use one of "
                               f"{', '.join(ACTION_TYPES)}")
