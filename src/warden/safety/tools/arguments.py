"""Tool-call arguments in canonical form: the bytes that tokens bind and audits hash.

Canonical = JSON with sorted keys, no whitespace, UTF-8, no NaN. Two argument objects that
mean the same thing have the same canonical form, whatever order or spacing the client sent,
and any change of a value changes it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


class ArgumentsError(ValueError):
    """The arguments are not a JSON object (or not serialisable as JSON)."""


def canonical(value: Any) -> str:
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ArgumentsError(f"not serialisable as JSON: {exc}") from exc


def sha256_of(value: Any) -> str:
    """SHA-256 (hex) of the canonical JSON: what audits keep instead of raw values."""
    return hashlib.sha256(canonical(value).encode("utf-8")).hexdigest()


def parse_arguments(text: str) -> dict[str, Any]:
    """An OpenAI `function.arguments` string to a dict; ArgumentsError if it is not one."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ArgumentsError(f"arguments are not valid JSON: {exc.msg} at position "
                             f"{exc.pos}") from exc
    if not isinstance(value, dict):
        raise ArgumentsError(f"arguments must be a JSON object, not {type(value).__name__}")
    return value


def as_wire_string(arguments: dict[str, Any]) -> str:
    """The `function.arguments` string Warden returns: compact JSON in the model's key order
    (the order the schema asked for, which reads naturally)."""
    return json.dumps(arguments, separators=(",", ":"), ensure_ascii=False)
