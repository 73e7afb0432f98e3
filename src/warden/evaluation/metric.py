"""A metric's three states: a measured value, unmeasured (with the reason), or failed.

Never NaN: a value that cannot be computed is reported as unmeasured or failed with a reason
a person can act on, so a report can never pass a gate on a silent NaN or a silent zero.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class MetricState(StrEnum):
    MEASURED = "measured"
    UNMEASURED = "unmeasured"  # nothing to measure it on (no labels, no items): say why
    FAILED = "failed"  # measuring it went wrong (errors, bad data): say what


@dataclass(frozen=True)
class Metric:
    """One named figure. `items` are the per-item observations the value summarises (one per
    query or request), kept so gates can put a confidence interval on it."""

    name: str
    state: MetricState
    value: float | None = None
    reason: str | None = None
    items: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.state is MetricState.MEASURED:
            if self.value is None or not math.isfinite(self.value):
                raise ValueError(f"metric {self.name}: a measured value must be a finite "
                                 f"number, got {self.value!r}; report it as unmeasured or "
                                 "failed with the reason instead")
            if self.reason is not None:
                raise ValueError(f"metric {self.name}: a measured metric carries no reason")
        else:
            if self.value is not None:
                raise ValueError(f"metric {self.name}: an {self.state} metric has no value")
            if not self.reason:
                raise ValueError(f"metric {self.name}: an {self.state} metric needs a reason")
        if not all(math.isfinite(x) for x in self.items):
            raise ValueError(f"metric {self.name}: per-item values must be finite numbers")

    @classmethod
    def measured(cls, name: str, value: float, items: Iterable[float] = ()) -> Metric:
        return cls(name, MetricState.MEASURED, float(value), None,
                   tuple(float(x) for x in items))

    @classmethod
    def unmeasured(cls, name: str, reason: str) -> Metric:
        return cls(name, MetricState.UNMEASURED, None, reason)

    @classmethod
    def failed(cls, name: str, reason: str) -> Metric:
        return cls(name, MetricState.FAILED, None, reason)

    @property
    def is_measured(self) -> bool:
        return self.state is MetricState.MEASURED

    def plain(self) -> dict[str, Any]:
        """JSON-ready: the value (or null), the state, the reason when there is one, and n."""
        out: dict[str, Any] = {"value": self.value, "state": str(self.state)}
        if self.reason is not None:
            out["reason"] = self.reason
        if self.items:
            out["n"] = len(self.items)
        return out
