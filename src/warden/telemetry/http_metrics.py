"""ASGI middleware that counts and times every HTTP request by route template."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from warden.telemetry.metrics import Metrics


class HttpMetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = scope.get("route")
            # The template ("/admin/keys/{key_id}/revoke"), never the raw path: bounded labels.
            path = getattr(route, "path", None) or "unmatched"
            model = scope.get("state", {}).get("model", "none")
            elapsed = time.perf_counter() - started
            self.metrics.requests.labels(path, scope["method"], str(status), model).inc()
            self.metrics.request_seconds.labels(path, str(status), model).observe(elapsed)
