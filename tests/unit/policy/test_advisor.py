"""The advisor with a scripted generator: parse, errors, timeouts, pass-through."""

from __future__ import annotations

import asyncio
import json

import pytest
from tests.unit.policy.helpers import situation

from warden.policy.advisor import Advisor, AdvisorCall, GeneratedText, parse_answer
from warden.policy.decision import Decision, ErrorKind
from warden.policy.prompts import answer_schema, load_variant
from warden.policy.rules import load_rules


class Quota(Exception):
    pass


class Scripted:
    model = "scripted"

    def __init__(self, text: str = "", finish: str = "stop", delay: float = 0.0,
                 error: Exception | None = None) -> None:
        self.text, self.finish, self.delay, self.error = text, finish, delay, error
        self.calls: list[AdvisorCall] = []

    async def generate(self, call: AdvisorCall) -> GeneratedText:
        self.calls.append(call)
        await asyncio.sleep(self.delay)
        if self.error:
            raise self.error
        return GeneratedText(self.text, self.finish)

    def passes_through(self, exc: BaseException) -> bool:
        return isinstance(exc, Quota)


def advisor(timeout_s: float = 5.0) -> Advisor:
    rules = load_rules()
    return Advisor(rules, load_variant("rules-only", rules, 160), None, fewshot_k=3,
                   timeout_s=timeout_s, reasoning_max_chars=160)


def run(gen: Scripted, timeout_s: float = 5.0):  # type: ignore[no-untyped-def]
    return asyncio.run(advisor(timeout_s).advise(situation(), gen, "req_1"))


def test_a_valid_answer_parses_and_the_call_is_constrained() -> None:
    gen = Scripted(json.dumps({"decision": "allow", "reasoning": "Members may read."}))
    advice = run(gen)
    assert (advice.decision, advice.reasoning, advice.error) == (
        Decision.ALLOW, "Members may read.", None)
    call = gen.calls[0]
    assert call.json_schema == answer_schema(160)
    assert call.max_tokens == 200  # the reasoning bound plus the JSON around it
    assert call.messages[0]["role"] == "system" and "Policy:" in call.messages[0]["content"]
    assert "action: read" in call.messages[-1]["content"]


@pytest.mark.parametrize(("gen", "kind"), [
    (Scripted('{"decision": "allow"'), ErrorKind.PARSE),
    (Scripted('{"decision": "maybe", "reasoning": "x"}'), ErrorKind.PARSE),
    (Scripted('{"decision": "allow", "reasoning": "x"}', finish="content_filter"),
     ErrorKind.FILTERED),
    (Scripted(error=RuntimeError("engine down")), ErrorKind.ENGINE),
    (Scripted(text="{}", delay=2.0), ErrorKind.TIMEOUT),
])
def test_failures_give_no_decision_and_an_error_kind(gen: Scripted, kind: ErrorKind) -> None:
    advice = run(gen, timeout_s=0.5)
    assert advice.decision is None and advice.error is kind


def test_caller_errors_pass_through() -> None:
    with pytest.raises(Quota):
        run(Scripted(error=Quota()))


def test_parse_answer_checks_the_schema() -> None:
    schema = answer_schema(20)
    assert parse_answer('{"decision": "deny", "reasoning": "no"}', schema)[0] is Decision.DENY
    with pytest.raises(ValueError, match="does not validate"):
        parse_answer('{"decision": "deny", "reasoning": "' + "x" * 21 + '"}', schema)
