"""Helpers the generation routes share: request building, disconnect-aware collection,
and the SSE response wrapper."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

from fastapi import Request
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from warden.api import sse
from warden.api.errors import APIError
from warden.api.serving import Generation, GenerationTimeout
from warden.api.state import AppState
from warden.engine.base import Finished, GenerationRequest, SamplingParams, TextDelta, Usage
from warden.store.keys import Principal

_DISCONNECT_POLL_S = 0.25


def request_id(request: Request) -> str:
    return request.scope.get("state", {}).get("request_id") or "req_unknown"


class SamplingBody(Protocol):
    temperature: float
    top_p: float
    seed: int | None

    def stop_list(self) -> list[str]: ...


def build_request(request: Request, state: AppState, principal: Principal, body: SamplingBody,
                  *, model: str, max_tokens: int | None, prompt: str | None = None,
                  messages: tuple[dict[str, Any], ...] | None = None) -> GenerationRequest:
    """Check the model and the tier's max_tokens, then describe the work for the engine."""
    state.service.engine_for(model)
    request.state.model = model  # the metrics middleware labels the request with it
    schema_of = getattr(body, "json_schema", None)
    schema = schema_of() if callable(schema_of) else schema_of
    if schema is not None and body.stop_list():
        raise APIError(400, "stop cannot be combined with a JSON schema: it could cut the "
                            "document short. Remove stop.", code="invalid_value", param="stop")
    return GenerationRequest(
        request_id=request_id(request), model=model, tenant=principal.key_id, prompt=prompt,
        messages=messages, json_schema=schema,
        sampling=SamplingParams(
            max_tokens=state.service.max_tokens_for(principal, max_tokens),
            temperature=body.temperature, top_p=body.top_p, top_k=getattr(body, "top_k", 0),
            seed=body.seed, stop=tuple(body.stop_list()),
            logit_bias=body.bias_pairs() if hasattr(body, "bias_pairs") else (),
            forbidden_phrases=tuple(state.service.tier(principal).forbidden_phrases)),
    )


def usage_dict(usage: Usage) -> dict[str, Any]:
    return {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens,
            "prompt_tokens_details": {"cached_tokens": usage.cached_tokens}}


def warden_extension(finished: Finished) -> dict[str, Any]:
    """Warden-specific facts beside OpenAI's fields; clients that don't know them ignore them."""
    return {"long_context_fallback": bool(finished.extra.get("long_context_fallback")),
            "escalated": bool(finished.extra.get("escalated")),
            "incident_id": finished.extra.get("incident_id")}


def openai_finish_reason(reason: str) -> str:
    return reason if reason in ("stop", "length", "content_filter") else "stop"


async def collect_unless_disconnected(request: Request, generation: Generation
                                      ) -> tuple[str, Finished]:
    """Run a non-streamed generation, cancelling it if the client goes away meanwhile."""
    task = asyncio.ensure_future(generation.collect())
    try:
        while not task.done():
            await asyncio.wait({task}, timeout=_DISCONNECT_POLL_S)
            if not task.done() and await request.is_disconnected():
                task.cancel()
                raise APIError(499, "Client closed the request.", code="client_closed")
        return task.result()
    except GenerationTimeout as exc:
        raise APIError(504, "The request timed out while generating "
                            "(server.request_timeout_s).", code="timeout") from exc
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        generation.close()


def sse_response(generation: Generation,
                 frames: Callable[[Generation], AsyncIterator[bytes]]) -> StreamingResponse:
    async def body() -> AsyncIterator[bytes]:
        try:
            async for frame in frames(generation):
                yield frame
        except GenerationTimeout:
            yield sse.error_event("The request timed out while generating "
                                  "(server.request_timeout_s).", "timeout", "timeout_error")
            yield sse.DONE
        except APIError as exc:
            yield sse.error_event(exc.message, exc.code or "error", exc.type)
            yield sse.DONE
        except Exception as exc:
            yield sse.error_event(f"Generation failed: {exc}", "engine_error")
            yield sse.DONE

    headers = {**sse.SSE_HEADERS, **generation.rate_headers}
    # The background task frees the slot even if the client vanished before the first frame.
    return StreamingResponse(body(), media_type="text/event-stream", headers=headers,
                             background=BackgroundTask(generation.close))


async def deltas(generation: Generation) -> AsyncIterator[TextDelta | Finished]:
    async for event in generation.events():
        yield event
