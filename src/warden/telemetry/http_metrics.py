"""ASGI middleware that counts and times every HTTP request by route template, and writes
its one access-log line.

The access line holds the path without its query string: a query can carry a secret
(`?api_key=wk_...` is refused, but it was sent) or personal data, and no log line may hold
either (uvicorn's own access log is off). The key is named by its public id only.
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from warden.telemetry.metrics import Metrics

access_log = logging.getLogger("warden.access")


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
            state = scope.get("state", {})
            access_log.info("%s %s %d %.1fms rid=%s key=%s", scope["method"], scope["path"],
                            status, elapsed * 1000, state.get("request_id", "-"),
                            getattr(state.get("principal"), "key_id", "-"))
