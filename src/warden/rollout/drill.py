"""The rollback drill: roll a live rollout back through the admin API and prove each step.

    baseline   a challenger is running (the configured one is started if none is) and
               answers when pinned; the champion's smoke run is the baseline
    rollback   POST /admin/rollouts/NAME/rollback (reason "drill")
    traffic    within a second, NAME is served by the champion and NAME@challenger is refused
    pointers   each corpus the champion pins is active at the champion's version
    caches     every cache was cleared, or cannot hold a stale entry (nothing failed)
    incident   the rollback's incident exists, with the evidence
    audit      the rollback was audited and the chain verifies
    smoke      the champion's smoke rerun matches the baseline (posted as the verification)
    restore    the challenger is started again as it was (unless --no-restore)
Each step is ok, failed or not_verifiable with the reason; the drill passes only when every
step is ok, and its record is appended to the audit chain (drill.rollback).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from warden.config.rollouts import CanaryConfig
from warden.evaluation.client import EndpointError, WardenClient
from warden.rollout.admin_client import RolloutAdmin
from warden.rollout.canary import ArmEval, baseline_check
from warden.rollout.smoke import SmokePlan, run_arm

PROPAGATION_S = 1.0
STEPS = ("baseline", "rollback", "traffic", "pointers", "caches", "incident", "audit",
         "smoke")


@dataclass
class Check:
    step: str
    outcome: str  # ok | failed | not_verifiable
    detail: str = ""

    def plain(self, target: str) -> dict[str, str]:
        return {"target": target, "step": self.step, "outcome": self.outcome,
                "detail": self.detail[:300]}


@dataclass
class RollbackDrill:
    admin: RolloutAdmin
    client: WardenClient
    admin_key: str
    rollout: str
    restore: bool = True
    baseline: ArmEval | None = None
    log: Callable[[Check], None] = lambda _: None
    checks: list[Check] = field(default_factory=list)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def _check(self, step: str, ok: bool | None, detail: str) -> bool:
        check = Check(step, "not_verifiable" if ok is None else "ok" if ok else "failed",
                      detail)
        self.checks.append(check)
        self.log(check)
        return bool(ok)

    @property
    def passed(self) -> bool:
        done = {c.step for c in self.checks if c.outcome == "ok"}
        return all(c.outcome == "ok" for c in self.checks) and set(STEPS) <= done

    def _arm_of(self, model: str) -> tuple[int, str | None]:
        body = {"model": model, "messages": [{"role": "user", "content": "Say hi."}],
                "max_tokens": 1, "temperature": 0}
        response = self.client.http.send("POST", "/v1/chat/completions", json=body)
        return response.status_code, response.headers.get("x-warden-arm")

    def _smoke(self, state: dict[str, Any]) -> tuple[SmokePlan, CanaryConfig]:
        config = CanaryConfig.model_validate(state.get("canary") or {})
        return SmokePlan.build(self.client.url, self.admin_key, items=config.smoke_items,
                               split=config.smoke_split, max_tokens=config.smoke_max_tokens,
                               k=config.smoke_k), config

    def _running(self) -> dict[str, Any] | None:
        state = self.admin.get(self.rollout)
        if state.get("status") == "running" and state.get("challenger"):
            return state
        try:
            started = self.admin.start(self.rollout, challenger=None, share=None, mode=None,
                                       reason="rollback drill")
        except EndpointError as exc:
            self._check("baseline", None, f"no running challenger, and the configured one "
                                          f"cannot be started: {exc}")
            return None
        return started

    def run(self) -> None:
        name = self.rollout
        state = self._running()
        if state is None:
            return
        status, arm = self._arm_of(f"{name}@challenger")
        plan, config = self._smoke(state)
        baseline = self.baseline or run_arm(self.client, plan, f"{name}@champion")
        if not self._check("baseline", status == 200 and arm == "challenger",
                           f"{name}@challenger answered {status} from arm {arm}; champion "
                           f"smoke baseline over {len(baseline.items)} items"):
            return
        result = self.admin.rollback(name, reason="drill")
        steps = {s["step"]: s for s in result.get("steps", [])}
        self._check("rollback", result.get("status") == "rolled_back",
                    f"status {result.get('status')}, incident {result.get('incident_id')}")
        time.sleep(PROPAGATION_S)
        served, pinned = self._arm_of(name), self._arm_of(f"{name}@challenger")
        self._check("traffic", served == (200, "champion") and pinned[0] == 409,
                    f"{name} -> {served[0]} {served[1]}; {name}@challenger -> {pinned[0]}")
        self._pointers(result["champion"])
        caches = (steps.get("caches") or {}).get("detail") or {}
        bad = [k for k, v in caches.items() if v.get("outcome") == "failed"]
        self._check("caches", bool(caches) and not bad,
                    "; ".join(f"{k}: {v['outcome']}" for k, v in caches.items()) or
                    "no cache step reported")
        self._incident(result.get("incident_id"))
        self._audit(steps)
        rerun = run_arm(self.client, plan, f"{name}@champion")
        check = baseline_check(config, rerun, baseline)
        self.admin.verification(name, bool(check["matches_baseline"]),
                                {k: v for k, v in check.items() if k != "matches_baseline"})
        self._check("smoke", bool(check["matches_baseline"]),
                    f"rerun {check['rerun']}; identical answers {check['identical_answers']}"
                    f"/{check['compared_items']}")
        if self.restore and result.get("challenger"):
            demoted = result["challenger"]
            self.admin.start(name, challenger={"model": demoted["model"],
                                               "prompt": demoted["prompt"],
                                               "indexes": demoted["indexes"]},
                             share=float(state["share"]), mode=str(state["mode"]),
                             reason="rollback drill: restored")

    def _pointers(self, champion: dict[str, Any]) -> None:
        pins = champion.get("indexes") or {}
        if not pins:
            self._check("pointers", True, "the champion pins no corpus: nothing to flip")
            return
        wrong = []
        for corpus, version in pins.items():
            active = self.admin.corpus_versions(corpus).get("active", {}).get(corpus)
            if active != version:
                wrong.append(f"{corpus} at v{active}, champion v{version}")
        self._check("pointers", not wrong, "; ".join(wrong) or
                    ", ".join(f"{c} at v{v}" for c, v in pins.items()))

    def _incident(self, incident_id: str | None) -> None:
        if not incident_id:
            self._check("incident", False, "the rollback named no incident")
            return
        incident = self.admin.incident(incident_id)
        self._check("incident", incident.get("kind") == "rollout.rollback",
                    f"{incident_id}: {incident.get('kind')}, {incident.get('status')}")

    def _audit(self, steps: dict[str, dict[str, Any]]) -> None:
        seq = ((steps.get("audit") or {}).get("detail") or {}).get("seq")
        verified = self.admin.audit_verify()
        intact = verified.get("intact") is True
        self._check("audit", bool(seq) and intact,
                    f"rollout.rollback at seq {seq}; chain of {verified.get('records')} "
                    f"records {'intact' if intact else verified.get('first_problem')}")

    def record(self) -> dict[str, Any]:
        """The record POST /admin/drills appends to the audit chain."""
        failed = next((c for c in self.checks if c.outcome != "ok"), None)
        missing = [s for s in STEPS if s not in {c.step for c in self.checks}]
        verdict = "passed" if self.passed else "failed" if failed and \
            failed.outcome == "failed" else "unverifiable"
        reason = "every step ok" if self.passed else \
            f"{failed.step}: {failed.detail}" if failed else f"never reached {missing}"
        return {"kind": "rollback", "passed": self.passed,
                "started_at": self.started_at.isoformat(),
                "finished_at": datetime.now(UTC).isoformat(),
                "checks": [c.plain(self.rollout) for c in self.checks] or
                [{"target": self.rollout, "step": "baseline", "outcome": "not_verifiable",
                  "detail": "the drill did not start"}],
                "switches": [{"name": self.rollout, "verdict": verdict,
                              "reason": reason[:300]}]}
