"""Everything a request handler may need, built once per app by the lifespan."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastapi import Request

from warden.api.serving import GenerationService
from warden.config import WardenConfig
from warden.engine.base import Engine
from warden.ratelimit.factory import Limiter
from warden.safety.switches import Switches
from warden.safety.trigger_runner import TriggerRunner
from warden.store.audit import AuditLog
from warden.store.db import Database
from warden.store.incidents import Incidents
from warden.store.keys import KeyStore
from warden.telemetry.metrics import Metrics

if TYPE_CHECKING:
    from warden.retrieval.service import Retrieval
    from warden.safety.tools.service import ToolService


@dataclass
class AppState:
    config: WardenConfig
    config_hash: str
    db: Database
    keys: KeyStore
    audit: AuditLog
    incidents: Incidents
    engines: dict[str, Engine]
    limiter: Limiter
    metrics: Metrics
    service: GenerationService
    # Kill switches: `switches.is_on("retrieval" | "tools" | "tool:<name>")` is a dict lookup
    # (no I/O), cheap enough for every request. `triggers.observe(signal, bad)` feeds the
    # automatic triggers.
    switches: Switches
    triggers: TriggerRunner
    started_at: float = field(default_factory=time.time)
    draining: bool = False
    # Built when retrieval.enabled; the embedder inside loads on first use (or warms in the
    # background when a corpus is already active), never blocking start-up.
    retrieval: Retrieval | None = None
    # The retrieval kill switch (api/rag.py `switched_on`): None means on.
    retrieval_switch: Callable[[], Awaitable[bool]] | None = None
    # Tool governance (registry, execute protocol); built by the lifespan. Its gate's `is_on`
    # and `observers` are the hooks for the kill switches and the tool_error_rate trigger.
    tools: ToolService | None = None


def app_state(request: Request) -> AppState:
    return request.app.state.warden
