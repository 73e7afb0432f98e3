"""Which kill switches a deployment has: `retrieval`, `tools`, and `tool:<name>` for each tool
in the config's tool registry (`tools:` in warden.yaml).

The switch store accepts any well-formed name (switch_name_problem), so `tool:typo` would be
stored and honoured by nothing. Whoever flips a switch on an operator's behalf (the CLI, the
admin route) checks the name here first and lists the known ones when it is not.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from warden.config.switches import FIXED_SWITCHES, TOOL_PREFIX

if TYPE_CHECKING:
    from warden.config import WardenConfig


def known_switch_names(config: WardenConfig) -> list[str]:
    """The switches `config` defines: the fixed ones, then one per configured tool (sorted)."""
    return [*FIXED_SWITCHES, *sorted(f"{TOOL_PREFIX}{tool.name}" for tool in config.tools)]


def unknown_switch_problem(name: str, known: Sequence[str]) -> str | None:
    """None when `name` is one of `known`; otherwise a message that says why and lists them."""
    if name in known:
        return None
    listing = ", ".join(known)
    if name.startswith(TOOL_PREFIX):
        tool = name[len(TOOL_PREFIX):]
        return (f"unknown switch '{name}': no tool '{tool}' is configured (tools: in "
                f"warden.yaml), so it would switch nothing. Known switches: {listing}")
    return f"unknown switch '{name}'. Known switches: {listing}"
