"""Tool governance: a registry of tools in warden.yaml, tool calls on chat completions decoded
under the tools' schemas, and governed execution (tier checks, kill switches, schema checks,
dry run + confirmation token for mutating tools, audit). See docs/tools.md.

Modules: config (the `tools:` block), registry, validation (schemas), arguments (canonical
form, hashes), calls and prompt (chat completions), confirm (tokens), ledger (single use),
executor (python / http), gate (kill switches, error observers), metrics, service, builtin.
"""

from warden.config.tools import ToolConfig, check_tools
from warden.safety.tools.errors import ToolProblem
from warden.safety.tools.gate import ToolGate
from warden.safety.tools.service import Caller, ExecuteCall, ToolService

__all__ = ["Caller", "ExecuteCall", "ToolConfig", "ToolGate", "ToolProblem", "ToolService",
           "check_tools"]
