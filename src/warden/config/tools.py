"""The `tools:` list of warden.yaml: the registry of tools a model may call and Warden may run.

    tools:
      - name: calculator
        description: Evaluate an arithmetic expression.
        parameters: {type: object, properties: {expression: {type: string}},
                     required: [expression], additionalProperties: false}
        mutating: false
        tiers: [default, pro]
        executor: {python: "warden.safety.tools.builtin:calculator"}

`mutating` has no default on purpose: forgetting it must not let a tool with side effects
skip the dry-run/confirm protocol. Tier names are checked against `tiers:` by
WardenConfig (see check_tools), since this block cannot see them.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# OpenAI's rule for function names (letters, digits, '_' and '-', at most 64), starting with
# a letter or '_' so every name is also a plain identifier in logs and metric labels.
TOOL_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$"
_PYTHON_TARGET = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HttpExecutorConfig(_Strict):
    url: str = Field(..., description="POSTed {tool, arguments, dry_run, request_id}; must "
                                      "answer 2xx with a JSON body (the result).")
    timeout_s: float = Field(10.0, gt=0, le=300)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"must be an http:// or https:// URL, not {value!r}")
        return value


class ExecutorConfig(_Strict):
    http: HttpExecutorConfig | None = None
    python: str | None = Field(None, description="'package.module:function' called as "
                               "function(arguments, context) -> JSON-serialisable result.")

    @field_validator("python")
    @classmethod
    def _importable(cls, value: str | None) -> str | None:
        if value is not None:
            resolve_python(value)
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> ExecutorConfig:
        if (self.http is None) == (self.python is None):
            raise ValueError("give exactly one of 'http: {url, timeout_s}' or "
                             "'python: \"module:function\"'")
        return self


class ToolConfig(_Strict):
    name: str = Field(..., pattern=TOOL_NAME_PATTERN)
    description: str = Field(..., min_length=1, max_length=1024)
    parameters: dict[str, Any] = Field(..., description="JSON schema of the arguments object.")
    mutating: bool = Field(..., description="true: runs only after a dry run and a "
                           "confirmation token (POST /v1/tools/{name}/execute).")
    tiers: list[str] = Field(..., min_length=1, description="Tiers whose keys may use it.")
    executor: ExecutorConfig
    confirm_ttl_s: int = Field(300, ge=10, le=86_400, description="Lifetime of a "
                               "confirmation token issued by this tool's dry run.")

    @model_validator(mode="after")
    def _parameters(self) -> ToolConfig:
        # Imported here: jsonschema and numpy (via warden.constraints) cost every CLI command
        # ~0.2 s of start-up, and only configs that define tools need them.
        from warden.constraints.tool_schema import check_parameters_schema

        try:
            check_parameters_schema(self.name, self.parameters)
        except ValueError as exc:
            # A model-level error has no location of its own: name the field in the text.
            raise ValueError(f"parameters {exc}") from exc
        return self


def resolve_python(target: str) -> Any:
    """The callable named by 'module:function'; ValueError naming what is wrong."""
    if not _PYTHON_TARGET.match(target):
        raise ValueError(f"{target!r} is not of the form 'package.module:function'")
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import module '{module_name}': {exc}") from exc
    function = getattr(module, attr, None)
    if not callable(function):
        raise ValueError(f"module '{module_name}' has no callable '{attr}'")
    return function


def check_tools(tools: Iterable[ToolConfig], tiers: Iterable[str]) -> list[str]:
    """Cross-checks WardenConfig runs: unique names, known tiers. One message per problem,
    each naming its key path."""
    known = set(tiers)
    problems: list[str] = []
    seen: dict[str, int] = {}
    for i, tool in enumerate(tools):
        if tool.name in seen:
            problems.append(f"tools.{i}.name: '{tool.name}' is already defined at "
                            f"tools.{seen[tool.name]}; tool names must be unique")
        seen.setdefault(tool.name, i)
        for tier in tool.tiers:
            if tier not in known:
                problems.append(f"tools.{i}.tiers: '{tier}' is not one of the configured "
                                f"tiers {sorted(known)}")
    return problems
