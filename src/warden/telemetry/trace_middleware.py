"""ASGI middleware that opens one SERVER span per HTTP request (when tracing is on).

The span continues an incoming W3C `traceparent` and stays current while the request runs,
its streamed body included, so every span the request opens is its child and the access
line's `trace_id` is this trace's. It is named `{method} {route template}` once routing
knows the template; it holds the method, the template, the status and the request id, never
the raw path or query (they may carry personal data).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from warden.telemetry import tracing

_PROPAGATED = (b"traceparent", b"tracestate")


class TracingMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or tracing.tracing() is None:
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        headers = {k.decode("latin-1"): v.decode("latin-1")
                   for k, v in scope.get("headers") or () if k.lower() in _PROPAGATED}
        span = tracing.server_span(method, headers, {
            "http.request.method": method,
            "warden.request_id": scope.get("state", {}).get("request_id") or ""})
        assert span is not None
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                span.set_attribute("http.response.status_code", status)
            await send(message)

        try:
            with tracing.in_span(span):
                await self.app(scope, receive, recording_send)
        except BaseException as exc:
            tracing.mark_error(span, exc)
            raise
        finally:
            route = getattr(scope.get("route"), "path", None)
            if route:
                span.update_name(f"{method} {route}")
                span.set_attribute("http.route", route)
            if status >= 500:
                span.set_attribute("error.type", str(status))
                span.set_status(tracing.Status(tracing.StatusCode.ERROR))
            model = scope.get("state", {}).get("model")
            if model:
                span.set_attribute("gen_ai.request.model", model)
            span.end()
