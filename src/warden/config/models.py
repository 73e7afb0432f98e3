"""warden.yaml as pydantic models: the root `WardenConfig` and its small sections.

The larger sections (retrieval, switches, tools, the crisis response) have modules of their
own beside this one. Nothing here imports the layers that use the config.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints, model_validator

from warden.config.advisory import AdvisoryConfig
from warden.config.batch import BatchConfig
from warden.config.crisis import CrisisResponse
from warden.config.retrieval import RetrievalConfig
from warden.config.rollouts import RolloutsConfig, RolloutsField
from warden.config.switches import SwitchesConfig
from warden.config.telemetry import TelemetryConfig
from warden.config.tools import ToolConfig, check_tools

DEFAULT_MODEL_NAME = "smollm2-135m-instruct"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    max_body_bytes: int = Field(1_048_576, ge=1024, description="Larger request bodies get 413.")
    request_timeout_s: float = Field(120.0, gt=0, description="Wall-clock limit per request.")
    drain_timeout_s: float = Field(30.0, ge=0, description="SIGTERM waits this long for streams.")
    log_level: Literal["debug", "info", "warning", "error"] = "info"


class StoreConfig(_Strict):
    url: str = Field("sqlite:///.warden/warden.db", description="SQLAlchemy URL.")
    redis_url: str | None = Field(None, description="Shared limiter state for many replicas.")


class UpstreamConfig(_Strict):
    base_url: str = Field(..., description="OpenAI-compatible base URL, e.g. http://vllm:8000/v1")
    api_key: SecretStr | None = None
    model: str | None = Field(None, description="Model name upstream; defaults to ours.")
    connect_timeout_s: float = Field(5.0, gt=0)
    read_timeout_s: float = Field(60.0, gt=0)
    connect_retries: int = Field(1, ge=0, le=5)


class ModelConfig(_Strict):
    name: str = DEFAULT_MODEL_NAME
    backend: Literal["llamacpp", "upstream"] = "llamacpp"
    path: str | None = Field(None, description="GGUF file; empty means the built-in SmolLM2.")
    n_ctx: int = Field(2048, ge=128)
    n_threads: int | None = Field(None, ge=1)
    n_batch: int = Field(512, ge=1)
    seed: int = 42
    queue_size: int = Field(64, ge=1, description="Waiting requests beyond this get 503.")
    max_concurrency: int | None = Field(
        None, ge=1, description="Requests in the engine at once; default max_batch for "
                                "llamacpp, 16 for upstream.")
    max_batch: int = Field(8, ge=1, le=256, description="Sequences decoded together.")
    chunk_size: int = Field(256, ge=1, description="Prompt tokens prefilled per step per "
                                                   "sequence, so running streams keep flowing.")
    l_switch: int | None = Field(None, ge=16, description="Past this many cached tokens a "
                                 "sequence keeps n_sink + a sliding window (bounded memory). "
                                 "Default: n_ctx.")
    n_sink: int = Field(4, ge=0, description="Attention-sink tokens kept past l_switch.")
    prefix_cache: bool = Field(True, description="Reuse a tenant's shared prompt prefix.")
    max_prompt_tokens: int | None = Field(None, ge=1, description="Accept prompts longer "
                                          "than n_ctx up to this (needs l_switch < n_ctx).")
    upstream: UpstreamConfig | None = None

    @model_validator(mode="after")
    def _backend_needs_its_settings(self) -> ModelConfig:
        if self.backend == "upstream" and self.upstream is None:
            raise ValueError("backend 'upstream' needs an 'upstream:' block with base_url")
        if self.l_switch is not None and self.l_switch <= self.n_sink:
            raise ValueError("l_switch must be larger than n_sink")
        if self.n_batch < self.max_batch:
            raise ValueError("n_batch must be at least max_batch (one token per sequence)")
        return self

    def engine_concurrency(self) -> int:
        if self.max_concurrency is not None:
            return self.max_concurrency
        return self.max_batch if self.backend == "llamacpp" else 16


# A built-in category or one defined under safety.categories (checked when the guard starts).
SafetyCategory = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
SafetyAction = Literal["allow", "redact", "block", "escalate"]
# Mirrors warden.safety.policy.BUILTIN_CATEGORIES (config does not import the guard).
BUILTIN_SAFETY_CATEGORIES = ("pii", "toxicity", "crisis", "injection", "encoded_text")


def _input_stage_only() -> list[Literal["input", "output"]]:
    return ["input"]


class TierSafetyConfig(_Strict):
    actions: dict[SafetyCategory, SafetyAction] = Field(
        default_factory=dict, description="Overrides of the default policy: pii→redact, "
        "toxicity→block, crisis→escalate, injection→block, encoded_text→block, and each "
        "safety.categories entry's own action.")
    ner: bool = Field(True, description="Person-name detection (spaCy NER, ~20 ms/KB).")


class TierConfig(_Strict):
    rpm: int = Field(60, ge=1, description="Requests per minute.")
    tpm: int = Field(40_000, ge=1, description="Tokens (prompt + max_tokens) per minute.")
    tokens_per_day: int = Field(1_000_000, ge=1)
    max_tokens: int = Field(512, ge=1, description="Ceiling for a request's max_tokens.")
    max_concurrent: int = Field(4, ge=1)
    safety: TierSafetyConfig = TierSafetyConfig()
    client_tools: bool = Field(True, description="May keys of this tier define their own "
                               "tools on chat requests (the client runs them)? Registry tools "
                               "are governed either way.")
    forbidden_phrases: list[str] = Field(
        default_factory=list, description="Masked during decoding: the model cannot emit them "
                                          "(case-insensitive; in-process engine).")


def default_tiers() -> dict[str, TierConfig]:
    return {
        "free": TierConfig(rpm=20, tpm=10_000, tokens_per_day=100_000, max_tokens=256,
                           max_concurrent=2),
        "default": TierConfig(),
        "pro": TierConfig(rpm=600, tpm=400_000, tokens_per_day=10_000_000, max_tokens=2048,
                          max_concurrent=16),
    }


class SafetyCategoryConfig(_Strict):
    """An operator-defined gate, trained at start-up from examples (docs/safety-detectors.md)."""

    name: SafetyCategory
    description: str = Field(min_length=1, description="What the gate is for; its embedding "
                             "is also a prior direction for the classifier.")
    examples_file: str | None = Field(None, description="JSONL rows {text, label 0/1} or "
                                      "'+ '/'- ' lines; relative to the working directory.")
    positives: list[str] = Field(default_factory=list, description="More label-1 examples.")
    negatives: list[str] = Field(default_factory=list, description="More label-0 examples.")
    action: SafetyAction = Field("block", description="Default action; tiers may override.")
    stages: list[Literal["input", "output"]] = Field(default_factory=_input_stage_only,
                                                     min_length=1)
    target_fpr: float = Field(0.05, gt=0, lt=0.5, description="Validation false-positive "
                              "rate the threshold is chosen for.")

    @model_validator(mode="after")
    def _check(self) -> SafetyCategoryConfig:
        if self.name in BUILTIN_SAFETY_CATEGORIES:
            raise ValueError(f"safety.categories: '{self.name}' is a built-in category; "
                             "choose another name")
        if not self.examples_file and not (self.positives and self.negatives):
            raise ValueError(f"safety.categories[{self.name}]: give examples_file or both "
                             "positives and negatives")
        return self


class SafetyConfig(_Strict):
    enabled: bool = Field(True, description="Run the input and output guards.")
    stream_hold_chars: int = Field(160, ge=16, le=4096, description="Most characters held "
                                   "back before an output segment is checked and released.")
    stream_hold_ms: int = Field(250, ge=0, le=10_000, description="Release checked whole "
                                "words after this long even without a sentence end (0: off).")
    crisis_response: CrisisResponse = Field(default_factory=CrisisResponse)
    categories: list[SafetyCategoryConfig] = Field(
        default_factory=list, description="Operator-defined gates (bias, therapeutic "
        "appropriateness, off-topic...), each trained at start-up from its examples.")

    @model_validator(mode="after")
    def _unique_categories(self) -> SafetyConfig:
        names = [c.name for c in self.categories]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"safety.categories: names must be unique, repeated: {repeated}")
        return self

    def category_names(self) -> set[str]:
        """Every category a tier may name: the built-ins and the configured ones."""
        return {*BUILTIN_SAFETY_CATEGORIES, *(c.name for c in self.categories)}


class AuthConfig(_Strict):
    default_tier: str = "default"


class WardenConfig(_Strict):
    server: ServerConfig = ServerConfig()
    store: StoreConfig = StoreConfig()
    auth: AuthConfig = AuthConfig()
    safety: SafetyConfig = SafetyConfig()
    retrieval: RetrievalConfig = Field(default_factory=RetrievalConfig)
    switches: SwitchesConfig = Field(default_factory=SwitchesConfig)
    advisory: AdvisoryConfig = Field(default_factory=AdvisoryConfig)
    models: list[ModelConfig] = Field(default_factory=lambda: [ModelConfig()], min_length=1)
    tiers: dict[str, TierConfig] = Field(default_factory=default_tiers, min_length=1)
    tools: list[ToolConfig] = Field(default_factory=list, description="Tools a model may "
                                    "call and Warden may run (docs/tools.md).")
    batch: BatchConfig = Field(default_factory=BatchConfig)
    rollouts: RolloutsField = Field(default_factory=RolloutsConfig)  # docs/rollout.md
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig,
                                       description="Logs: format and PII scrubbing.")

    @model_validator(mode="after")
    def _cross_checks(self) -> WardenConfig:
        if self.auth.default_tier not in self.tiers:
            raise ValueError(
                f"auth.default_tier '{self.auth.default_tier}' is not one of the tiers "
                f"{sorted(self.tiers)}"
            )
        names = [m.name for m in self.models]
        duplicates = {n for n in names if names.count(n) > 1}
        if duplicates:
            raise ValueError(f"models: names must be unique, repeated: {sorted(duplicates)}")
        tool_problems = check_tools(self.tools, self.tiers)
        if tool_problems:
            raise ValueError("; ".join(tool_problems))
        return self

    def model_by_name(self, name: str) -> ModelConfig | None:
        return next((m for m in self.models if m.name == name), None)
