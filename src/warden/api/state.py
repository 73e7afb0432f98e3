"""Everything a request handler may need, built once per app by the lifespan."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from fastapi import Request

from warden.api.serving import GenerationService
from warden.config import WardenConfig
from warden.engine.base import Engine
from warden.ratelimit.factory import Limiter
from warden.store.audit import AuditLog
from warden.store.db import Database
from warden.store.incidents import Incidents
from warden.store.keys import KeyStore
from warden.telemetry.metrics import Metrics


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
    started_at: float = field(default_factory=time.time)
    draining: bool = False


def app_state(request: Request) -> AppState:
    return request.app.state.warden
