"""The `tools:` block of warden.yaml: every mistake is reported naming its key."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.tool_registry import builtin_tools

from warden.config import ConfigError, WardenConfig, load_config
from warden.safety.tools.registry import ToolRegistry


def load(tools: list[dict[str, Any]], **extra: Any) -> WardenConfig:
    """Through load_config, the path `warden serve` and `warden config check` take."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "warden.yaml"
        path.write_text(yaml.safe_dump({"tools": tools, **extra}))
        return load_config(path, environ={})


def problems(tools: list[dict[str, Any]], **extra: Any) -> str:
    with pytest.raises(ConfigError) as err:
        load(tools, **extra)
    return "\n".join(err.value.problems)


def tool(**changes: Any) -> dict[str, Any]:
    base = copy.deepcopy(builtin_tools()[0])
    base.update(changes)
    return base


def test_builtins_load_and_register() -> None:
    cfg = load(builtin_tools(["default", "pro"]))
    registry = ToolRegistry(cfg.tools)
    assert [t.name for t in registry.for_tier("pro")] == ["calculator", "notes_append"]
    assert registry.for_tier("free") == []
    assert registry.get("notes_append").mutating is True


def test_default_config_has_no_tools() -> None:
    assert WardenConfig().tools == []


def test_name_must_be_an_identifier() -> None:
    text = problems([tool(name="rm -rf")])
    assert "tools.0.name" in text


def test_mutating_has_no_default() -> None:
    entry = tool()
    del entry["mutating"]
    text = problems([entry])
    assert "tools.0.mutating: field required" in text.lower()


def test_unknown_tier_is_named() -> None:
    text = problems([tool(tiers=["gold"])])
    assert "tools.0.tiers" in text and "'gold'" in text


def test_duplicate_names_are_named() -> None:
    text = problems([tool(), tool()])
    assert "tools.1.name" in text and "unique" in text


def test_parameters_must_pass_the_meta_schema() -> None:
    text = problems([tool(parameters={"type": "object",
                                      "properties": {"a": {"type": "strnig"}}})])
    assert "tools.0" in text and "parameters" in text and "not a valid JSON schema" in text


def test_parameters_must_be_enforceable_by_the_decoder() -> None:
    text = problems([tool(parameters={"type": "object",
                                      "properties": {"a": {"not": {"type": "string"}}}})])
    assert "parameters" in text and "'not'" in text and "not supported" in text


def test_parameters_depth_counts_the_call_envelope() -> None:
    deep: dict[str, Any] = {"type": "string"}
    for _ in range(6):  # 7 levels as written: fine alone, too deep once wrapped (+2)
        deep = {"type": "object", "properties": {"x": deep}}
    text = problems([tool(parameters=deep)])
    assert "parameters" in text and "depth" in text


def test_parameters_must_describe_an_object() -> None:
    text = problems([tool(parameters={"type": "string"})])
    assert "parameters" in text and "\"type\": \"object\"" in text


def test_executor_needs_exactly_one_kind() -> None:
    both = tool(executor={"python": "warden.safety.tools.builtin:calculator",
                          "http": {"url": "http://127.0.0.1:9/x"}})
    assert "tools.0.executor" in problems([both])
    assert "tools.0.executor" in problems([tool(executor={})])


def test_python_executor_must_import() -> None:
    text = problems([tool(executor={"python": "warden.no_such_module:f"})])
    assert "tools.0.executor.python" in text and "cannot import" in text
    text = problems([tool(executor={"python": "warden.safety.tools.builtin:nope"})])
    assert "no callable 'nope'" in text
    assert "form" in problems([tool(executor={"python": "not a target"})])


def test_http_executor_url_is_checked() -> None:
    text = problems([tool(executor={"http": {"url": "ftp://x/y"}})])
    assert "tools.0.executor.http.url" in text
    cfg = load([tool(executor={"http": {"url": "http://127.0.0.1:9/run", "timeout_s": 2}})])
    assert cfg.tools[0].executor.http is not None


def test_unknown_keys_are_rejected() -> None:
    assert "tools.0.mutatting" in problems([tool(mutatting=True)])
