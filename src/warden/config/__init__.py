"""warden.yaml: the config models, their loading and the CONFIG_HASH.

The innermost layer: every other package may import it; it imports none of them (the
constrained-decoding limits aside, which tool parameter schemas are checked against).
"""

from warden.config.loading import (
    ENV_PREFIX,
    ConfigError,
    canonical_json,
    config_hash,
    env_overrides,
    load_config,
)
from warden.config.models import (
    DEFAULT_MODEL_NAME,
    AuthConfig,
    ModelConfig,
    SafetyAction,
    SafetyCategory,
    SafetyConfig,
    ServerConfig,
    StoreConfig,
    TierConfig,
    TierSafetyConfig,
    UpstreamConfig,
    WardenConfig,
    default_tiers,
)
from warden.config.telemetry import LogFormat, TelemetryConfig

__all__ = [
    "DEFAULT_MODEL_NAME", "ENV_PREFIX", "AuthConfig", "ConfigError", "LogFormat", "ModelConfig",
    "SafetyAction", "SafetyCategory", "SafetyConfig", "ServerConfig", "StoreConfig",
    "TelemetryConfig", "TierConfig", "TierSafetyConfig", "UpstreamConfig", "WardenConfig",
    "canonical_json", "config_hash", "default_tiers", "env_overrides", "load_config",
]
