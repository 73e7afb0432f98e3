"""Building the ToolService from the config (the app's lifespan calls this once)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from prometheus_client import CollectorRegistry

from warden.config.tools import ToolConfig
from warden.safety.tools.confirm import ConfirmationTokens, load_secret
from warden.safety.tools.executor import ToolExecutor
from warden.safety.tools.gate import ToolGate
from warden.safety.tools.ledger import TokenLedger
from warden.safety.tools.metrics import ToolMetrics
from warden.safety.tools.registry import ToolRegistry
from warden.safety.tools.service import ToolService
from warden.store.audit import AuditLog
from warden.store.db import Database


def build_tool_service(tools: list[ToolConfig], *, db: Database, audit: AuditLog,
                       registry: CollectorRegistry, data_dir: str | Path,
                       gate: ToolGate | None = None,
                       environ: Mapping[str, str] | None = None) -> ToolService:
    """Always built (with an empty registry when no tools are configured), so the routes
    can say "not in the registry" instead of failing in odd ways."""
    return ToolService(ToolRegistry(tools), ConfirmationTokens(load_secret(data_dir, environ)),
                       TokenLedger(db), ToolExecutor(), audit=audit,
                       metrics=ToolMetrics(registry), data_dir=Path(data_dir), gate=gate)
