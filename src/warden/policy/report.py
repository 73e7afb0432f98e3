"""The stats report (pure): agreement, overrides, errors, latency and distribution, overall,
per action type, per ISO week and per prompt variant, plus the distribution shift."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from warden.policy.decision import Decision, Mode
from warden.policy.measurement import (
    DecisionFact,
    Shift,
    agreement,
    distribution,
    error_rate,
    grouped,
    iso_week,
    override_rate,
    percentiles,
)


def summary(facts: Sequence[DecisionFact], level: float) -> dict[str, Any]:
    advised = [f.advisor for f in facts if f.advisor is not None]
    reviewed = [f for f in facts if f.mode is Mode.ADVISORY]
    return {
        "decisions": len(facts),
        "by_mode": dict(Counter(f.mode.value for f in facts)),
        "agreement": agreement(facts, level).plain(),
        "override_rate": override_rate(facts, level).plain(),
        "error_rate": error_rate(facts, level).plain(),
        "errors_by_kind": dict(Counter(f.error for f in facts if f.error)),
        "latency_ms": percentiles([f.latency_ms for f in facts]),
        "distribution": distribution(advised),
        "reviews": dict(Counter(f.review_status for f in reviewed if f.review_status)),
        "overrides_by_category": dict(Counter(f.category for f in reviewed
                                              if f.overridden and f.category)),
    }


def weekly(facts: Sequence[DecisionFact], level: float) -> dict[str, Any]:
    return {week: {action: {"decisions": len(group),
                            "agreement": agreement(group, level).plain(),
                            "override_rate": override_rate(group, level).plain()}
                   for action, group in grouped(rows, lambda f: f.action_type).items()}
            for week, rows in grouped(facts, lambda f: iso_week(f.created_at)).items()}


def stats_report(facts: Sequence[DecisionFact], *, since: datetime | None, now: datetime,
                 level: float, active_variant: str, shift: Shift) -> dict[str, Any]:
    return {
        "window": {"since": since.isoformat() if since else None, "until": now.isoformat()},
        "prompt_variant": active_variant,
        "overall": summary(facts, level),
        "by_action": {a: summary(g, level)
                      for a, g in grouped(facts, lambda f: f.action_type).items()},
        "by_week": weekly(facts, level),
        "by_variant": {v: {"decisions": len(g), "agreement": agreement(g, level).plain(),
                           "override_rate": override_rate(g, level).plain()}
                       for v, g in grouped(facts, lambda f: f.prompt_variant).items()},
        "shift": shift.plain(),
    }


def advisor_decisions(facts: Sequence[DecisionFact]) -> list[Decision]:
    return [f.advisor for f in facts if f.advisor is not None]


_UNITS = {"w": 7 * 86_400, "d": 86_400, "h": 3_600, "m": 60}


def parse_window(text: str) -> timedelta:
    """'7d', '2w', '24h', '30m' -> a timedelta; ValueError names the accepted form."""
    value, unit = text.strip()[:-1], text.strip()[-1:]
    if unit not in _UNITS or not value.isdigit() or int(value) < 1:
        raise ValueError(f"window must be a positive number and a unit w, d, h or m (e.g. "
                         f"7d); got {text!r}")
    return timedelta(seconds=int(value) * _UNITS[unit])
