"""The FastAPI application factory and its lifespan."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from warden import __version__
from warden.api.errors import install_error_handlers
from warden.api.guard import RequestGuard
from warden.api.middleware import BodySizeLimitMiddleware, RequestIdMiddleware
from warden.api.routes import admin, generate, health, openai
from warden.api.serving import GenerationService
from warden.api.state import AppState
from warden.config import WardenConfig, config_hash
from warden.engine.base import Engine
from warden.engine.factory import build_engine
from warden.ratelimit.factory import build_limiter
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
        try:
            for model in config.models:
                engine = build_engine(model)
                await engine.start()
                engines[model.name] = engine
            service = GenerationService(config, engines, limiter, metrics)
            audit = AuditLog(db)
            incidents = Incidents(db)
            if config.safety.enabled:
                guard = RequestGuard(config, audit, incidents, metrics)
                await asyncio.to_thread(guard.warm_up)
                service.guard = guard
            state = AppState(config=config, config_hash=config_hash(config), db=db,
                             keys=KeyStore(db), audit=audit, incidents=incidents,
                             engines=engines,
                             limiter=limiter, metrics=metrics, service=service)
            app.state.warden = state
            log.info("warden ready: models=%s config_hash=%s", list(engines), state.config_hash)
            yield
            state.draining = True
            await service.drain()
        finally:
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
    # Added last = outermost: the request id wraps everything, including 413s.
    app.add_middleware(HttpMetricsMiddleware, metrics=metrics)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=config.server.max_body_bytes)
    app.add_middleware(RequestIdMiddleware)
    return app
