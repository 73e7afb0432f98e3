"""The advisor: one situation in, one decision with its reasoning out, or an error kind.

The prompt is the active variant's (rules summary + nearest examples + situation); decoding is
constrained by the answer schema at temperature 0, so a finished answer always parses. The
generation itself is the caller's `Generator` (the API passes Warden's own GenerationService,
so the advisor is served under the caller's quotas, guard and audit). A timeout, an engine
error, a guard block or a cut-off answer yields no decision and an error kind: the caller
then keeps the current engine's decision. Errors that are the caller's own (over quota) pass
through untouched: the generator says which.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

import jsonschema

from warden.policy.decision import Decision, ErrorKind
from warden.policy.pool import ExamplePicker, PoolExample
from warden.policy.prompts import ANSWER_OVERHEAD_TOKENS, PromptVariant, answer_schema
from warden.policy.rules import RulesEngine
from warden.policy.situation import Situation

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AdvisorCall:
    request_id: str
    messages: tuple[dict[str, str], ...]
    json_schema: dict[str, Any]
    max_tokens: int
    example_ids: tuple[str, ...] = ()  # the few-shot examples shown, for the record

    @property
    def trusted_messages(self) -> int:
        """Every turn but the last is Warden's own (instructions, worked examples); only the
        last, the caller's situation, is the caller's text for the input guard to judge."""
        return len(self.messages) - 1


@dataclass(frozen=True)
class GeneratedText:
    text: str
    finish_reason: str


class Generator(Protocol):
    """What the advisor needs from an engine: one constrained, greedy completion."""

    @property
    def model(self) -> str: ...

    async def generate(self, call: AdvisorCall) -> GeneratedText: ...

    def passes_through(self, exc: BaseException) -> bool:
        """True for errors the caller must see (e.g. its quota), not count as advisor errors."""
        ...


@dataclass(frozen=True)
class Advice:
    decision: Decision | None
    reasoning: str | None
    error: ErrorKind | None
    latency_ms: float
    model: str
    prompt_variant: str
    prompt_hash: str
    example_ids: tuple[str, ...] = ()
    error_detail: str | None = None


class AnswerInvalid(ValueError):
    pass


def parse_answer(text: str, schema: dict[str, Any]) -> tuple[Decision, str]:
    """The decision and reasoning of a JSON answer; AnswerInvalid if it does not validate."""
    try:
        document = json.loads(text)
        jsonschema.validate(document, schema)
    except (ValueError, jsonschema.ValidationError) as exc:
        raise AnswerInvalid(f"the answer does not validate: {str(exc)[:200]}") from exc
    return Decision.parse(document["decision"]), str(document["reasoning"])


class Advisor:
    def __init__(self, rules: RulesEngine, variant: PromptVariant,
                 picker: ExamplePicker | None, *, fewshot_k: int, timeout_s: float,
                 reasoning_max_chars: int) -> None:
        self.rules = rules
        self.variant = variant
        self.picker = picker
        self.k = variant.spec.examples_k if variant.spec.examples_k is not None else fewshot_k
        self.timeout_s = timeout_s
        self.schema = answer_schema(reasoning_max_chars)
        self.max_tokens = reasoning_max_chars + ANSWER_OVERHEAD_TOKENS

    async def call_for(self, situation: Situation, request_id: str) -> AdvisorCall:
        examples: tuple[PoolExample, ...] = ()
        if self.picker is not None and self.k > 0:
            examples = await asyncio.to_thread(self.picker.pick, situation, self.k)
        messages = self.variant.messages(situation, self.rules, examples)
        return AdvisorCall(request_id, messages, self.schema, self.max_tokens,
                           tuple(e.id for e in examples))

    async def advise(self, situation: Situation, generator: Generator,
                     request_id: str) -> Advice:
        started = time.monotonic()

        def advice(decision: Decision | None = None, reasoning: str | None = None,
                   error: ErrorKind | None = None, detail: str | None = None,
                   example_ids: tuple[str, ...] = ()) -> Advice:
            return Advice(decision, reasoning, error, (time.monotonic() - started) * 1000,
                          generator.model, self.variant.name, self.variant.prompt_hash,
                          example_ids, detail)

        try:
            async with asyncio.timeout(self.timeout_s):
                call = await self.call_for(situation, request_id)
                generated = await generator.generate(call)
        except TimeoutError:
            return advice(error=ErrorKind.TIMEOUT, detail=f"over {self.timeout_s} s")
        except Exception as exc:
            if generator.passes_through(exc):
                raise
            log.warning("advisor generation failed for %s: %s", request_id, exc)
            return advice(error=ErrorKind.ENGINE, detail=f"{type(exc).__name__}: "
                          f"{str(exc)[:200]}")
        ids = call.example_ids
        if generated.finish_reason != "stop":
            return advice(error=ErrorKind.FILTERED, example_ids=ids,
                          detail=f"finish_reason {generated.finish_reason}")
        try:
            decision, reasoning = parse_answer(generated.text, self.schema)
        except AnswerInvalid as exc:
            return advice(error=ErrorKind.PARSE, detail=str(exc), example_ids=ids)
        return advice(decision, reasoning, example_ids=ids)
