"""Tool routes: list the tools a key may use, and governed execution.

    GET  /v1/tools                    the registry entries allowed for the caller's tier, in
                                      OpenAI `tools` format (pass them straight to the client)
    POST /v1/tools/{name}/execute     {arguments, dry_run?, confirmation_token?, purpose?}

The protocol (dry run -> confirmation token -> real run) lives in warden.safety.tools.service;
this module only translates HTTP to it and back.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from warden.api.auth import authenticate
from warden.api.errors import APIError
from warden.api.routes.common import request_id
from warden.api.state import AppState, app_state
from warden.api.tool_chat import api_error
from warden.api.tool_schemas import ToolExecuteRequest
from warden.safety.tools.errors import ToolProblem
from warden.safety.tools.service import Caller, ExecuteCall, ToolService
from warden.store.keys import Principal

router = APIRouter(prefix="/v1/tools", tags=["tools"], dependencies=[Depends(authenticate)])


def _service(state: AppState) -> ToolService:
    service = getattr(state, "tools", None)
    if service is None:
        raise APIError(503, "Tool governance is not running on this server.",
                       code="tools_unavailable")
    return service


@router.get("")
async def list_tools(principal: Principal = Depends(authenticate),
                     state: AppState = Depends(app_state)) -> dict[str, Any]:
    service = _service(state)
    return {"object": "list", "data": [
        {**tool.openai_spec(), "mutating": tool.mutating}
        for tool in service.registry.for_tier(principal.tier)]}


@router.post("/{name}/execute")
async def execute_tool(name: str, body: ToolExecuteRequest, request: Request,
                       principal: Principal = Depends(authenticate),
                       state: AppState = Depends(app_state)) -> dict[str, Any]:
    service = _service(state)
    caller = Caller(key_id=principal.key_id, tier=principal.tier,
                    request_id=request_id(request))
    call = ExecuteCall(tool=name, arguments=body.arguments, dry_run=body.dry_run,
                       confirmation_token=body.confirmation_token, purpose=body.purpose)
    try:
        return await service.execute(call, caller)
    except ToolProblem as problem:
        raise api_error(problem) from None
