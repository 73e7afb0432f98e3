"""The built-in tools as `tools:` entries of warden.yaml, for unit and integration tests."""

from __future__ import annotations

from typing import Any

from warden.safety.tools.builtin import BUILTIN_PARAMETERS


def builtin_tools(tiers: list[str] | None = None) -> list[dict[str, Any]]:
    tiers = tiers or ["default"]
    return [
        {"name": "calculator", "description": "Evaluate an arithmetic expression.",
         "parameters": BUILTIN_PARAMETERS["calculator"], "mutating": False, "tiers": tiers,
         "executor": {"python": "warden.safety.tools.builtin:calculator"}},
        {"name": "notes_append", "description": "Append a note to the team notes file.",
         "parameters": BUILTIN_PARAMETERS["notes_append"], "mutating": True, "tiers": tiers,
         "executor": {"python": "warden.safety.tools.builtin:notes_append"}},
    ]
