"""A situation: who wants to do what to which resource, how far they are trusted, and context.

The same model validates `POST /v1/advisory` bodies, the semantic suite and replay files, so
an error always names the field. `describe()` is the one text rendering of a situation: the
prompt shows it and the few-shot KNN embeds it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from warden.config.advisory import ActionType

MAX_CONTEXT_KEYS = 32
MAX_CONTEXT_BYTES = 2048
MAX_CONTEXT_STRING = 200
ContextKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$")]
Scalar = str | int | float | bool | None
ContextValue = Scalar | list[Scalar]
Unit = Annotated[float, Field(ge=0.0, le=1.0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class T3Tensor(_Strict):
    """Trust along three dimensions, each 0..1."""

    competence: Unit
    reliability: Unit
    integrity: Unit


class TrustLevel(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


@dataclass(frozen=True)
class TrustScale:
    """Trust score T = the weakest T3 dimension; high at T >= high, medium at T >= medium."""

    high: float = 0.7
    medium: float = 0.4

    def __post_init__(self) -> None:
        if not 0 < self.medium < self.high <= 1:
            raise ValueError(f"trust thresholds need 0 < medium < high <= 1, got medium "
                             f"{self.medium} and high {self.high}")

    def level(self, score: float) -> TrustLevel:
        if score >= self.high:
            return TrustLevel.HIGH
        return TrustLevel.MEDIUM if score >= self.medium else TrustLevel.LOW


class Situation(_Strict):
    action_type: ActionType
    actor_role: str = Field(..., min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    actor_id: str = Field(..., min_length=1, max_length=200)
    resource: str = Field("", max_length=300)
    t3_tensor: T3Tensor
    context: dict[ContextKey, ContextValue] = Field(default_factory=dict)

    @field_validator("context")
    @classmethod
    def _bounded_context(cls, value: dict[str, ContextValue]) -> dict[str, ContextValue]:
        if len(value) > MAX_CONTEXT_KEYS:
            raise ValueError(f"at most {MAX_CONTEXT_KEYS} keys; got {len(value)}")
        for key, item in value.items():
            for part in item if isinstance(item, list) else [item]:
                if isinstance(part, str) and len(part) > MAX_CONTEXT_STRING:
                    raise ValueError(f"context.{key}: strings are at most "
                                     f"{MAX_CONTEXT_STRING} characters")
        size = len(json.dumps(value, separators=(",", ":")).encode())
        if size > MAX_CONTEXT_BYTES:
            raise ValueError(f"at most {MAX_CONTEXT_BYTES} bytes of JSON; got {size}")
        return value

    @property
    def trust_score(self) -> float:
        t3 = self.t3_tensor
        return min(t3.competence, t3.reliability, t3.integrity)

    def plain(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def describe(self, scale: TrustScale) -> str:
        """Plain lines a small model reads well (and the KNN embeds)."""
        t3 = self.t3_tensor
        score = self.trust_score
        lines = [f"action: {self.action_type}", f"role: {self.actor_role}",
                 f"resource: {self.resource or '-'}",
                 f"trust: {scale.level(score).value} (weakest {score:.2f}; competence "
                 f"{t3.competence:.2f}, reliability {t3.reliability:.2f}, integrity "
                 f"{t3.integrity:.2f})"]
        if self.context:
            lines.append("context: " + ", ".join(
                f"{key}={_scalar_text(value)}" for key, value in sorted(self.context.items())))
        return "\n".join(lines)


def _scalar_text(value: ContextValue) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_scalar_text(v) for v in value) + "]"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return str(value)
