"""Checks for a tool's parameters schema, shared by the tool registry in warden.yaml and the
tools a client defines on a request.

A parameters schema must pass two checks: jsonschema's own meta-schema (so it means what its
author thinks), and the same limits and keyword allow-list as response schemas (`limits`),
because it is what the constrained decoder compiles when a call is required. It is checked
as written and as the decoder compiles it when several tools are offered:
`{"anyOf": [{"name": ..., "arguments": <parameters>}]}`, two levels deeper.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from warden.constraints.base import SchemaRejected
from warden.constraints.limits import SchemaLimits, check_schema


def call_envelope(name: str, parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON the model writes for one call of `name`: {"name": name, "arguments": {...}}."""
    return {"type": "object",
            "properties": {"name": {"const": name}, "arguments": dict(parameters)},
            "required": ["name", "arguments"], "additionalProperties": False}


def check_parameters_schema(name: str, schema: Any,
                            limits: SchemaLimits | None = None) -> None:
    """Raise ValueError (message names the problem) if `schema` cannot serve as a tool's
    parameters: meta-schema, decoder limits, and the call envelope's limits."""
    if not isinstance(schema, Mapping):
        raise ValueError(f"must be a JSON schema object, not {type(schema).__name__}")
    if schema.get("type") != "object":
        raise ValueError("must have \"type\": \"object\" (tool arguments are a JSON object)")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.path) or "(root)"
        raise ValueError(f"is not a valid JSON schema at {where}: {exc.message}") from exc
    try:
        check_schema(schema, limits)
        # As the decoder sees it when several tools are offered: anyOf of call envelopes.
        check_schema({"anyOf": [call_envelope(name, schema)]}, limits)
    except SchemaRejected as exc:
        text = str(exc).replace("json_schema", "the schema", 1)
        raise ValueError(f"cannot be enforced while decoding: {text}") from exc
