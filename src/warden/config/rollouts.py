"""The `rollouts:` section of warden.yaml: arms, prompt versions, canary analysis, drift and
the server's schedules (docs/rollout.md).

An arm is a complete serving recipe: a model entry, a prompt version and an index version per
corpus. `models:` maps a public model name (what clients send) to a champion arm and an
optional challenger with its traffic share. The store holds the live state once a rollout is
started (promotion and rollback change it without a config edit); this file seeds it.

Cross-checks against the rest of the config (arm models exist, prompts are defined) run in
`check_rollouts`, attached to the `rollouts` field of WardenConfig, so an error names the
key path like every other config problem.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

NAME = r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}$"
CORPUS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
TEMPLATES = ("warden-arm/1",)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ARM_SEPARATOR = "@"  # `assistant@challenger` pins an arm (admin keys only)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FewShotExample(_Strict):
    id: str = Field(..., min_length=1, max_length=64)
    question: str = Field(..., min_length=1, max_length=4000)
    answer: str = Field(..., min_length=1, max_length=4000)


class PromptVersionConfig(_Strict):
    """What an arm adds to every request: a system prompt and few-shot examples, put in front
    of the caller's own system message by `template` (the hash covers all three)."""

    system: str | None = Field(None, max_length=20_000, description="System prompt text.")
    few_shot: list[FewShotExample] = Field(default_factory=list, max_length=64)
    few_shot_file: str | None = Field(None, description="JSONL pool: one {id, question, "
                                      "answer} per line, appended after few_shot.")
    template: Literal["warden-arm/1"] = Field("warden-arm/1", description="How the prompt "
                                              "is applied; part of the prompt hash.")


class ArmConfig(_Strict):
    model: str = Field(..., description="An entry of models: (by name).")
    prompt: str | None = Field(None, description="A name under rollouts.prompts; none: the "
                               "request is sent as the caller wrote it.")
    indexes: dict[str, int] = Field(default_factory=dict, description="corpus -> index "
                                    "version; a corpus not listed follows its active pointer.")

    @field_validator("indexes")
    @classmethod
    def _corpora_and_versions(cls, value: dict[str, int]) -> dict[str, int]:
        for corpus, version in value.items():
            if not CORPUS.match(corpus):
                raise ValueError(f"indexes: '{corpus}' is not a corpus name (letters, digits, "
                                 "'_', '.', '-')")
            if version < 1:
                raise ValueError(f"indexes.{corpus}: versions start at 1, got {version}")
        return value


class KpiOverride(_Strict):
    """Changes to one KPI of the canary (names: docs/rollout.md); unset fields keep the
    default. enabled: false leaves it out of the analysis."""

    enabled: bool = True
    low: float | None = None
    high: float | None = None
    critical: bool | None = None
    weight: float | None = Field(None, gt=0)
    min_samples: int | None = Field(None, ge=1)


class CanaryConfig(_Strict):
    interval_s: float = Field(600, ge=5, description="One analysis per interval.")
    duration_s: float = Field(172_800, gt=0, description="Promotion needs the canary to "
                              "have passed for this long (48 h).")
    min_samples: int = Field(50, ge=1, description="Per side and KPI; fewer is inconclusive.")
    smoke_items: int = Field(50, ge=1, le=1000, description="Smoke eval questions per arm.")
    smoke_max_tokens: int = Field(64, ge=1, le=2048)
    smoke_split: str | None = Field("dev", description="Dataset split of the smoke items.")
    smoke_k: int | None = Field(None, ge=1, le=100, description="Chunks retrieved per smoke "
                                "question (default: the corpus's retrieval.default_k).")
    auto_rollback: bool = True
    auto_promote: bool = False
    failure_limit: int = Field(0, ge=0, description="Failed intervals tolerated (Argo).")
    inconclusive_limit: int = Field(12, ge=0, description="Inconclusive intervals before "
                                    "the analysis pauses for a human.")
    consecutive_error_limit: int = Field(4, ge=0)
    confidence: float = Field(0.95, gt=0.5, lt=1)
    marginal_confidence: float = Field(0.80, gt=0.5, lt=1)
    pass_score: float = Field(90, ge=0, le=100)
    marginal_score: float = Field(75, ge=0, le=100)
    kpis: dict[str, KpiOverride] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _levels(self) -> CanaryConfig:
        if self.marginal_confidence >= self.confidence:
            raise ValueError("marginal_confidence must be below confidence")
        if self.marginal_score > self.pass_score:
            raise ValueError("marginal_score must not exceed pass_score")
        return self


class RolloutConfig(_Strict):
    champion: ArmConfig
    challenger: ArmConfig | None = None
    share: float = Field(0.1, ge=0, le=1, description="ab: the challenger's share of API "
                         "keys; shadow: the share of requests copied to the challenger.")
    mode: Literal["ab", "shadow"] = "ab"
    canary: CanaryConfig = Field(default_factory=CanaryConfig)


class DriftConfig(_Strict):
    bins: int = Field(10, ge=2, le=100)
    warn_psi: float = Field(0.1, gt=0)
    alert_psi: float = Field(0.25, gt=0)
    false_alarm_rate: float = Field(0.005, gt=0, lt=1)
    min_samples: int = Field(50, ge=2)
    baseline_window_s: float = Field(7 * 86_400, gt=0, description="The baseline window "
                                     "ends where the current one starts.")
    current_window_s: float = Field(86_400, gt=0)
    sample_rate: float = Field(1.0, ge=0, le=1, description="Share of requests recorded.")
    retention_days: float = Field(30, gt=0, description="Recorded samples kept this long.")

    @model_validator(mode="after")
    def _thresholds(self) -> DriftConfig:
        if self.warn_psi > self.alert_psi:
            raise ValueError("warn_psi must not exceed alert_psi")
        return self


class JobConfig(_Strict):
    """Daily at `at` (UTC, HH:MM), weekly when `weekday` is set, or every `every_s`."""

    enabled: bool = True
    at: str | None = Field(None, pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    weekday: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] | None = None
    every_s: float | None = Field(None, ge=5)

    @model_validator(mode="after")
    def _one_timing(self) -> JobConfig:
        if (self.at is None) == (self.every_s is None):
            raise ValueError("set either at (HH:MM UTC, with weekday for a weekly job) or "
                             "every_s")
        if self.weekday is not None and self.at is None:
            raise ValueError("weekday needs at")
        return self


def _nightly() -> JobConfig:
    return JobConfig(at="02:00")


def _weekly() -> JobConfig:
    return JobConfig(at="03:00", weekday="sun")


def _hourly() -> JobConfig:
    return JobConfig(every_s=3600)


class SchedulesConfig(_Strict):
    enabled: bool = Field(False, description="Run the jobs in this server (one replica per "
                          "job at a time, by a lease in the store).")
    url: str | None = Field(None, description="Where the jobs send their requests; default "
                            "this server.")
    admin_key_env: str = Field("WARDEN_SCHEDULER_KEY", pattern=r"^[A-Z_][A-Z0-9_]*$",
                               description="Environment variable holding an admin key.")
    lease_s: float = Field(900, ge=10, description="A job's lease; renewed while it runs.")
    nightly_smoke: JobConfig = Field(default_factory=_nightly)
    weekly_full: JobConfig = Field(default_factory=_weekly)
    canary: bool = Field(True, description="Analyse each running rollout every "
                         "canary.interval_s.")
    drift: JobConfig = Field(default_factory=_hourly)
    full_items: int | None = Field(None, ge=1, description="Items of the weekly run (none: "
                                   "the whole split).")


class RolloutsConfig(_Strict):
    models: dict[str, RolloutConfig] = Field(default_factory=dict, description="Public "
                                             "model name -> its rollout (the rollout's id).")
    prompts: dict[str, PromptVersionConfig] = Field(default_factory=dict)
    state_cache_s: float = Field(0.25, gt=0, le=0.5, description="How stale a replica's "
                                 "view of the rollout state may be.")
    record_traffic: bool = Field(True, description="Record per-request samples (arm, latency, "
                                 "tokens, scores) for canary and drift analysis.")
    drift: DriftConfig = Field(default_factory=DriftConfig)
    schedules: SchedulesConfig = Field(default_factory=SchedulesConfig)

    @field_validator("models", "prompts")
    @classmethod
    def _names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            if not re.match(NAME, name) or ARM_SEPARATOR in name:
                raise ValueError(f"'{name}' is not a valid name: letters, digits, '_', '.', "
                                 f"':', '-', at most 64, no '{ARM_SEPARATOR}'")
        return value


def check_rollouts(value: RolloutsConfig, info: ValidationInfo) -> RolloutsConfig:
    """Arms name configured models and defined prompts (WardenConfig's `models` is validated
    before this field, so it is in info.data)."""
    models = info.data.get("models") or []
    known = {m.name for m in models}
    problems = []
    for public, rollout in value.models.items():
        arms = [("champion", rollout.champion)]
        if rollout.challenger is not None:
            arms.append(("challenger", rollout.challenger))
        for side, arm in arms:
            where = f"rollouts.models.{public}.{side}"
            if known and arm.model not in known:
                problems.append(f"{where}.model: '{arm.model}' is not a configured model "
                                f"(models: {', '.join(sorted(known))})")
            if arm.prompt is not None and arm.prompt not in value.prompts:
                problems.append(f"{where}.prompt: '{arm.prompt}' is not defined under "
                                f"rollouts.prompts ({', '.join(sorted(value.prompts)) or 'none'})")
    if problems:
        raise ValueError("; ".join(problems))
    return value


# WardenConfig's field type: the section plus its cross-checks against `models`.
RolloutsField = Annotated[RolloutsConfig, AfterValidator(check_rollouts)]
