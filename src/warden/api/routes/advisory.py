"""POST /v1/advisory: a situation in; the advisor's decision, its reasoning and the decision
enforced in the action type's mode out. GET /v1/advisory/{id}: the record (for advisory mode,
the reviewer's final decision once made)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool

from warden.api.auth import Authenticated, authenticate
from warden.api.errors import APIError
from warden.api.pipeline.request import request_id
from warden.api.routes.advisory_engine import ServiceGenerator
from warden.api.state import AppState, State
from warden.policy.decision import Decision
from warden.policy.service import AdvisoryService
from warden.policy.situation import Situation

router = APIRouter(prefix="/v1", tags=["advisory"], dependencies=[Depends(authenticate)])


class AdvisoryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    situation: Situation
    current_decision: Decision | None = None


def advisory_of(state: AppState) -> AdvisoryService:
    if state.advisory is None:
        raise APIError(404, "The policy advisor is off on this server (advisory.enabled: "
                            "false); turn it on in warden.yaml.", code="advisory_disabled")
    return state.advisory


def advisor_engine(request: Request, state: AppState, principal: Any) -> ServiceGenerator:
    model = state.config.advisory.model or state.service.default_model()
    state.service.engine_for(model)  # 404 naming the models when advisory.model is unknown
    request.state.model = model      # the metrics middleware labels the request with it
    return ServiceGenerator(state.service, principal, model)


@router.post("/advisory")
async def advise(body: AdvisoryRequest, request: Request, principal: Authenticated,
                 state: State) -> JSONResponse:
    service = advisory_of(state)
    answer = await service.advise(body.situation, body.current_decision,
                                  advisor_engine(request, state, principal),
                                  key_id=principal.key_id, request_id=request_id(request))
    return JSONResponse(answer)


@router.get("/advisory/{advisory_id}")
async def advisory_record(advisory_id: str, principal: Authenticated,
                          state: State) -> dict[str, Any]:
    control = advisory_of(state).control
    found = await run_in_threadpool(control.record, advisory_id)
    if found is None or (found[0]["key_id"] != principal.key_id and principal.role != "admin"):
        raise APIError(404, f"No advisory '{advisory_id}' for this key.", code="not_found",
                       param="advisory_id")
    record, review = found
    return {**record, "review": review.plain() if review else None}
