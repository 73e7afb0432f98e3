"""Turning an HTTP body into the engine's GenerationRequest, and the response fields every
generation route shares (usage, finish reasons, the `warden` extension)."""

from __future__ import annotations

from typing import Any, Protocol

from fastapi import Request

from warden.api.errors import APIError
from warden.api.pipeline.generation import GenerationService
from warden.engine.base import Finished, GenerationRequest, SamplingParams, Usage
from warden.store.keys import Principal


def request_id(request: Request) -> str:
    return request.scope.get("state", {}).get("request_id") or "req_unknown"


class SamplingBody(Protocol):
    temperature: float
    top_p: float
    seed: int | None
    cache: bool

    def stop_list(self) -> list[str]: ...


def build_request(request: Request, service: GenerationService, principal: Principal,
                  body: SamplingBody,
                  *, model: str, max_tokens: int | None, prompt: str | None = None,
                  messages: tuple[dict[str, Any], ...] | None = None) -> GenerationRequest:
    """Check the model and the tier's max_tokens, then describe the work for the engine."""
    service.engine_for(model)
    request.state.model = model  # the metrics middleware labels the request with it
    schema_of = getattr(body, "json_schema", None)
    schema = schema_of() if callable(schema_of) else schema_of
    if schema is not None and body.stop_list():
        raise APIError(400, "stop cannot be combined with a JSON schema: it could cut the "
                            "document short. Remove stop.", code="invalid_value", param="stop")
    return GenerationRequest(
        request_id=request_id(request), model=model, tenant=principal.key_id, prompt=prompt,
        messages=messages, json_schema=schema, use_cache=body.cache,
        sampling=SamplingParams(
            max_tokens=service.max_tokens_for(principal, max_tokens),
            temperature=body.temperature, top_p=body.top_p, top_k=getattr(body, "top_k", 0),
            seed=body.seed, stop=tuple(body.stop_list()),
            logit_bias=body.bias_pairs() if hasattr(body, "bias_pairs") else (),
            forbidden_phrases=tuple(service.tier(principal).forbidden_phrases)),
    )


def usage_dict(usage: Usage) -> dict[str, Any]:
    return {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens,
            "prompt_tokens_details": {"cached_tokens": usage.cached_tokens}}


def warden_extension(finished: Finished) -> dict[str, Any]:
    """Warden-specific facts beside OpenAI's fields; clients that don't know them ignore them."""
    return {"long_context_fallback": bool(finished.extra.get("long_context_fallback")),
            "escalated": bool(finished.extra.get("escalated")),
            "incident_id": finished.extra.get("incident_id"),
            # schema output whose PII redaction broke its schema: withheld (schema_output.py)
            "redaction_broke_schema": bool(finished.extra.get("redaction_broke_schema"))}


def openai_finish_reason(reason: str) -> str:
    return reason if reason in ("stop", "length", "content_filter") else "stop"
