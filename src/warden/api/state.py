"""Everything a request handler may need, built once per app by `warden.api.runtime` and
never reassigned afterwards. Handlers take it with the `State` dependency."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from warden.api.pipeline.generation import GenerationService
from warden.api.pipeline.retrieval import RetrievalStage
from warden.batch.service import BatchService
from warden.config import WardenConfig
from warden.engine.base import Engine
from warden.ratelimit.factory import Limiter
from warden.rollout.runtime import RolloutRuntime
from warden.safety.switches.store import Switches
from warden.safety.switches.trigger_runner import TriggerRunner
from warden.safety.tools.service import ToolService
from warden.store.audit import AuditLog
from warden.store.db import Database
from warden.store.incidents import Incidents
from warden.store.keys import KeyStore
from warden.telemetry.metrics import Metrics

if TYPE_CHECKING:
    from warden.policy.service import AdvisoryService
    from warden.retrieval.service import Retrieval


@dataclass
class Lifecycle:
    """The only state that changes after start: when the server began, and whether it is
    draining (readiness turns 503 so load balancers stop sending traffic)."""

    started_at: float = field(default_factory=time.time)
    draining: bool = False


@dataclass(frozen=True)
class AppState:
    config: WardenConfig
    config_hash: str
    db: Database
    keys: KeyStore
    audit: AuditLog
    incidents: Incidents
    engines: Mapping[str, Engine]
    limiter: Limiter
    metrics: Metrics
    service: GenerationService
    # Kill switches: `switches.is_on("retrieval" | "tools" | "tool:<name>")` is a dict lookup
    # (no I/O), cheap enough for every request; the one question every hook asks.
    switches: Switches
    triggers: TriggerRunner
    # Tool governance (registry, execute protocol); always built, empty without `tools:`.
    tools: ToolService
    # Both None when retrieval.enabled is false. The embedder inside loads on first use (or
    # warms in the background when a corpus is already active), never blocking start-up.
    retrieval: Retrieval | None
    rag: RetrievalStage | None
    lifecycle: Lifecycle
    batch: BatchService | None  # the Batch API and its runner; None when batch.enabled false
    rollouts: RolloutRuntime  # arms, canary verdicts, traffic samples (docs/rollout.md)
    advisory: AdvisoryService | None = None  # the policy advisor; None when advisory.enabled false


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.warden
    return state


State = Annotated[AppState, Depends(app_state)]
