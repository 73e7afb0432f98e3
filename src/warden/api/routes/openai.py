"""OpenAI-compatible routes: chat completions, completions, models."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from warden.api import sse
from warden.api.auth import Authenticated, authenticate
from warden.api.pipeline import retrieval, rollout
from warden.api.pipeline.delivery import collect_unless_disconnected, deltas, sse_response
from warden.api.pipeline.generation import Generation
from warden.api.pipeline.request import (
    build_request,
    openai_finish_reason,
    request_id,
    usage_dict,
    warden_extension,
)
from warden.api.pipeline.tools import ToolPlan
from warden.api.protocol import ChatCompletionRequest, CompletionRequest, messages_as_dicts
from warden.api.state import AppState, State
from warden.engine.base import TextDelta
from warden.safety.tools.service import Caller

router = APIRouter(prefix="/v1", tags=["openai"], dependencies=[Depends(authenticate)])


def _public_id(prefix: str, rid: str) -> str:
    return f"{prefix}-{rid.removeprefix('req_')}"


def _model_card(state: AppState, name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": int(state.lifecycle.started_at),
            "owned_by": "warden", "meta": state.engines[name].metadata()}


def _rollout_card(state: AppState, name: str) -> dict[str, Any]:
    """A rollout's public name is a model too; its meta is the champion's engine's."""
    champion = state.rollouts.config.rollouts.models[name].champion.model
    return {**_model_card(state, champion), "id": name, "rollout": name}


@router.get("/models")
async def list_models(state: State) -> dict[str, Any]:
    rollouts = [n for n in state.rollouts.config.rollouts.models if n not in state.engines]
    return {"object": "list", "data": [_model_card(state, name) for name in state.engines]
            + [_rollout_card(state, name) for name in rollouts]}


@router.get("/models/{model_id:path}")
async def retrieve_model(model_id: str, state: State) -> dict[str, Any]:
    if model_id in state.rollouts.config.rollouts.models and model_id not in state.engines:
        return _rollout_card(state, model_id)
    state.service.engine_for(model_id)  # 404 naming the models there are
    return _model_card(state, model_id)


@router.post("/chat/completions", response_model=None)
async def chat_completions(body: ChatCompletionRequest, request: Request,
                           principal: Authenticated,
                           state: State) -> Response:
    arm = rollout.choose(state, principal, body.model, request_id(request))
    gen_request = build_request(request, state.service, principal, body, model=arm.model,
                                max_tokens=body.requested_max_tokens(),
                                messages=messages_as_dicts(body.messages))
    rid = gen_request.request_id
    # Tools (docs/tools.md): offered tools checked against the registry and the key's tier;
    # a required call is decoded under the tools' schemas.
    plan = ToolPlan.from_body(body.tools, body.tool_choice, state.tools,
                              Caller(principal.key_id, principal.tier, rid),
                              client_tools=state.service.tier(principal).client_tools)
    if plan is not None:
        gen_request = plan.apply(gen_request)
    run = await retrieval.begin(state.rag, principal, body.retrieval, gen_request,
                                state.service.engine_for(gen_request.model).count_prompt_tokens,
                                versions=arm.indexes)
    generation = await state.service.start(principal, gen_request, prepare=arm.prepare(run))
    arm.watch(state, principal, generation, run, body.retrieval)
    cited = run.response_fields() if run else {}  # into `warden`, when retrieval was asked
    cited = {**cited, **arm.extension()}
    chunk_id, created = _public_id("chatcmpl", rid), int(time.time())
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        if plan is not None and plan.may_call:
            return arm.tag(sse_response(generation, lambda g: plan.frames(
                g, chunk_id, created, body.model, include_usage)))
        return arm.tag(sse_response(generation, lambda g: _chat_frames(
            g, chunk_id, created, body.model, include_usage, cited=cited)))
    text, finished = await collect_unless_disconnected(request, generation)
    message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
    finish_reason, tool_ext = openai_finish_reason(finished.finish_reason), {}
    if plan is not None:
        reply = await plan.reply(text, finished)
        message, finish_reason = reply.message, reply.finish_reason
        tool_ext = {"tool_call_invalid": reply.tool_call_invalid}
        arm.note_tool_call(reply.finish_reason == "tool_calls", reply.tool_call_invalid)
    return arm.tag(JSONResponse({
        "id": chunk_id, "object": "chat.completion", "created": created, "model": body.model,
        "system_fingerprint": None,
        "choices": [{"index": 0, "message": message, "logprobs": None,
                     "finish_reason": finish_reason}],
        "usage": usage_dict(finished.usage),
        "warden": {**warden_extension(finished), **cited, **tool_ext},
    }, headers=generation.rate_headers))


async def _chat_frames(generation: Generation, chunk_id: str, created: int, model: str,
                       include_usage: bool, *, cited: dict[str, Any] | None = None
                       ) -> AsyncIterator[bytes]:
    def chunk(delta: dict[str, Any], finish: str | None) -> bytes:
        return sse.event(sse.chat_chunk(chunk_id=chunk_id, created=created, model=model,
                                        delta=delta, finish_reason=finish,
                                        include_usage_field=include_usage))

    first = sse.chat_chunk(chunk_id=chunk_id, created=created, model=model,
                           delta={"role": "assistant", "content": ""}, finish_reason=None,
                           include_usage_field=include_usage)
    if cited:  # retrieval citations ride on the first chunk's `warden` field
        first["warden"] = cited
    yield sse.event(first)
    async for event in deltas(generation):
        if isinstance(event, TextDelta):
            yield chunk({"content": event.text}, None)
            continue
        yield chunk({}, openai_finish_reason(event.finish_reason))
        if include_usage:
            yield sse.event(sse.usage_chunk(chunk_id=chunk_id, created=created, model=model,
                                            object_="chat.completion.chunk",
                                            usage=usage_dict(event.usage)))
    yield sse.DONE


@router.post("/completions", response_model=None)
async def completions(body: CompletionRequest, request: Request,
                      principal: Authenticated,
                      state: State) -> Response:
    prompt = body.prompt if isinstance(body.prompt, str) else body.prompt[0]
    arm = rollout.choose(state, principal, body.model, request_id(request))
    gen_request = build_request(request, state.service, principal, body, model=arm.model,
                                max_tokens=body.max_tokens, prompt=prompt)
    rid = gen_request.request_id
    generation = await state.service.start(principal, gen_request, prepare=arm.prepare(None))
    arm.watch(state, principal, generation, None, None)
    chunk_id, created = _public_id("cmpl", rid), int(time.time())
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return arm.tag(sse_response(generation, lambda g: _completion_frames(
            g, chunk_id, created, body.model, include_usage)))
    text, finished = await collect_unless_disconnected(request, generation)
    return arm.tag(JSONResponse({
        "id": chunk_id, "object": "text_completion", "created": created, "model": body.model,
        "system_fingerprint": None,
        "choices": [{"index": 0, "text": text, "logprobs": None,
                     "finish_reason": openai_finish_reason(finished.finish_reason)}],
        "usage": usage_dict(finished.usage),
        "warden": {**warden_extension(finished), **arm.extension()},
    }, headers=generation.rate_headers))


async def _completion_frames(generation: Generation, chunk_id: str, created: int, model: str,
                             include_usage: bool) -> AsyncIterator[bytes]:
    async for event in deltas(generation):
        if isinstance(event, TextDelta):
            yield sse.event(sse.completion_chunk(chunk_id=chunk_id, created=created, model=model,
                                                 text=event.text, finish_reason=None,
                                                 include_usage_field=include_usage))
            continue
        yield sse.event(sse.completion_chunk(
            chunk_id=chunk_id, created=created, model=model, text="",
            finish_reason=openai_finish_reason(event.finish_reason),
            include_usage_field=include_usage))
        if include_usage:
            yield sse.event(sse.usage_chunk(chunk_id=chunk_id, created=created, model=model,
                                            object_="text_completion",
                                            usage=usage_dict(event.usage)))
    yield sse.DONE
