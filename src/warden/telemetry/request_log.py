"""What one request's access-log line says, gathered while the request runs.

The HTTP middleware opens a `RequestFacts` in a context variable; the layers that learn
something (the generation's token usage, the guard's actions, the rollout's arm) add it with
the `note_*` functions, which do nothing outside a request (batch lines, background work).
Every log line written inside the request also carries its request id and trace id.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")


@dataclass
class RequestFacts:
    request_id: str | None = None
    trace_id: str | None = None
    model: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    safety_actions: set[str] = field(default_factory=set)  # "stage:category:action"
    rollout: str | None = None
    arm: str | None = None

    def fields(self) -> dict[str, Any]:
        return {"request_id": self.request_id, "trace_id": self.trace_id,
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "safety_actions": sorted(self.safety_actions),
                "rollout": self.rollout, "arm": self.arm}


_current: ContextVar[RequestFacts | None] = ContextVar("warden_request_facts", default=None)


def current() -> RequestFacts | None:
    return _current.get()


@contextmanager
def collecting(facts: RequestFacts) -> Iterator[RequestFacts]:
    token = _current.set(facts)
    try:
        yield facts
    finally:
        _current.reset(token)


def trace_id_of(traceparent: str | None) -> str | None:
    """The trace id of a W3C `traceparent` header, or None when absent or malformed."""
    if not traceparent:
        return None
    match = _TRACEPARENT.match(traceparent.strip().lower())
    if match is None or match.group(1) == "0" * 32:
        return None
    return match.group(1)


def note_usage(prompt_tokens: int, completion_tokens: int) -> None:
    facts = _current.get()
    if facts is not None:
        facts.prompt_tokens, facts.completion_tokens = prompt_tokens, completion_tokens


def note_safety(stage: str, categories: tuple[str, ...] | list[str], action: str) -> None:
    facts = _current.get()
    if facts is not None:
        facts.safety_actions.update(f"{stage}:{c}:{action}" for c in categories or ("none",))


def note_arm(rollout: str, arm: str) -> None:
    facts = _current.get()
    if facts is not None:
        facts.rollout, facts.arm = rollout, arm
