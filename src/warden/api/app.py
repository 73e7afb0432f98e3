"""The FastAPI application factory and its lifespan."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from warden import __version__
from warden.api import rag
from warden.api.errors import install_error_handlers
from warden.api.guard import RequestGuard
from warden.api.middleware import BodySizeLimitMiddleware, RequestIdMiddleware
from warden.api.routes import (
    admin,
    admin_drills,
    admin_retrieval,
    admin_switches,
    generate,
    health,
    openai,
)
from warden.api.routes import tools as tool_routes
from warden.api.serving import GenerationService
from warden.api.state import AppState
from warden.config import WardenConfig, config_hash
from warden.engine.base import Engine
from warden.engine.factory import build_engine
from warden.ratelimit.factory import build_limiter
from warden.safety.switch_runtime import SwitchRuntime
from warden.safety.tools.factory import build_tool_service
from warden.store.audit import AuditLog
from warden.store.db import open_database
from warden.store.incidents import Incidents
from warden.store.keys import KeyStore
from warden.telemetry.http_metrics import HttpMetricsMiddleware
from warden.telemetry.metrics import Metrics

log = logging.getLogger(__name__)


def create_app(config: WardenConfig) -> FastAPI:
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = await asyncio.to_thread(open_database, config.store.url)
        limiter = build_limiter(config.store.redis_url)
        engines: dict[str, Engine] = {}
        kill_switches: SwitchRuntime | None = None
        try:
            for model in config.models:
                engine = build_engine(model)
                await engine.start()
                engines[model.name] = engine
            service = GenerationService(config, engines, limiter, metrics)
            audit = AuditLog(db)
            incidents = Incidents(db)
            kill_switches = await SwitchRuntime.start(config, db, audit, incidents, metrics)
            if config.safety.enabled:
                guard = RequestGuard(config, audit, incidents, metrics)
                await asyncio.to_thread(guard.warm_up)
                service.guard = guard
                guard.observe = kill_switches.triggers.observe
            state = AppState(config=config, config_hash=config_hash(config), db=db,
                             keys=KeyStore(db), audit=audit, incidents=incidents,
                             engines=engines,
                             limiter=limiter, metrics=metrics, service=service,
                             switches=kill_switches.switches, triggers=kill_switches.triggers)
            state.retrieval = rag.build_retrieval(config, db, audit)
            if state.retrieval is not None:  # in the background: readiness does not wait
                service.spawn(asyncio.to_thread(rag.warm_up, state.retrieval))
            state.tools = build_tool_service(config.tools, db=db, audit=audit,
                                             registry=metrics.registry,
                                             data_dir=config.retrieval.data_dir)
            # Kill switches gate tools and retrieval; tool failures feed their trigger.
            state.tools.gate.is_on = state.switches.is_on
            state.tools.gate.observers.append(
                lambda ok: kill_switches.triggers.observe("tool_error_rate", not ok))
            state.retrieval_switch = state.switches.checker("retrieval")
            app.state.warden = state
            log.info("warden ready: models=%s config_hash=%s", list(engines), state.config_hash)
            yield
            state.draining = True
            await service.drain()
            await state.tools.close()
        finally:
            if kill_switches is not None:
                await kill_switches.stop()
            for engine in engines.values():
                await engine.close()
            await limiter.close()
            db.dispose()

    # The schema is served by a keyed route (health.protected): no route but the probes is open.
    app = FastAPI(title="Warden", version=__version__, lifespan=lifespan,
                  description="Safety-first OpenAI-compatible LLM gateway.",
                  openapi_url=None, docs_url=None, redoc_url=None)
    install_error_handlers(app)
    app.include_router(health.public)
    app.include_router(health.protected)
    app.include_router(openai.router)
    app.include_router(generate.router)
    app.include_router(admin.router)
    app.include_router(admin_switches.router)
    app.include_router(admin_drills.router)
    app.include_router(admin_retrieval.router)
    app.include_router(tool_routes.router)
    # Added last = outermost: the request id wraps everything, including 413s.
    app.add_middleware(HttpMetricsMiddleware, metrics=metrics)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=config.server.max_body_bytes)
    app.add_middleware(RequestIdMiddleware)
    return app
