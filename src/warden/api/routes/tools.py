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

from warden.api.auth import Authenticated, authenticate
from warden.api.pipeline.request import request_id
from warden.api.protocol import ToolExecuteRequest
from warden.api.state import State
from warden.safety.tools.service import Caller, ExecuteCall

router = APIRouter(prefix="/v1/tools", tags=["tools"], dependencies=[Depends(authenticate)])


@router.get("")
async def list_tools(principal: Authenticated,
                     state: State) -> dict[str, Any]:
    return {"object": "list", "data": [
        {**tool.openai_spec(), "mutating": tool.mutating}
        for tool in state.tools.registry.for_tier(principal.tier)]}


@router.post("/{name}/execute")
async def execute_tool(name: str, body: ToolExecuteRequest, request: Request,
                       principal: Authenticated,
                       state: State) -> dict[str, Any]:
    caller = Caller(key_id=principal.key_id, tier=principal.tier,
                    request_id=request_id(request))
    call = ExecuteCall(tool=name, arguments=body.arguments, dry_run=body.dry_run,
                       confirmation_token=body.confirmation_token, purpose=body.purpose)
    return await state.tools.execute(call, caller)  # a ToolProblem becomes its 4xx/5xx
