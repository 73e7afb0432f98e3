"""ASGI middleware that counts and times every HTTP request by route template, and writes
its one access-log line.

The access line holds the path without its query string: a query can carry a secret
(`?api_key=wk_...` is refused, but it was sent) or personal data, and no log line may hold
either (uvicorn's own access log is off). The key is named by its public id only. Its
structured fields (request_log.RequestFacts plus route, status, key, tier, latency) become
the request's JSON line; the logging setup scrubs PII from every string in it.
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from warden.telemetry.logs import FIELDS
from warden.telemetry.metrics import Metrics
from warden.telemetry.request_log import RequestFacts, collecting, trace_id_of
from warden.telemetry.tracing import current_trace_id

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
        headers = dict(scope.get("headers") or ())
        facts = RequestFacts(
            request_id=scope.get("state", {}).get("request_id"),
            # The server span's trace (tracing.TracingMiddleware runs outside this one), else
            # the trace id of an incoming traceparent.
            trace_id=current_trace_id()
            or trace_id_of(headers.get(b"traceparent", b"").decode("latin-1")))

        finished = False

        def finish() -> None:
            nonlocal finished
            if finished:
                return
            finished = True
            route = scope.get("route")
            # The template ("/admin/keys/{key_id}/revoke"), never the raw path: bounded labels.
            path = getattr(route, "path", None) or "unmatched"
            model = scope.get("state", {}).get("model", "none")
            elapsed = time.perf_counter() - started
            self.metrics.requests.labels(path, scope["method"], str(status), model).inc()
            self.metrics.request_seconds.labels(path, str(status), model).observe(elapsed)
            principal = scope.get("state", {}).get("principal")
            fields = {"event": "request", "request_id": facts.request_id,
                      "trace_id": facts.trace_id, "key_id": getattr(principal, "key_id", None),
                      "tier": getattr(principal, "tier", None), "method": scope["method"],
                      "route": path, "path": scope["path"], "status": status,
                      "model": None if model == "none" else model,
                      "latency_ms": round(elapsed * 1000, 1), **facts.fields()}
            access_log.info("%s %s %d %.1fms", scope["method"], scope["path"], status,
                            elapsed * 1000, extra={FIELDS: fields})

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                # Counted and logged before the last byte leaves: a client that has its
                # answer finds the request in /metrics and in the log.
                finish()
            await send(message)

        try:
            with collecting(facts):
                await self.app(scope, receive, recording_send)
        finally:
            finish()  # no complete response (an error, a disconnect): count and log it now
