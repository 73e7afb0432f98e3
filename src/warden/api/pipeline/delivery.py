"""Delivering a generation: collected into one JSON answer (cancelled if the client leaves)
or streamed as SSE. Failures on either path go through `to_api_error`, so a stream never
relays an exception's text and a late failure gets the same status a JSON answer would."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from fastapi import Request
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from warden.api import sse
from warden.api.errors import APIError, to_api_error
from warden.api.pipeline.generation import Generation
from warden.engine.base import Finished, TextDelta

_DISCONNECT_POLL_S = 0.25


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
        try:
            return task.result()
        except Exception as exc:  # e.g. the upstream died after the first token
            raise to_api_error(exc) from exc
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
        except Exception as exc:
            yield sse.error_event(to_api_error(exc))
            yield sse.DONE

    headers = {**sse.SSE_HEADERS, **generation.rate_headers}
    # The background task frees the slot even if the client vanished before the first frame.
    return StreamingResponse(body(), media_type="text/event-stream", headers=headers,
                             background=BackgroundTask(generation.close))


async def deltas(generation: Generation) -> AsyncIterator[TextDelta | Finished]:
    async for event in generation.events():
        yield event
