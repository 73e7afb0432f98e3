"""Admin routes the canary analysis reads from and writes to (docs/rollout.md).

    GET  /admin/canaries/{name}/traffic    live samples per arm since the rollout started:
                                           latencies and counts, never text
    GET  /admin/canaries/{name}/facts      the challenger's new index versions: dedup rate,
                                           prefix-leakage check
    POST /admin/canaries/{name}/verdicts   one analysis: store, audit (canary.verdict), metric
    GET  /admin/canaries/{name}/verdicts   newest first
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from warden.api.auth import Admin, require_admin
from warden.api.errors import APIError
from warden.api.routes.rollouts import require_rollout
from warden.api.state import AppState, State
from warden.rollout.arms import CHALLENGER, CHAMPION
from warden.rollout.index_facts import index_facts
from warden.rollout.state import RolloutState

router = APIRouter(prefix="/admin/canaries", tags=["admin"],
                   dependencies=[Depends(require_admin)])

SHA256 = r"^[0-9a-f]{64}$"


class VerdictBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    verdict: Literal["pass", "marginal", "fail", "inconclusive", "error"]
    score: float | None = Field(None, ge=0, le=100)
    action: Literal["continue", "pause", "abort", "promote"]
    champion_hash: str = Field(..., pattern=SHA256)
    challenger_hash: str = Field(..., pattern=SHA256)
    evidence: dict[str, Any] = Field(default_factory=dict)


def _traffic(state: AppState, rollout: RolloutState, since: datetime | None
             ) -> dict[str, Any]:
    start = since or rollout.started_at
    out: dict[str, Any] = {"since": start.isoformat() if start else None}
    for name, arm in ((CHAMPION, rollout.champion), (CHALLENGER, rollout.challenger)):
        if arm is None or start is None:
            out[name] = None
            continue
        samples = state.rollouts.reader.arm_samples(rollout.name, name, since=start,
                                                    arm_hash=arm.hash)
        checked = [s for s in samples if s.budget_violation is not None]
        out[name] = {"hash": arm.hash, "requests": len(samples),
                     "latency_ms": [s.latency_ms for s in samples if s.status == "ok"],
                     "errors": sum(s.status != "ok" for s in samples),
                     "budget_checked": len(checked),
                     "budget_violations": sum(bool(s.budget_violation) for s in checked),
                     "tool_calls": sum(s.tool_calls for s in samples),
                     "tool_calls_invalid": sum(s.tool_calls_invalid for s in samples),
                     "shadow": sum(s.shadow for s in samples)}
    return out


@router.get("/{name}/traffic")
async def traffic(name: str, state: State, since: datetime | None = Query(None)
                  ) -> dict[str, Any]:
    rollout = await require_rollout(state, name)
    return await run_in_threadpool(_traffic, state, rollout, since)


@router.get("/{name}/facts")
async def facts(name: str, state: State) -> dict[str, Any]:
    rollout = await require_rollout(state, name)
    if rollout.challenger is None:
        raise APIError(409, f"rollout '{name}' has no challenger", code="rollout_conflict")
    challenger = rollout.challenger
    return await run_in_threadpool(index_facts, state.retrieval, rollout.champion, challenger)


@router.post("/{name}/verdicts", status_code=201)
async def add_verdict(name: str, body: VerdictBody, admin: Admin, state: State
                      ) -> dict[str, Any]:
    rollout = await require_rollout(state, name)
    if rollout.challenger is None or rollout.challenger.hash != body.challenger_hash:
        raise APIError(409, f"challenger_hash does not name rollout '{name}''s challenger "
                            "(it changed since the analysis began); analyse again",
                       code="stale_verdict", param="challenger_hash")
    runtime = state.rollouts
    stored = await run_in_threadpool(lambda: runtime.verdicts.add(
        name, verdict=body.verdict, score=body.score, action=body.action,
        champion_hash=body.champion_hash, challenger_hash=body.challenger_hash,
        actor=admin.key_id, evidence=body.evidence))
    failing = [k.get("name") for k in ((body.evidence.get("result") or {}).get("kpis") or [])
               if isinstance(k, dict) and k.get("verdict") == "fail"]
    seq = await run_in_threadpool(runtime.service.audit.append, "canary.verdict", admin.key_id,
                                  {"rollout": name, "verdict_id": stored.id,
                                   "verdict": body.verdict, "score": body.score,
                                   "action": body.action, "failing_kpis": failing,
                                   "champion": body.champion_hash,
                                   "challenger": body.challenger_hash})
    runtime.metrics.set_verdict(name, body.verdict, body.score)
    eligibility = await run_in_threadpool(runtime.service.eligibility, rollout)
    return {**stored.plain(evidence=False), "audit_seq": seq,
            "eligibility": eligibility.plain()}


@router.get("/{name}/verdicts")
async def list_verdicts(name: str, state: State, limit: int = Query(20, ge=1, le=500),
                        evidence: bool = Query(False),
                        since: datetime | None = Query(None)) -> dict[str, Any]:
    await require_rollout(state, name)
    verdicts = await run_in_threadpool(lambda: state.rollouts.verdicts.list(
        name, limit=limit, since=since))
    return {"object": "list", "data": [v.plain(evidence=evidence) for v in verdicts]}
