"""Loading warden.yaml, WARDEN_* environment overrides and the CONFIG_HASH.

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
from typing import Any

import yaml
from pydantic import BaseModel, SecretStr, ValidationError
from pydantic_core import ErrorDetails

from warden.config.models import ModelConfig, WardenConfig, default_tiers

ENV_PREFIX = "WARDEN_"
HOME_VARIABLE = "WARDEN_HOME"


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


def _error_message(err: ErrorDetails) -> str:
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown key (check the spelling; see `warden config check --help`)"
    return f"{_format_loc(err['loc'])}: {msg}"


def _home_defaults(raw: dict[str, Any], environ: dict[str, str]) -> None:
    """With $WARDEN_HOME set, the default store and data dir live there instead of ./.warden,
    so commands run from any directory share one store. Explicit values still win."""
    home = environ.get(HOME_VARIABLE, "").strip()
    if not home:
        return
    root = Path(home).expanduser().resolve()
    store, retrieval = raw.setdefault("store", {}), raw.setdefault("retrieval", {})
    if isinstance(store, dict):
        store.setdefault("url", f"sqlite:///{root}/warden.db")
    if isinstance(retrieval, dict):
        retrieval.setdefault("data_dir", str(root))


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
    _home_defaults(raw, environ)
    for key_path, value in env_overrides(environ):
        if key_path[0] == "models" and "models" not in raw:
            raw["models"] = [ModelConfig().model_dump(mode="json", exclude_none=True)]
        if key_path[0] == "tiers" and "tiers" not in raw:
            raw["tiers"] = {k: v.model_dump() for k, v in default_tiers().items()}
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
