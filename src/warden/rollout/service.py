"""Start, promote and roll back rollouts, with every side effect and its evidence.

Rollback, in order (each step is reported with its outcome, and the report is the incident's
evidence and the `rollout.rollback` audit payload):
    traffic   the state says 100% champion; this replica uses it at once, the others within
              their view's TTL (<= 0.5 s)
    pointers  each corpus the champion pins points back at the champion's version
    caches    this replica's caches are cleared now; each other replica clears its own when
              its view sees the rollback (RolloutRuntime's listener)
    incident  opened with the evidence (the canary verdict, when the canary triggered it)
    audit     rollout.rollback
The smoke rerun against the baseline is the caller's (the canary runner's) last step; it is
added to the incident and audited as rollout.rollback.verified (`record_verification`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from warden.config import WardenConfig
from warden.rollout.arms import Arm, PromptVersion, RolloutError
from warden.rollout.caches import CacheClearer
from warden.rollout.state import RolloutState, RolloutStore, Status
from warden.rollout.verdicts import Eligibility, VerdictStore, promotion_eligibility
from warden.rollout.view import RolloutView
from warden.store.audit import AuditLog
from warden.store.incidents import Incidents

if TYPE_CHECKING:
    from warden.retrieval.service import Retrieval

log = logging.getLogger(__name__)


@dataclass
class StepLog:
    steps: list[dict[str, Any]] = field(default_factory=list)

    def add(self, step: str, outcome: str, detail: Any = "") -> None:
        self.steps.append({"step": step, "outcome": outcome, "detail": detail})

    @property
    def ok(self) -> bool:
        return all(s["outcome"] != "failed" for s in self.steps)


@dataclass(frozen=True)
class ChallengerRequest:
    """Changes from the champion; what is not given stays as the champion has it."""

    model: str | None = None
    prompt: str | None = None
    indexes: Mapping[str, int] = field(default_factory=dict)


class RolloutService:
    def __init__(self, config: WardenConfig, store: RolloutStore, *, view: RolloutView,
                 verdicts: VerdictStore, prompts: Mapping[str, PromptVersion],
                 audit: AuditLog, incidents: Incidents, retrieval: Retrieval | None,
                 caches: CacheClearer, clock: Callable[[], datetime] | None = None) -> None:
        self.config = config
        self.store = store
        self.view = view
        self.verdicts = verdicts
        self.prompts = prompts
        self.audit = audit
        self.incidents = incidents
        self.retrieval = retrieval
        self.caches = caches
        self._clock = clock or (lambda: datetime.now(UTC))

    # reading ---------------------------------------------------------------------------
    def require(self, name: str) -> RolloutState:
        state = self.store.get(name)
        if state is None:
            known = ", ".join(sorted(self.config.rollouts.models)) or "none configured"
            raise RolloutError(f"no rollout '{name}' (rollouts: {known}); define it under "
                               "rollouts.models in warden.yaml")
        return state

    def eligibility(self, state: RolloutState) -> Eligibility:
        challenger = state.live_challenger
        if challenger is None:
            return Eligibility(False, f"no running challenger (status {state.status.value})")
        canary = self.config.rollouts.models[state.name].canary \
            if state.name in self.config.rollouts.models else None
        duration = timedelta(seconds=canary.duration_s if canary else 172_800)
        since = state.started_at
        verdicts = self.verdicts.list(state.name, since=since, challenger_hash=challenger.hash)
        return promotion_eligibility(verdicts, duration=duration, now=self._clock())

    # checking arms ---------------------------------------------------------------------
    def _check_arm(self, arm: Arm, where: str) -> None:
        if self.config.model_by_name(arm.model) is None:
            known = ", ".join(m.name for m in self.config.models)
            raise RolloutError(f"{where}.model: '{arm.model}' is not a configured model "
                               f"({known})")
        if arm.prompt is not None and arm.prompt not in self.prompts:
            known = ", ".join(sorted(self.prompts)) or "none"
            raise RolloutError(f"{where}.prompt: '{arm.prompt}' is not defined under "
                               f"rollouts.prompts ({known})")
        if arm.indexes and self.retrieval is None:
            raise RolloutError(f"{where}.indexes: retrieval is disabled on this server "
                               "(retrieval.enabled: false)")
        for corpus, version in arm.indexes.items():
            assert self.retrieval is not None
            info = self.retrieval.versions.get(version)
            if info is None or info.state != "ready":
                raise RolloutError(f"{where}.indexes.{corpus}: version {version} is "
                                   f"{'unknown' if info is None else info.state}; see "
                                   "`warden index versions`")
            if info.corpus != corpus:
                raise RolloutError(f"{where}.indexes.{corpus}: version {version} belongs to "
                                   f"corpus '{info.corpus}'")

    def _pin_champion(self, champion: Arm, corpora: list[str]) -> Arm:
        """The champion keeps serving the versions active now for the corpora the challenger
        changes, whatever happens to the pointers during the canary."""
        pins: dict[str, int] = {}
        for corpus in corpora:
            if corpus in champion.indexes or self.retrieval is None:
                continue
            active = self.retrieval.versions.active(corpus)
            if active is None:
                raise RolloutError(f"challenger.indexes.{corpus}: the corpus has no active "
                                   "version for the champion to keep; activate one first")
            pins[corpus] = active
        return champion.with_indexes(pins)

    # changing --------------------------------------------------------------------------
    def start(self, name: str, request: ChallengerRequest | None, *, share: float | None,
              mode: str | None, actor: str, reason: str | None = None) -> RolloutState:
        state = self.require(name)
        configured = self.config.rollouts.models.get(name)
        if request is None:
            if configured is None or configured.challenger is None:
                raise RolloutError(f"rollout '{name}' has no configured challenger: give one "
                                   "(model, prompt or indexes)")
            challenger = Arm.from_config(configured.challenger, self.prompts)
        else:
            base = state.champion
            prompt = request.prompt if request.prompt is not None else base.prompt
            prompt_version = self.prompts.get(prompt) if prompt else None
            challenger = Arm(request.model or base.model, prompt,
                             prompt_version.hash if prompt_version else None,
                             {**base.indexes, **request.indexes})
        self._check_arm(challenger, "challenger")
        champion = self._pin_champion(state.champion, sorted(challenger.indexes))
        if challenger.hash == champion.hash:
            raise RolloutError("the challenger is the champion: change its model, prompt or "
                               "an index version")
        share = configured.share if share is None and configured else (share or 0.0)
        mode = mode or (configured.mode if configured else "ab")
        if not 0 <= share <= 1:
            raise RolloutError(f"share must be within [0, 1], got {share}")
        new = self.store.start(name, champion=champion, challenger=challenger, share=share,
                               mode=mode, actor=actor, reason=reason)
        self.view.adopt(new)
        self.audit.append("rollout.start", actor, {
            "rollout": name, "champion": champion.hash, "challenger": challenger.hash,
            "challenger_arm": challenger.plain(), "share": share, "mode": mode,
            "reason": reason})
        return new

    def set_share(self, name: str, share: float, actor: str) -> RolloutState:
        if not 0 <= share <= 1:
            raise RolloutError(f"share must be within [0, 1], got {share}")
        self.require(name)
        new = self.store.set_share(name, share, actor)
        self.view.adopt(new)
        self.audit.append("rollout.share", actor, {"rollout": name, "share": share})
        return new

    def _point_at(self, arm: Arm, actor: str, log_: StepLog) -> None:
        for corpus, version in sorted(arm.indexes.items()):
            if self.retrieval is None:
                log_.add("pointer", "failed", {"corpus": corpus, "error": "retrieval off"})
                continue
            try:
                flip = self.retrieval.activate(version, actor)
            except Exception as exc:
                log_.add("pointer", "failed", {"corpus": corpus, "version": version,
                                               "error": str(exc)[:300]})
                continue
            log_.add("pointer", "flipped" if flip.changed else "unchanged",
                     {"corpus": corpus, "from": flip.previous, "to": flip.current})

    def promote(self, name: str, actor: str, *, reason: str | None = None,
                force: bool = False) -> tuple[RolloutState, StepLog]:
        state = self.require(name)
        eligibility = self.eligibility(state)
        if not eligibility.eligible and not force:
            raise RolloutError(f"rollout '{name}' cannot be promoted yet: "
                               f"{eligibility.reason} (force it with --force)")
        new = self.store.promote(name, actor, reason)
        self.view.adopt(new)
        steps = StepLog()
        steps.add("traffic", "ok", {"champion": new.champion.hash})
        self._point_at(new.champion, actor, steps)  # everyone else's traffic follows
        self.audit.append("rollout.promote", actor, {
            "rollout": name, "champion": new.champion.hash,
            "previous": new.previous.hash if new.previous else None, "forced": force,
            "eligibility": eligibility.plain(), "reason": reason, "steps": steps.steps})
        return new, steps

    def rollback(self, name: str, actor: str, *, reason: str,
                 evidence: dict[str, Any] | None = None,
                 automatic: bool = False) -> tuple[RolloutState, StepLog]:
        state = self.require(name)
        if state.status is not Status.RUNNING and state.previous is None:
            raise RolloutError(f"rollout '{name}' has nothing to roll back (status "
                               f"{state.status.value}, no previous champion)")
        incident_id = self.incidents.new_id()
        steps = StepLog()
        new = self.store.rollback(name, actor, reason, incident_id)
        self.view.adopt(new)  # this replica routes to the champion from now on
        steps.add("traffic", "ok", {"champion": new.champion.hash, "share": 0.0,
                                    "status": new.status.value})
        self._point_at(new.champion, actor, steps)
        caches = self.caches.clear_all()
        steps.add("caches", "failed" if any(c["outcome"] == "failed" for c in caches.values())
                  else "ok", caches)
        summary = (f"Rollout '{name}' rolled back {'automatically' if automatic else 'by '}"
                   f"{'' if automatic else actor}: {reason}")[:500]
        detail = {"rollout": name, "champion": new.champion.hash,
                  "demoted": new.challenger.hash if new.challenger else None,
                  "steps": steps.steps, "evidence": evidence or {}}
        try:
            self.incidents.open("rollout.rollback", "high" if automatic else "medium", summary,
                                actor=actor, detail=detail, incident_id=incident_id)
            steps.add("incident", "ok", {"incident_id": incident_id})
        except Exception as exc:
            log.exception("could not open the rollback incident for %s", name)
            steps.add("incident", "failed", str(exc)[:300])
        payload = {**{k: v for k, v in detail.items() if k != "evidence"},
                   "reason": reason, "automatic": automatic, "incident_id": incident_id,
                   "verdict_id": (evidence or {}).get("verdict_id")}
        seq = self.audit.append("rollout.rollback", actor, payload)
        steps.add("audit", "ok", {"seq": seq})
        return new, steps

    def record_verification(self, name: str, actor: str, result: dict[str, Any]) -> int:
        """The smoke rerun after a rollback, checked against the baseline: on the incident's
        timeline and in the audit log."""
        state = self.require(name)
        if state.incident_id:
            try:
                self.incidents.add_event(state.incident_id, "smoke_rerun", actor, result)
            except Exception:
                log.warning("incident %s is gone; verification only audited",
                            state.incident_id)
        return self.audit.append("rollout.rollback.verified", actor, {
            "rollout": name, "incident_id": state.incident_id, **result})
