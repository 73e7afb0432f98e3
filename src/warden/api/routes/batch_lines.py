"""One batch line, served as its endpoint's route would serve it: the same protocol models,
`build_request`, tool plan, retrieval and GenerationService (quota, input guard, waiting
line, engine, output guard, reconcile), run as batch priority so it only takes idle engine
capacity. The answer is the body the route would have sent, or its error body: a blocked,
malformed or over-quota line gets its reason, exactly as an interactive caller would.

It lives beside the routes because it is their batch twin; warden.batch (a lower layer)
knows it only as the LineExecutor protocol.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from warden.api.errors import APIError, to_api_error, validation_error
from warden.api.pipeline import retrieval
from warden.api.pipeline.generation import GenerationService
from warden.api.pipeline.request import (
    build_request,
    openai_finish_reason,
    usage_dict,
    warden_extension,
)
from warden.api.pipeline.retrieval import RetrievalStage
from warden.api.pipeline.tools import ToolPlan
from warden.api.protocol import ChatCompletionRequest, CompletionRequest, messages_as_dicts
from warden.batch.lines import InputLine
from warden.batch.runner import LineOutcome
from warden.engine.base import Finished
from warden.engine.waiting_line import batch_priority
from warden.safety.tools.service import Caller, ToolService
from warden.store.keys import Principal


def _line_request(request_id: str) -> Request:
    """The per-request state build_request reads and writes, without an HTTP connection."""
    return Request({"type": "http", "method": "POST", "path": "/batch", "headers": [],
                    "query_string": b"", "state": {"request_id": request_id}})


def _public_id(prefix: str, request_id: str) -> str:
    return f"{prefix}-{request_id.removeprefix('req_')}"


class GenerationLineExecutor:
    def __init__(self, service: GenerationService, rag: RetrievalStage | None,
                 tools: ToolService) -> None:
        self._service = service
        self._rag = rag
        self._tools = tools

    async def wait_for_room(self, model: str | None) -> None:
        lines = self._service.waiting_lines
        line = lines.get(model or "") or lines[self._service.default_model()]
        await line.room_for_batch()

    async def execute(self, principal: Principal, endpoint: str, line: InputLine,
                      request_id: str) -> LineOutcome:
        body = line.body or {}
        with batch_priority():
            try:
                if endpoint == "/v1/chat/completions":
                    return await self._chat(principal, body, request_id)
                return await self._completion(principal, body, request_id)
            except ValidationError as exc:
                return _error(validation_error(RequestValidationError(exc.errors())))
            except Exception as exc:
                return _error(to_api_error(exc))

    async def _chat(self, principal: Principal, raw: dict[str, Any], rid: str) -> LineOutcome:
        body = ChatCompletionRequest.model_validate(raw)
        _no_stream(body.stream)
        service = self._service
        gen_request = build_request(_line_request(rid), service, principal, body,
                                    model=body.model, max_tokens=body.requested_max_tokens(),
                                    messages=messages_as_dicts(body.messages))
        plan = ToolPlan.from_body(body.tools, body.tool_choice, self._tools,
                                  Caller(principal.key_id, principal.tier, rid),
                                  client_tools=service.tier(principal).client_tools)
        if plan is not None:
            gen_request = plan.apply(gen_request)
        run = await retrieval.begin(self._rag, principal, body.retrieval, gen_request,
                                    service.engine_for(gen_request.model).count_prompt_tokens)
        generation = await service.start(principal, gen_request,
                                         prepare=run.prepare if run else None)
        try:
            text, finished = await generation.collect()
        finally:
            generation.close()
        message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
        finish_reason, tool_ext = openai_finish_reason(finished.finish_reason), {}
        if plan is not None:
            reply = await plan.reply(text, finished)
            message, finish_reason = reply.message, reply.finish_reason
            tool_ext = {"tool_call_invalid": reply.tool_call_invalid}
        cited = run.response_fields() if run else {}
        return _answer(finished, {
            "id": _public_id("chatcmpl", rid), "object": "chat.completion",
            "created": int(time.time()), "model": body.model, "system_fingerprint": None,
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": finish_reason}],
            "usage": usage_dict(finished.usage),
            "warden": {**warden_extension(finished), **cited, **tool_ext},
        })

    async def _completion(self, principal: Principal, raw: dict[str, Any], rid: str
                          ) -> LineOutcome:
        body = CompletionRequest.model_validate(raw)
        _no_stream(body.stream)
        prompt = body.prompt if isinstance(body.prompt, str) else body.prompt[0]
        gen_request = build_request(_line_request(rid), self._service, principal, body,
                                    model=body.model, max_tokens=body.max_tokens, prompt=prompt)
        generation = await self._service.start(principal, gen_request)
        try:
            text, finished = await generation.collect()
        finally:
            generation.close()
        return _answer(finished, {
            "id": _public_id("cmpl", rid), "object": "text_completion",
            "created": int(time.time()), "model": body.model, "system_fingerprint": None,
            "choices": [{"index": 0, "text": text, "logprobs": None,
                         "finish_reason": openai_finish_reason(finished.finish_reason)}],
            "usage": usage_dict(finished.usage),
            "warden": warden_extension(finished),
        })


def _no_stream(stream: bool) -> None:
    if stream:
        raise APIError(400, "stream is not supported in a batch line: the answer is written "
                            "to the output file. Remove stream.", code="invalid_value",
                       param="stream")


def _answer(finished: Finished, body: dict[str, Any]) -> LineOutcome:
    usage = finished.usage
    return LineOutcome(200, body, prompt_tokens=usage.prompt_tokens,
                       completion_tokens=usage.completion_tokens,
                       cached_tokens=usage.cached_tokens)


def _error(error: APIError) -> LineOutcome:
    retry_after = error.headers.get("retry-after")
    return LineOutcome(error.status, error.body(),
                       retry_after_s=float(retry_after) if retry_after else None)
