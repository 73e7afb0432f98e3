"""Admin routes for rollouts: state, start, share, promote, rollback (docs/rollout.md).

    GET  /admin/rollouts                       every rollout: state, live traffic summary
    GET  /admin/rollouts/{name}                one, with promotion eligibility and events
    POST /admin/rollouts/{name}/start          put a challenger live {challenger, share, mode}
    POST /admin/rollouts/{name}/share          {share}
    POST /admin/rollouts/{name}/promote        {reason, force}
    POST /admin/rollouts/{name}/rollback       {reason, evidence, automatic}
    POST /admin/rollouts/{name}/verification   the smoke rerun after a rollback

Admin role only; every change is audited as rollout.<kind> (RolloutService).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from warden.api.auth import Admin, require_admin
from warden.api.errors import APIError
from warden.api.state import AppState, State
from warden.rollout.arms import CHALLENGER, CHAMPION, RolloutError
from warden.rollout.service import ChallengerRequest
from warden.rollout.state import RolloutState
from warden.rollout.traffic import summarize

router = APIRouter(prefix="/admin/rollouts", tags=["admin"],
                   dependencies=[Depends(require_admin)])

CORPUS = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class ChallengerBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str | None = Field(None, max_length=128, description="Default: the champion's.")
    prompt: str | None = Field(None, max_length=64, description="A rollouts.prompts name.")
    indexes: dict[str, int] = Field(default_factory=dict, max_length=32,
                                    description="corpus -> index version.")


class StartBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    challenger: ChallengerBody | None = Field(None, description="Default: the configured "
                                              "challenger.")
    share: float | None = Field(None, ge=0, le=1)
    mode: Literal["ab", "shadow"] | None = None
    reason: str | None = Field(None, max_length=2000)


class ShareBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    share: float = Field(..., ge=0, le=1)


class PromoteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(None, max_length=2000)
    force: bool = Field(False, description="Promote although the canary has not passed for "
                        "the configured time (audited as forced).")


class RollbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(..., min_length=1, max_length=2000)
    automatic: bool = Field(False, description="Set by the canary when it rolls back.")
    evidence: dict[str, Any] = Field(default_factory=dict, description="What triggered it "
                                     "(the canary verdict id and its failing KPIs).")


class VerificationBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    matches_baseline: bool
    detail: dict[str, Any] = Field(default_factory=dict)


def rollout_error(exc: RolloutError, name: str) -> APIError:
    message = str(exc)
    if message.startswith("no rollout"):
        return APIError(404, message, code="rollout_not_found", param="name")
    return APIError(409, message, code="rollout_conflict", param=name)


def live_summary(state: AppState, rollout: RolloutState, window: timedelta | None = None
                 ) -> dict[str, Any]:
    since = rollout.started_at or (datetime.now(UTC) - (window or timedelta(hours=1)))
    arms = {CHAMPION: rollout.champion, CHALLENGER: rollout.challenger}
    return {name: summarize(state.rollouts.reader.arm_samples(
        rollout.name, name, since=since, arm_hash=arm.hash)) if arm else None
        for name, arm in arms.items()}


def view(state: AppState, rollout: RolloutState, *, detail: bool = False) -> dict[str, Any]:
    runtime = state.rollouts
    out = {**rollout.plain(), "traffic": live_summary(state, rollout),
           "eligibility": runtime.service.eligibility(rollout).plain()}
    latest = runtime.verdicts.list(rollout.name, limit=1, since=rollout.started_at)
    out["latest_verdict"] = latest[0].plain(evidence=False) if latest else None
    configured = runtime.config.rollouts.models.get(rollout.name)
    out["canary"] = configured.canary.model_dump() if configured else None
    if detail:
        out["events"] = runtime.store.events(rollout.name)
        out["caches_cleared"] = [c for c in runtime.cleared if c["rollout"] == rollout.name]
    return out


async def require_rollout(state: AppState, name: str) -> RolloutState:
    try:
        return await run_in_threadpool(state.rollouts.service.require, name)
    except RolloutError as exc:
        raise rollout_error(exc, name) from exc


@router.get("")
async def list_rollouts(state: State) -> dict[str, Any]:
    states = await run_in_threadpool(state.rollouts.store.all)
    data = [await run_in_threadpool(view, state, s) for _, s in sorted(states.items())]
    return {"object": "list", "data": data, "refresh_error": state.rollouts.view.last_error}


@router.get("/{name}")
async def get_rollout(name: str, state: State) -> dict[str, Any]:
    rollout = await require_rollout(state, name)
    return await run_in_threadpool(lambda: view(state, rollout, detail=True))


@router.post("/{name}/start")
async def start(name: str, body: StartBody, admin: Admin, state: State) -> dict[str, Any]:
    request = None if body.challenger is None else ChallengerRequest(
        body.challenger.model, body.challenger.prompt, body.challenger.indexes)
    try:
        rollout = await run_in_threadpool(lambda: state.rollouts.service.start(
            name, request, share=body.share, mode=body.mode, actor=admin.key_id,
            reason=body.reason))
    except RolloutError as exc:
        raise rollout_error(exc, name) from exc
    return await run_in_threadpool(view, state, rollout)


@router.post("/{name}/share")
async def share(name: str, body: ShareBody, admin: Admin, state: State) -> dict[str, Any]:
    try:
        rollout = await run_in_threadpool(state.rollouts.service.set_share, name, body.share,
                                          admin.key_id)
    except RolloutError as exc:
        raise rollout_error(exc, name) from exc
    return await run_in_threadpool(view, state, rollout)


@router.post("/{name}/promote")
async def promote(name: str, body: PromoteBody, admin: Admin, state: State
                  ) -> dict[str, Any]:
    try:
        rollout, steps = await run_in_threadpool(lambda: state.rollouts.service.promote(
            name, admin.key_id, reason=body.reason, force=body.force))
    except RolloutError as exc:
        raise rollout_error(exc, name) from exc
    return {**await run_in_threadpool(view, state, rollout), "steps": steps.steps}


@router.post("/{name}/rollback")
async def rollback(name: str, body: RollbackBody, admin: Admin, state: State
                   ) -> dict[str, Any]:
    try:
        rollout, steps = await run_in_threadpool(lambda: state.rollouts.service.rollback(
            name, admin.key_id, reason=body.reason, evidence=body.evidence,
            automatic=body.automatic))
    except RolloutError as exc:
        raise rollout_error(exc, name) from exc
    return {**await run_in_threadpool(view, state, rollout), "steps": steps.steps,
            "ok": steps.ok}


@router.post("/{name}/verification", status_code=201)
async def verification(name: str, body: VerificationBody, admin: Admin, state: State
                       ) -> dict[str, Any]:
    try:
        seq = await run_in_threadpool(state.rollouts.service.record_verification, name,
                                      admin.key_id, {"matches_baseline": body.matches_baseline,
                                                     **body.detail})
    except RolloutError as exc:
        raise rollout_error(exc, name) from exc
    return {"object": "rollout.verification", "rollout": name, "audit_seq": seq}
