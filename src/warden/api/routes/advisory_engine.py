"""The policy advisor's engine: Warden's own GenerationService, under the caller's key.

So an advisory is served like any generation: the caller's quota is reserved, the input and
output guards run, the waiting line bounds the queue, and the JSON schema masks decoding.
Errors that are the caller's (over quota, a key without a configured tier) reach the caller;
every other failure is the advisor's, and the current engine's decision stands.
"""

from __future__ import annotations

from warden.api.errors import APIError
from warden.api.pipeline.generation import GenerationService
from warden.engine.base import GenerationRequest, SamplingParams
from warden.policy.advisor import AdvisorCall, GeneratedText
from warden.ratelimit import LimiterUnavailable, RateLimited, RequestTooLarge
from warden.store.keys import Principal

_CALLER_STATUSES = (401, 403, 429)


class ServiceGenerator:
    def __init__(self, service: GenerationService, principal: Principal, model: str) -> None:
        self._service = service
        self._principal = principal
        self._model = model

    @property
    def model(self) -> str:
        return self._model

    async def generate(self, call: AdvisorCall) -> GeneratedText:
        tier = self._service.tier(self._principal)
        request = GenerationRequest(
            request_id=call.request_id, model=self._model, tenant=self._principal.key_id,
            messages=call.messages, trusted_messages=call.trusted_messages,
            json_schema=call.json_schema,
            sampling=SamplingParams(max_tokens=min(call.max_tokens, tier.max_tokens),
                                    temperature=0.0, top_p=1.0, top_k=0, seed=0,
                                    forbidden_phrases=tuple(tier.forbidden_phrases)))
        generation = await self._service.start(self._principal, request)
        text, finished = await generation.collect()
        return GeneratedText(text, finished.finish_reason)

    def passes_through(self, exc: BaseException) -> bool:
        if isinstance(exc, RateLimited | RequestTooLarge | LimiterUnavailable):
            return True
        return isinstance(exc, APIError) and exc.status in _CALLER_STATUSES
