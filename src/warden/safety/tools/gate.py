"""The kill-switch check and the error observers for tool use.

The switches themselves live elsewhere; the gate is given their one question, `is_on(name)`,
at construction (warden.api.runtime). Two switches govern a tool: "tools" (all of them) and
"tool:<name>" (one). Observers hear every execution's outcome (the tool_error_rate trigger).
Without `is_on` every switch reads as on (unit tests, CLI).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from warden.safety.tools.errors import ToolProblem

log = logging.getLogger(__name__)

ALL_TOOLS_SWITCH = "tools"


def tool_switch(name: str) -> str:
    return f"tool:{name}"


def _always_on(_switch: str) -> bool:
    return True


@dataclass(frozen=True)
class ToolGate:
    is_on: Callable[[str], bool] = _always_on
    observers: list[Callable[[bool], None]] = field(default_factory=list)

    def check(self, tool: str) -> None:
        """Raise ToolProblem 503 "tool_switched_off" if a switch turns this tool off."""
        for switch in (ALL_TOOLS_SWITCH, tool_switch(tool)):
            if not self.is_on(switch):
                raise ToolProblem(
                    503, "tool_switched_off",
                    f"The tool '{tool}' is switched off by the kill switch '{switch}'. An "
                    f"operator turns it back on with `warden switch {switch} on` (or POST "
                    "/admin/switches); retry after that.")

    def on_result(self, ok: bool) -> None:
        """Report one execution's outcome to every observer (e.g. an error-rate trigger).
        An observer's failure is logged, never the caller's problem."""
        for observer in list(self.observers):
            try:
                observer(ok)
            except Exception:
                log.exception("tool result observer failed")
