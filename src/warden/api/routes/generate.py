"""Native generation: a prompt or messages in, text plus usage and timings out."""

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
from warden.api.pipeline.request import build_request, request_id, usage_dict
from warden.api.protocol import GenerateRequest, messages_as_dicts
from warden.api.state import State
from warden.engine.base import TextDelta

router = APIRouter(prefix="/v1", tags=["native"], dependencies=[Depends(authenticate)])


def _timings(generation: Generation, completion_tokens: int) -> dict[str, Any]:
    now = time.monotonic()
    ttft = (generation.first_token_at - generation.arrived) if generation.first_token_at else None
    decode_s = (now - generation.first_token_at) if generation.first_token_at else 0.0
    return {
        "total_ms": round((now - generation.arrived) * 1000, 2),
        "ttft_ms": round(ttft * 1000, 2) if ttft is not None else None,
        "tokens_per_s": round((completion_tokens - 1) / decode_s, 2)
        if completion_tokens > 1 and decode_s > 0 else None,
    }


@router.post("/generate", response_model=None)
async def generate(body: GenerateRequest, request: Request,
                   principal: Authenticated,
                   state: State) -> Response:
    model = body.model or state.service.default_model()
    arm = rollout.choose(state, principal, model, request_id(request))
    gen_request = build_request(
        request, state.service, principal, body, model=arm.model, max_tokens=body.max_tokens,
        prompt=body.prompt, messages=messages_as_dicts(body.messages) if body.messages else None)
    rid = gen_request.request_id
    run = await retrieval.begin(state.rag, principal, body.retrieval, gen_request,
                                state.service.engine_for(gen_request.model).count_prompt_tokens,
                                versions=arm.indexes)
    generation = await state.service.start(principal, gen_request, prepare=arm.prepare(run))
    arm.watch(state, principal, generation, run, body.retrieval)
    cited = run.response_fields() if run else {}  # citations + retrieval, when asked for
    if arm.extension():  # the arm that served it, when the model is a rollout's
        cited = {**cited, "warden": arm.extension()}
    if body.stream:
        return arm.tag(sse_response(generation, lambda g: _frames(g, rid, model, cited)))
    text, finished = await collect_unless_disconnected(request, generation)
    return arm.tag(JSONResponse({
        "id": rid, "request_id": rid, "object": "generation", "model": model, "text": text,
        "finish_reason": finished.finish_reason, "usage": usage_dict(finished.usage),
        "long_context_fallback": bool(finished.extra.get("long_context_fallback")),
        "timings": _timings(generation, finished.usage.completion_tokens), **cited,
    }, headers=generation.rate_headers))


async def _frames(generation: Generation, rid: str, model: str,
                  cited: dict[str, Any]) -> AsyncIterator[bytes]:
    if cited:  # citations lead the stream: a client can show sources while text arrives
        yield sse.event({"id": rid, "object": "generation.chunk", "model": model, "text": "",
                         "finish_reason": None, **cited})
    async for event in deltas(generation):
        if isinstance(event, TextDelta):
            yield sse.event({"id": rid, "object": "generation.chunk", "model": model,
                             "text": event.text, "finish_reason": None})
            continue
        yield sse.event({"id": rid, "object": "generation.chunk", "model": model, "text": "",
                         "finish_reason": event.finish_reason,
                         "usage": usage_dict(event.usage),
                         "timings": _timings(generation, event.usage.completion_tokens),
                         "long_context_fallback":
                             bool(event.extra.get("long_context_fallback"))})
    yield sse.DONE
