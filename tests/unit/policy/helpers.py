"""Builders shared by the policy unit tests."""

from __future__ import annotations

from typing import Any

from warden.policy.situation import Situation


def situation(action: str = "read", role: str = "member", trust: float = 0.8,
              integrity: float | None = None, resource: str = "docs/x.md",
              **context: Any) -> Situation:
    return Situation.model_validate({
        "action_type": action, "actor_role": role, "actor_id": "user:t", "resource": resource,
        "t3_tensor": {"competence": trust, "reliability": trust,
                      "integrity": trust if integrity is None else integrity},
        "context": context})
