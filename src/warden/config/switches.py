"""The `switches:` section of warden.yaml: kill-switch caching and the automatic triggers.

Kept out of warden/config.py so the kill-switch feature owns its settings; config.py only
imports SwitchesConfig. See docs/kill-switches.md for why the defaults are what they are.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Signal = Literal["safety_block_rate", "tool_error_rate", "poisoned_chunks"]
RATE_SIGNALS: tuple[str, ...] = ("safety_block_rate", "tool_error_rate")

# One place for what a switch may be called, shared by the store, the API and the config.
FIXED_SWITCHES: tuple[str, ...] = ("retrieval", "tools")
TOOL_PREFIX = "tool:"
TOOL_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}$")


def switch_name_problem(name: str) -> str | None:
    """None when `name` is a valid switch, else a message that lists the valid ones."""
    if name in FIXED_SWITCHES:
        return None
    if name.startswith(TOOL_PREFIX) and TOOL_NAME.match(name[len(TOOL_PREFIX):]):
        return None
    return (f"unknown switch '{name}': valid switches are 'retrieval', 'tools' and "
            "'tool:<name>' (one tool; letters, digits, '_', '.', '-', at most 64)")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TriggerConfig(_Strict):
    name: str = Field(..., pattern=r"^[a-z0-9][a-z0-9_\-]{0,63}$",
                      description="Shown in incidents and as the actor 'trigger:<name>'.")
    signal: Signal
    window_s: float = Field(..., gt=0, le=86_400, description="Sliding window length.")
    threshold: float = Field(..., ge=0, description="Fires when the measured value is at or "
                             "above this: a fraction 0..1 for *_rate signals, a count of "
                             "quarantined chunks for poisoned_chunks.")
    min_events: int = Field(1, ge=1, description="Requests (rate signals) or index versions "
                            "(poisoned_chunks) the window must hold before it may fire.")
    switch: str = Field(..., description="Turned off when the trigger fires.")

    @field_validator("switch")
    @classmethod
    def _known_switch(cls, value: str) -> str:
        problem = switch_name_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _rate_is_a_fraction(self) -> TriggerConfig:
        if self.signal in RATE_SIGNALS and not 0 < self.threshold <= 1:
            raise ValueError(f"threshold for {self.signal} is a fraction in (0, 1], "
                             f"got {self.threshold}")
        return self


def _default_triggers() -> list[TriggerConfig]:
    return [
        # Half of the requests blocked over a minute (with enough traffic to mean something)
        # looks like an injection/jailbreak campaign: tools are what an injection would abuse.
        TriggerConfig(name="safety-block-surge", signal="safety_block_rate", window_s=60,
                      threshold=0.5, min_events=20, switch="tools"),
        # Tools failing half the time over two minutes: a broken or hostile tool backend.
        TriggerConfig(name="tool-error-surge", signal="tool_error_rate", window_s=120,
                      threshold=0.5, min_events=20, switch="tools"),
        # Quarantine keeps single poisoned chunks out of search; many in fresh versions within
        # an hour means a source is compromised, so stop serving retrieval until reviewed.
        TriggerConfig(name="poisoned-corpus", signal="poisoned_chunks", window_s=3600,
                      threshold=5, min_events=1, switch="retrieval"),
    ]


class SwitchesConfig(_Strict):
    cache_ttl_s: float = Field(0.25, gt=0, le=0.5, description="How stale a replica's view "
                               "of the switches may be; flips are honoured within 2x this.")
    redis_prefix: str = Field("warden:switches:", min_length=1, description="Key prefix in "
                              "store.redis_url (one per deployment sharing a Redis).")
    evaluate_every_s: float = Field(1.0, gt=0, le=60, description="Trigger evaluation period.")
    triggers: list[TriggerConfig] = Field(default_factory=_default_triggers)

    @model_validator(mode="after")
    def _unique_names(self) -> SwitchesConfig:
        names = [t.name for t in self.triggers]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"triggers: names must be unique, repeated: {repeated}")
        return self
