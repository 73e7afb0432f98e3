"""Liveness and readiness (no key), and Prometheus metrics (any valid key)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from warden.api.auth import authenticate
from warden.api.state import State

public = APIRouter(tags=["health"])
protected = APIRouter(tags=["health"], dependencies=[Depends(authenticate)])


@public.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@public.get("/readyz", response_model=None)
async def readyz(state: State) -> JSONResponse:
    checks: dict[str, Any] = {"database": await run_in_threadpool(state.db.ping)}
    for name, engine in state.engines.items():
        probe = getattr(engine, "probe", None)
        ready = await probe() if probe is not None else engine.is_ready()
        checks[f"model:{name}"] = ready
    checks["limiter"] = await state.limiter.ping()
    ready = all(checks.values()) and not state.lifecycle.draining
    return JSONResponse({"status": "ready" if ready else "not_ready", "checks": checks,
                         "draining": state.lifecycle.draining, "config_hash": state.config_hash},
                        status_code=200 if ready else 503,
                        headers={} if ready else {"retry-after": "5"})


@protected.get("/metrics")
async def metrics(state: State) -> Response:
    return Response(state.metrics.render(), media_type=state.metrics.content_type)


@protected.get("/openapi.json", include_in_schema=False)
async def openapi(request: Request) -> dict[str, Any]:
    app = request.app
    if app.openapi_schema is None:
        app.openapi_schema = get_openapi(title=app.title, version=app.version,
                                         description=app.description, routes=app.routes)
    schema: dict[str, Any] = app.openapi_schema
    return schema
