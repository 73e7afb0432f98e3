"""Admin routes of the policy advisor: status and gates, promote, rollback, the review queue,
stats, evaluation (nothing recorded), feedback export and prompt variants.

Reviews need a reviewer. Keys have no 'reviewer' role yet (roles are user and admin), so the
review routes take an admin key; the reviewer recorded is the key id.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from warden.api.auth import Admin, require_admin
from warden.api.errors import APIError
from warden.api.pipeline.request import request_id
from warden.api.routes.advisory import advisor_engine, advisory_of
from warden.api.state import State
from warden.config.advisory import ACTION_TYPES, ActionType
from warden.policy.control import PromotionRefused
from warden.policy.decision import Decision, OverrideCategory
from warden.policy.feedback import RefreshRefused, export_lines
from warden.policy.prompts import PromptError
from warden.policy.report import parse_window
from warden.policy.situation import Situation
from warden.policy.store import AdvisoryConflict, AdvisoryNotFound

router = APIRouter(prefix="/admin/advisory", tags=["admin", "advisory"],
                   dependencies=[Depends(require_admin)])


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RollbackBody(_Body):
    action_types: list[ActionType] = Field(default_factory=list, description="Empty with "
                                           "all=true: every action type.")
    all: bool = False
    reason: str | None = Field(None, max_length=2000)


class ReviewBody(_Body):
    decision: Decision
    notes: str | None = Field(None, max_length=2000)
    category: OverrideCategory | None = Field(None, description="Only for an override; "
                                              "derived from the decisions when left out.")


class EvaluateBody(_Body):
    situation: Situation
    current_decision: Decision | None = None
    prompt_variant: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")


class RefreshBody(_Body):
    name: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")


@router.get("/status")
async def status(state: State) -> dict[str, Any]:
    return await run_in_threadpool(advisory_of(state).control.status)


@router.post("/promote/{action_type}")
async def promote(action_type: str, principal: Admin, state: State) -> dict[str, Any]:
    control = advisory_of(state).control
    if action_type not in ACTION_TYPES:
        raise APIError(404, f"Unknown action type '{action_type}'; use one of "
                            f"{', '.join(ACTION_TYPES)}.", code="not_found",
                       param="action_type")
    try:
        mode, gate = await run_in_threadpool(control.promote, action_type, principal.key_id)
    except PromotionRefused as exc:
        raise APIError(409, str(exc), code="promotion_refused", param="action_type") from exc
    except AdvisoryConflict as exc:
        raise APIError(409, str(exc), code="conflict") from exc
    return {"mode": mode.plain(), "gate": gate.plain()}


@router.post("/rollback")
async def rollback(body: RollbackBody, principal: Admin, state: State) -> dict[str, Any]:
    if body.all == bool(body.action_types):
        raise APIError(400, "Give action_types (e.g. [\"deploy\"]) or all: true, not both "
                            "and not neither.", code="invalid_value", param="action_types")
    targets = list(ACTION_TYPES) if body.all else list(dict.fromkeys(body.action_types))
    changes = await run_in_threadpool(advisory_of(state).control.rollback, targets,
                                      principal.key_id, body.reason)
    return {"object": "list", "data": changes}


@router.get("/reviews")
async def reviews(state: State, status: Literal["pending", "decided", "timed_out"] | None = None,
                  action_type: ActionType | None = None, limit: int = 100) -> dict[str, Any]:
    rows = await run_in_threadpool(advisory_of(state).control.reviews, status, action_type,
                                   max(1, min(limit, 1000)))
    return {"object": "list", "data": rows}


@router.post("/reviews/{advisory_id}")
async def decide(advisory_id: str, body: ReviewBody, principal: Admin,
                 state: State) -> dict[str, Any]:
    control = advisory_of(state).control
    try:
        review = await run_in_threadpool(control.decide, advisory_id, principal.key_id,
                                         body.decision, body.notes, body.category)
    except AdvisoryNotFound as exc:
        raise APIError(404, str(exc), code="not_found", param="advisory_id") from exc
    except AdvisoryConflict as exc:
        raise APIError(409, str(exc), code="conflict") from exc
    return review.plain()


@router.get("/stats")
async def stats(state: State, window: str | None = "7d") -> dict[str, Any]:
    try:
        span = parse_window(window) if window and window != "all" else None
    except ValueError as exc:
        raise APIError(400, str(exc), code="invalid_value", param="window") from exc
    return await run_in_threadpool(advisory_of(state).control.stats, span)


@router.post("/evaluate")
async def evaluate(body: EvaluateBody, request: Request, principal: Admin,
                   state: State) -> dict[str, Any]:
    service = advisory_of(state)
    try:
        return await service.evaluate(body.situation, body.current_decision,
                                      advisor_engine(request, state, principal),
                                      request_id=request_id(request),
                                      prompt_variant=body.prompt_variant)
    except PromptError as exc:
        raise APIError(404, str(exc), code="not_found", param="prompt_variant") from exc


@router.get("/feedback")
async def feedback(state: State) -> PlainTextResponse:
    corrections = await run_in_threadpool(advisory_of(state).control.reviewed)
    return PlainTextResponse("".join(line + "\n" for line in export_lines(corrections)),
                             media_type="application/x-ndjson")


@router.get("/variants")
async def variants(state: State) -> dict[str, Any]:
    control = advisory_of(state).control
    return {"active": await run_in_threadpool(control.active_variant),
            "data": await run_in_threadpool(control.store.variants)}


@router.post("/variants/refresh")
async def refresh(body: RefreshBody, principal: Admin, state: State) -> dict[str, Any]:
    service = advisory_of(state)
    try:
        return await run_in_threadpool(service.refresh_pool, body.name, principal.key_id)
    except (RefreshRefused, AdvisoryConflict) as exc:
        raise APIError(409, str(exc), code="conflict") from exc


@router.post("/variants/{name}/activate")
async def activate(name: str, principal: Admin, state: State) -> dict[str, Any]:
    service = advisory_of(state)
    try:
        return await run_in_threadpool(service.activate_variant, name, principal.key_id)
    except PromptError as exc:
        raise APIError(404, str(exc), code="not_found", param="name") from exc
