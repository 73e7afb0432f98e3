"""The FastAPI application factory and its lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from warden import __version__
from warden.api.errors import install_error_handlers
from warden.api.middleware import BodySizeLimitMiddleware, RequestIdMiddleware
from warden.api.routes import (
    admin,
    admin_drills,
    admin_retrieval,
    admin_switches,
    batch,
    canaries,
    evaluations,
    files,
    generate,
    health,
    info,
    openai,
    rollout_drift,
    rollouts,
)
from warden.api.routes import advisory as advisory_routes
from warden.api.routes import advisory_admin as advisory_admin_routes
from warden.api.routes import tools as tool_routes
from warden.api.runtime import running
from warden.config import WardenConfig
from warden.safety.scrub import scrub_pii
from warden.telemetry.http_metrics import HttpMetricsMiddleware
from warden.telemetry.metrics import Metrics
from warden.telemetry.trace_middleware import TracingMiddleware
from warden.telemetry.tracing import start_tracing, stop_tracing

log = logging.getLogger(__name__)


def create_app(config: WardenConfig) -> FastAPI:
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Off without telemetry.otlp_endpoint; stopped last, so drained streams' spans go out.
        traced = start_tracing(config.telemetry, scrub=scrub_pii) is not None
        try:
            async with running(config, metrics) as state:
                app.state.warden = state
                yield
        finally:
            if traced:
                stop_tracing()

    # The schema is served by a keyed route (health.protected): no route but the probes is open.
    app = FastAPI(title="Warden", version=__version__, lifespan=lifespan,
                  description="Safety-first OpenAI-compatible LLM gateway.",
                  openapi_url=None, docs_url=None, redoc_url=None)
    install_error_handlers(app)
    app.include_router(health.public)
    app.include_router(health.protected)
    app.include_router(openai.router)
    app.include_router(generate.router)
    app.include_router(info.router)
    app.include_router(evaluations.router)
    app.include_router(admin.router)
    app.include_router(admin_switches.router)
    app.include_router(admin_drills.router)
    app.include_router(admin_retrieval.router)
    app.include_router(tool_routes.router)
    app.include_router(advisory_routes.router)
    app.include_router(advisory_admin_routes.router)
    app.include_router(batch.router)
    app.include_router(files.router)
    app.include_router(rollouts.router)
    app.include_router(canaries.router)
    app.include_router(rollout_drift.router)
    # Added last = outermost: the request id wraps everything, including 413s; the server
    # span wraps the metrics middleware, so the access line carries its trace id.
    app.add_middleware(HttpMetricsMiddleware, metrics=metrics)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=config.server.max_body_bytes)
    app.add_middleware(TracingMiddleware)
    app.add_middleware(RequestIdMiddleware)
    return app
