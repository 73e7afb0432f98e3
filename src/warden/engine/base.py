"""The Engine protocol and the value types every backend speaks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

FinishReason = Literal["stop", "length", "content_filter", "cancelled", "timeout"]


@dataclass(frozen=True)
class SamplingParams:
    max_tokens: int = 256
    temperature: float = 0.8
    top_p: float = 0.95
    top_k: int = 40
    seed: int | None = None
    stop: tuple[str, ...] = ()
    logit_bias: tuple[tuple[int, float], ...] = ()  # (token id, bias added to its logit)
    forbidden_phrases: tuple[str, ...] = ()  # masked during decoding (in-process engine)


@dataclass(frozen=True)
class GenerationRequest:
    request_id: str
    model: str
    sampling: SamplingParams
    prompt: str | None = None
    messages: tuple[dict[str, Any], ...] | None = None
    tenant: str = "anonymous"
    json_schema: dict[str, Any] | None = None  # decode under this schema (token masks)
    # False: read no state an earlier request left (the tenant's prefix cache, retrieval's
    # pointer cache) and leave none behind; evaluation runs ask for it.
    use_cache: bool = True
    # How many leading messages Warden itself wrote (the policy advisor's instructions and
    # worked examples): the input guard judges only what follows, the caller's part.
    trusted_messages: int = 0

    def __post_init__(self) -> None:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("exactly one of prompt or messages is required")


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Finished:
    finish_reason: FinishReason
    usage: Usage
    extra: dict[str, Any] = field(default_factory=dict)


StreamEvent = TextDelta | Finished


class EngineError(Exception):
    """Base for failures an API can map to a status code."""

    status_code = 500
    code = "engine_error"


class UpstreamUnavailable(EngineError):
    status_code = 502
    code = "upstream_unavailable"


class UpstreamTimeout(EngineError):
    status_code = 504
    code = "upstream_timeout"


class UpstreamRejected(EngineError):
    """The upstream answered 4xx: the request itself is at fault, so keep its status."""

    code = "upstream_rejected"

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


class InvalidRequest(EngineError):
    """The request cannot be served as asked (named in the message)."""

    status_code = 400
    code = "invalid_value"


class PromptTooLong(EngineError):
    status_code = 400
    code = "context_length_exceeded"


@runtime_checkable
class Engine(Protocol):
    """An async token stream plus cancel. One instance serves one configured model."""

    model_name: str

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def is_ready(self) -> bool: ...

    def metadata(self) -> dict[str, Any]: ...

    def count_prompt_tokens(self, request: GenerationRequest) -> int:
        """Tokens the prompt will use; exact where the engine can tokenize, else an estimate.

        Synchronous and thread-safe: a local tokenizer call or arithmetic, never I/O, so the
        retrieval budget can call it from a worker thread."""
        ...

    def stream(self, request: GenerationRequest) -> AsyncIterator[StreamEvent]:
        """Yield TextDelta items, then exactly one Finished. Closing the iterator cancels."""
        ...

    async def cancel(self, request_id: str) -> None: ...
