"""warden.yaml as pydantic models, WARDEN_* environment overrides and the CONFIG_HASH.

Precedence: built-in defaults < warden.yaml < WARDEN_* variables. A nested key is addressed
with double underscores: ``WARDEN_SERVER__PORT=9000`` sets ``server.port``; list items use
their index (``WARDEN_MODELS__0__N_CTX=4096``). Values are parsed as YAML scalars, so
``true``, ``12`` and ``null`` mean what they look like.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from warden.retrieval.config import RetrievalConfig
from warden.safety.detectors.crisis import CrisisResponse
from warden.safety.switch_config import SwitchesConfig
from warden.safety.tools.config import ToolConfig, check_tools

ENV_PREFIX = "WARDEN_"
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


SafetyCategory = Literal["pii", "toxicity", "crisis", "injection"]
SafetyAction = Literal["allow", "redact", "block", "escalate"]


class TierSafetyConfig(_Strict):
    actions: dict[SafetyCategory, SafetyAction] = Field(
        default_factory=dict, description="Overrides of the default policy: pii→redact, "
        "toxicity→block, crisis→escalate, injection→block.")
    ner: bool = Field(True, description="Person-name detection (spaCy NER, ~20 ms/KB).")


class TierConfig(_Strict):
    rpm: int = Field(60, ge=1, description="Requests per minute.")
    tpm: int = Field(40_000, ge=1, description="Tokens (prompt + max_tokens) per minute.")
    tokens_per_day: int = Field(1_000_000, ge=1)
    max_tokens: int = Field(512, ge=1, description="Ceiling for a request's max_tokens.")
    max_concurrent: int = Field(4, ge=1)
    safety: TierSafetyConfig = TierSafetyConfig()
    forbidden_phrases: list[str] = Field(
        default_factory=list, description="Masked during decoding: the model cannot emit them "
                                          "(case-insensitive; in-process engine).")


def _default_tiers() -> dict[str, TierConfig]:
    return {
        "free": TierConfig(rpm=20, tpm=10_000, tokens_per_day=100_000, max_tokens=256,
                           max_concurrent=2),
        "default": TierConfig(),
        "pro": TierConfig(rpm=600, tpm=400_000, tokens_per_day=10_000_000, max_tokens=2048,
                          max_concurrent=16),
    }


class SafetyConfig(_Strict):
    enabled: bool = Field(True, description="Run the input and output guards.")
    stream_hold_chars: int = Field(160, ge=16, le=4096, description="Most characters held "
                                   "back before an output segment is checked and released.")
    stream_hold_ms: int = Field(250, ge=0, le=10_000, description="Release checked whole "
                                "words after this long even without a sentence end (0: off).")
    crisis_response: CrisisResponse = Field(default_factory=CrisisResponse)


class AuthConfig(_Strict):
    default_tier: str = "default"


class WardenConfig(_Strict):
    server: ServerConfig = ServerConfig()
    store: StoreConfig = StoreConfig()
    auth: AuthConfig = AuthConfig()
    safety: SafetyConfig = SafetyConfig()
    retrieval: RetrievalConfig = Field(default_factory=RetrievalConfig)
    switches: SwitchesConfig = Field(default_factory=SwitchesConfig)
    models: list[ModelConfig] = Field(default_factory=lambda: [ModelConfig()], min_length=1)
    tiers: dict[str, TierConfig] = Field(default_factory=_default_tiers, min_length=1)
    tools: list[ToolConfig] = Field(default_factory=list, description="Tools a model may "
                                    "call and Warden may run (docs/tools.md).")

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


class ConfigError(Exception):
    """Every problem in a config, each naming its key path."""

    def __init__(self, problems: list[str], source: str) -> None:
        self.problems = problems
        self.source = source
        super().__init__(f"invalid config ({source}): " + "; ".join(problems))


def _set_path(tree: dict[str, Any], path: list[str], value: Any) -> None:
    node: Any = tree
    for i, part in enumerate(path):
        last = i == len(path) - 1
        if isinstance(node, list):
            index = int(part)
            while len(node) <= index:
                node.append({})
            if last:
                node[index] = value
            else:
                node = node[index]
            continue
        if last:
            node[part] = value
            return
        child = node.get(part)
        if child is None:
            child = [] if path[i + 1].isdigit() else {}
            node[part] = child
        node = child


def env_overrides(environ: dict[str, str]) -> list[tuple[list[str], Any]]:
    """(key path, parsed value) for every WARDEN_* variable that addresses a config key."""
    overrides = []
    for name, raw in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX):
            continue
        path = [p.lower() for p in name[len(ENV_PREFIX):].split("__")]
        if path[0] not in WardenConfig.model_fields:
            continue
        overrides.append((path, yaml.safe_load(raw) if raw != "" else None))
    return overrides


def _format_loc(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(root)"


def _error_message(err: dict[str, Any]) -> str:
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown key (check the spelling; see `warden config check --help`)"
    return f"{_format_loc(err['loc'])}: {msg}"


def load_config(path: str | Path | None = None, environ: dict[str, str] | None = None
                ) -> WardenConfig:
    """Load and validate; raise ConfigError listing every problem with its key path."""
    environ = dict(os.environ if environ is None else environ)
    source = "built-in defaults"
    raw: dict[str, Any] = {}
    if path is None and environ.get("WARDEN_CONFIG"):
        path = environ["WARDEN_CONFIG"]
    if path is None and Path("warden.yaml").exists():
        path = "warden.yaml"
    if path is not None:
        source = str(path)
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise ConfigError([f"cannot read config file: {exc.strerror}"], source) from exc
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError([f"not valid YAML: {exc}"], source) from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(["(root): the file must hold a mapping of keys"], source)
        raw = loaded or {}
    for key_path, value in env_overrides(environ):
        if key_path[0] == "models" and "models" not in raw:
            raw["models"] = [ModelConfig().model_dump(mode="json", exclude_none=True)]
        if key_path[0] == "tiers" and "tiers" not in raw:
            raw["tiers"] = {k: v.model_dump() for k, v in _default_tiers().items()}
        _set_path(raw, key_path, value)
    try:
        return WardenConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError([_error_message(e) for e in exc.errors()], source) from exc


def _without_secrets(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return None
    if isinstance(value, BaseModel):
        return {k: _without_secrets(getattr(value, k)) for k in type(value).model_fields}
    if isinstance(value, dict):
        return {k: _without_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_secrets(v) for v in value]
    return value


def canonical_json(config: WardenConfig) -> str:
    """The effective config with every secret replaced by null, keys sorted, no whitespace."""
    plain = _without_secrets(config)
    return json.dumps(plain, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def config_hash(config: WardenConfig) -> str:
    return hashlib.sha256(canonical_json(config).encode()).hexdigest()
