"""Helpers the generation routes share: request building, disconnect-aware collection,
and the SSE response wrapper."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import Request
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from warden.api import sse
from warden.api.errors import APIError
from warden.api.serving import Generation, GenerationTimeout
from warden.engine.base import Finished, SamplingParams, TextDelta, Usage

_DISCONNECT_POLL_S = 0.25


def request_id(request: Request) -> str:
    return request.scope.get("state", {}).get("request_id") or "req_unknown"


def sampling(*, max_tokens: int, temperature: float, top_p: float, seed: int | None,
             stop: list[str], top_k: int = 0) -> SamplingParams:
    return SamplingParams(max_tokens=max_tokens, temperature=temperature, top_p=top_p,
                          top_k=top_k, seed=seed, stop=tuple(stop))


def usage_dict(usage: Usage) -> dict[str, Any]:
    return {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens,
            "prompt_tokens_details": {"cached_tokens": usage.cached_tokens}}


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
