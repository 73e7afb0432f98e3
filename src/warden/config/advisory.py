"""The `advisory:` section of warden.yaml: the policy advisor (issue 15, seed 004).

Kept in its own module so the policy-advisory feature owns its settings; models.py only
mounts AdvisoryConfig. docs/advisory.md explains each default.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ActionType = Literal["read", "write", "commit", "deploy", "admin"]
ACTION_TYPES: tuple[ActionType, ...] = ("read", "write", "commit", "deploy", "admin")
RiskTier = Literal["low", "medium", "high", "critical"]
DecisionName = Literal["allow", "deny", "require_attestation"]
_HIGH_RISK: tuple[RiskTier, ...] = ("high", "critical")
# The action type whose advisor never decides: promotion past advisory is refused.
PINNED_ADVISORY: ActionType = "admin"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OpaConfig(_Strict):
    url: str = Field(..., pattern=r"^https?://", description="OPA's base URL, e.g. "
                     "http://opa:8181; the engine POSTs {input} to <url>/v1/data/<path>.")
    path: str = Field("warden/advisory/decision", pattern=r"^[A-Za-z0-9_]+(/[A-Za-z0-9_]+)*$",
                      description="The policy's data path; its result is a decision string "
                      "or an object with a 'decision' field.")
    timeout_s: float = Field(2.0, gt=0, le=60, description="Per call; on failure the current "
                             "decision is deny (fail closed) and the failure is counted.")


class CurrentEngineConfig(_Strict):
    kind: Literal["rules", "opa"] = Field("rules", description="What the advisor shadows when "
                                          "the caller sends no current_decision.")
    rules_file: str | None = Field(None, description="A rules YAML (docs/advisory.md); "
                                   "empty means the shipped default rules.")
    opa: OpaConfig | None = None

    @model_validator(mode="after")
    def _opa_needs_url(self) -> CurrentEngineConfig:
        if self.kind == "opa" and self.opa is None:
            raise ValueError("current_engine.kind is 'opa' but current_engine.opa is missing; "
                             "add opa: {url: http://opa:8181}")
        return self


class ToAdvisoryGate(_Strict):
    min_agreement: float = Field(0.80, gt=0, lt=1, description="The Wilson lower bound of "
                                 "shadow agreement must exceed this.")
    min_samples: int = Field(100, ge=1, description="Shadow decisions since entering shadow.")
    min_days: float = Field(7.0, ge=0, description="Days spent in shadow.")


class ToEnforceGate(_Strict):
    max_override_rate: float = Field(0.05, gt=0, lt=1, description="The Wilson upper bound of "
                                     "the reviewers' override rate must stay below this "
                                     "(= the lower bound of their agreement above 1 - it).")
    min_samples: int = Field(100, ge=1, description="Reviewed decisions since entering "
                             "advisory.")
    min_days: float = Field(3.0, ge=0, description="Days spent in advisory.")
    requires_enforced: list[ActionType] = Field(default_factory=list, description="Action "
                                                "types that must already be enforced.")


class ActionPolicyConfig(_Strict):
    risk_tier: RiskTier
    to_advisory: ToAdvisoryGate = Field(default_factory=ToAdvisoryGate)
    to_enforce: ToEnforceGate | None = Field(default_factory=ToEnforceGate, description="None: "
                                             "never enforced (the advisor only advises).")


def default_actions() -> dict[ActionType, ActionPolicyConfig]:
    """Seed 004's rollout: reads first (override < 5%), then write and commit (< 10%), deploy
    only after those and watched longer, admin never."""
    return {
        "read": ActionPolicyConfig(risk_tier="low",
                                   to_enforce=ToEnforceGate(max_override_rate=0.05)),
        "write": ActionPolicyConfig(risk_tier="medium",
                                    to_enforce=ToEnforceGate(max_override_rate=0.10)),
        "commit": ActionPolicyConfig(risk_tier="medium",
                                     to_enforce=ToEnforceGate(max_override_rate=0.10)),
        "deploy": ActionPolicyConfig(
            risk_tier="high", to_advisory=ToAdvisoryGate(min_days=14),
            to_enforce=ToEnforceGate(max_override_rate=0.05, min_days=7,
                                     requires_enforced=["read", "write", "commit"])),
        "admin": ActionPolicyConfig(risk_tier="critical", to_enforce=None),
    }


class ReviewConfig(_Strict):
    timeout_s: float = Field(86_400.0, gt=0, description="A pending review older than this "
                             "resolves to timeout_decision.")
    timeout_decision: DecisionName = Field("deny", description="The safe decision a timed-out "
                                           "review resolves to.")


class ShiftConfig(_Strict):
    threshold: float = Field(0.20, gt=0, lt=1, description="Alert when a decision's share "
                             "moves more than this (absolute) from its baseline share.")
    baseline_size: int = Field(200, ge=10, description="The first N advisor decisions of the "
                               "active prompt variant are its baseline.")
    min_samples: int = Field(30, ge=5, description="Decisions needed after the baseline "
                             "before the shift is judged.")
    recompute_every: int = Field(20, ge=1, description="Refresh the shift gauges every N "
                                 "decisions (and on every stats call).")


class AdvisoryConfig(_Strict):
    enabled: bool = True
    model: str | None = Field(None, description="A configured model name; empty means the "
                              "first model.")
    prompt_variant: str = Field("v4-hybrid", pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$",
                                description="The variant used until another is activated.")
    variants_dir: str | None = Field(None, description="Where refreshed prompt variants are "
                                     "written; empty means <retrieval.data_dir>/advisory.")
    timeout_s: float = Field(30.0, gt=0, description="Advisor time limit; past it the "
                             "current engine's decision stands and an error is counted.")
    reasoning_max_chars: int = Field(160, ge=20, le=600, description="Bound on the "
                                     "reasoning string (the schema's maxLength).")
    fewshot_k: int = Field(3, ge=0, le=8, description="Examples picked by KNN per request.")
    confidence: float = Field(0.95, gt=0.5, lt=1, description="Level of the Wilson intervals "
                              "the gates use.")
    fail_safe_tiers: list[RiskTier] = Field(default_factory=lambda: list(_HIGH_RISK),
                                            description="Risk tiers where an advisor allow "
                                            "that the current engine does not allow becomes "
                                            "require_attestation in enforce mode.")
    current_engine: CurrentEngineConfig = Field(default_factory=CurrentEngineConfig)
    actions: dict[ActionType, ActionPolicyConfig] = Field(default_factory=default_actions)
    review: ReviewConfig = Field(default_factory=ReviewConfig)
    shift: ShiftConfig = Field(default_factory=ShiftConfig)
    min_corrections: int = Field(50, ge=1, description="Human corrections needed before they "
                                 "may refresh the few-shot pool.")

    def action_policy(self, action_type: str) -> ActionPolicyConfig:
        for action, policy in self.actions.items():
            if action == action_type:
                return policy
        raise KeyError(f"unknown action type '{action_type}'; use one of "
                       f"{', '.join(ACTION_TYPES)}")

    @model_validator(mode="after")
    def _every_action_and_admin_pinned(self) -> AdvisoryConfig:
        defaults = default_actions()
        for action in ACTION_TYPES:  # a partial actions: block keeps the other defaults
            self.actions.setdefault(action, defaults[action])
        if self.actions[PINNED_ADVISORY].to_enforce is not None:
            raise ValueError("advisory.actions.admin.to_enforce must be null: admin actions "
                             "always stay with a human reviewer")
        for action, policy in self.actions.items():
            gate = policy.to_enforce
            if gate is not None and action in gate.requires_enforced:
                raise ValueError(f"advisory.actions.{action}.to_enforce.requires_enforced "
                                 f"names {action} itself; list other action types")
        return self
