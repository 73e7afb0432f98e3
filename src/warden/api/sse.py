"""Server-sent events in the exact framing OpenAI clients parse. Pure functions."""

from __future__ import annotations

import json
from typing import Any, Protocol

DONE = b"data: [DONE]\n\n"
SSE_HEADERS = {
    "cache-control": "no-cache",
    "x-accel-buffering": "no",  # nginx and friends must not buffer a token stream
}


def event(payload: dict[str, Any]) -> bytes:
    """One `data:` event. JSON has no raw newlines, so a single data line always suffices."""
    return b"data: " + json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode() \
        + b"\n\n"


def chat_chunk(*, chunk_id: str, created: int, model: str, delta: dict[str, Any],
               finish_reason: str | None, usage: dict[str, Any] | None = None,
               include_usage_field: bool = False) -> dict[str, Any]:
    chunk: dict[str, Any] = {
        "id": chunk_id, "object": "chat.completion.chunk", "created": created, "model": model,
        "system_fingerprint": None,
        "choices": [{"index": 0, "delta": delta, "logprobs": None,
                     "finish_reason": finish_reason}],
    }
    if include_usage_field:
        chunk["usage"] = usage
    return chunk


def completion_chunk(*, chunk_id: str, created: int, model: str, text: str,
                     finish_reason: str | None, usage: dict[str, Any] | None = None,
                     include_usage_field: bool = False) -> dict[str, Any]:
    chunk: dict[str, Any] = {
        "id": chunk_id, "object": "text_completion", "created": created, "model": model,
        "system_fingerprint": None,
        "choices": [{"index": 0, "text": text, "logprobs": None,
                     "finish_reason": finish_reason}],
    }
    if include_usage_field:
        chunk["usage"] = usage
    return chunk


def usage_chunk(*, chunk_id: str, created: int, model: str, object_: str,
                usage: dict[str, Any]) -> dict[str, Any]:
    """The final chunk of `stream_options.include_usage`: no choices, only usage."""
    return {"id": chunk_id, "object": object_, "created": created, "model": model,
            "system_fingerprint": None, "choices": [], "usage": usage}


class ErrorBody(Protocol):
    def body(self) -> dict[str, Any]: ...


def error_event(error: ErrorBody) -> bytes:
    """A mid-stream failure, in the same shape as a JSON error answer (the openai client
    raises APIError on a chunk with an `error`)."""
    return event(error.body())
