"""Every error the HTTP layer answers, and the one table that maps exceptions to them.

httpx's `_exceptions.py` is the model: the hierarchy first, then one mapping. Inner layers
raise their own exceptions (the engine, the limiter, the waiting line, tools), knowing
nothing of HTTP; `to_api_error` is the only place that decides status, code and public
message, for JSON answers and for errors inside an SSE stream alike:

    APIError                    already an answer (validation, auth, routes)
    GenerationTimeout           504 timeout            the request ran out of time
    EngineError                 its status; 5xx text is logged, never relayed
      UpstreamUnavailable       502 upstream_unavailable
      UpstreamTimeout           504 upstream_timeout
      UpstreamRejected          the upstream's 4xx, with its message
      PromptTooLong, InvalidRequest   400
    QueueFull                   503 queue_full + Retry-After
    RequestTooLarge             400 request_too_large
    RateLimited                 429 rate_limit_<reason> + Retry-After and limit headers
    LimiterUnavailable          503 limiter_unavailable + Retry-After
    ToolProblem                 its status and code
    anything else               500 internal_error (logged with its traceback)

`{"error": {"message", "type", "param", "code"}}` for every non-2xx answer, tracebacks never.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from warden.engine.base import EngineError
from warden.engine.waiting_line import QueueFull
from warden.ratelimit import LimiterUnavailable, RateLimited, RequestTooLarge
from warden.safety.tools.errors import ToolProblem

log = logging.getLogger(__name__)

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    500: "server_error",
    502: "upstream_error",
    503: "overloaded_error",
    504: "timeout_error",
}


class APIError(Exception):
    def __init__(self, status: int, message: str, *, code: str | None = None,
                 param: str | None = None, headers: dict[str, str] | None = None,
                 type_: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.headers = headers or {}
        self.type = type_ or _TYPES.get(status, "server_error" if status >= 500
                                        else "invalid_request_error")

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param,
                          "code": self.code}}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


class GenerationTimeout(Exception):
    """The request's wall-clock budget (server.request_timeout_s) ran out."""

    def __init__(self, message: str = "The request timed out while generating "
                                       "(server.request_timeout_s).") -> None:
        super().__init__(message)
        self.message = message


_PUBLIC_5XX = {
    502: "The upstream model server failed or is unreachable; retry shortly. The server log "
         "has the details under this request's x-request-id.",
    504: "The upstream model server did not answer in time; retry shortly.",
}
_INTERNAL = ("Internal error; the request id in x-request-id finds it in the server log.")


def _engine(exc: EngineError) -> APIError:
    if exc.status_code >= 500:
        # Upstream bodies can hold tracebacks and internal URLs: log them, don't relay them.
        log.warning("engine error %s: %s", exc.code, exc)
        return APIError(exc.status_code, _PUBLIC_5XX.get(exc.status_code, "Engine failure."),
                        code=exc.code)
    return APIError(exc.status_code, str(exc), code=exc.code)


def _queue_full(exc: QueueFull) -> APIError:
    return APIError(503, f"The server is at capacity ({exc.waiting} requests waiting). "
                         f"Retry after {exc.retry_after_s} s.", code="queue_full",
                    headers={"retry-after": str(exc.retry_after_s)})


_TABLE: tuple[tuple[type[BaseException], Callable[[Any], APIError]], ...] = (
    (APIError, lambda exc: exc),
    (GenerationTimeout, lambda exc: APIError(504, exc.message, code="timeout")),
    (EngineError, _engine),
    (QueueFull, _queue_full),
    (RequestTooLarge, lambda exc: APIError(400, str(exc), code="request_too_large",
                                           param="max_tokens")),
    (RateLimited, lambda exc: APIError(429, str(exc), code=f"rate_limit_{exc.reason}",
                                       headers=exc.headers)),
    (LimiterUnavailable, lambda exc: APIError(
        503, "The rate-limit store is unreachable; retry shortly.",
        code="limiter_unavailable", headers={"retry-after": "1"})),
    (ToolProblem, lambda exc: APIError(exc.status, exc.message, code=exc.code,
                                       param=exc.param)),
)


def to_api_error(exc: BaseException) -> APIError:
    """The answer for any exception: the first matching row of the table, else a 500 that
    says nothing of the exception (it is logged with its traceback instead)."""
    for kind, convert in _TABLE:
        if isinstance(exc, kind):
            return convert(exc)
    log.error("unexpected error", exc_info=exc)
    return APIError(500, _INTERNAL, code="internal_error")


def _field_path(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    # pydantic names union branches (e.g. "str", "list[str]"); they are noise for a caller.
    return ".".join(p for p in parts if "[" not in p and p not in ("str", "int", "float"))


_NAMED = re.compile(r"^(\w[\w.]*): (.+)$", re.S)
UNPARSEABLE_BODY = ("The body is not valid JSON: it is not UTF-8 text, or it is nested too "
                    "deeply. Send a JSON object, UTF-8 encoded, with Content-Type: "
                    "application/json.")


def _problem(err: Any) -> tuple[str, str]:
    """(field path, message) of one pydantic error. A model-level check names its field with
    a `field: ` prefix (warden.api.protocol.model_problem)."""
    path = _field_path(err["loc"])
    msg = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown field; remove it or check its spelling"
    elif err["type"] == "missing":
        msg = "field required"
    named = _NAMED.match(msg)
    if named and err["type"] == "value_error":
        path = ".".join(p for p in (path, named.group(1)) if p)
        msg = named.group(2)
    return path, msg


def validation_error(exc: RequestValidationError, content_type: str = "application/json"
                     ) -> APIError:
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request", "type": ""}
    kind, at_root = first.get("type"), _field_path(first["loc"]) == ""
    if kind == "json_invalid":
        ctx = first.get("ctx") or {}
        return APIError(400, f"The body is not valid JSON: {ctx.get('error', first['msg'])}. "
                             "Send a JSON object with Content-Type: application/json.",
                        code="invalid_json")
    if at_root and "json" not in content_type.lower():
        shown = content_type or "none"
        return APIError(415, f"The body must be JSON, sent with Content-Type: "
                             f"application/json (this request sent {shown}; with curl, add "
                             "-H 'content-type: application/json').",
                        code="unsupported_media_type")
    if at_root and kind == "missing":
        return APIError(400, "The body is empty. Send a JSON object.", code="invalid_body")
    if at_root and kind in ("model_attributes_type", "dict_type", "model_type"):
        return APIError(400, "The body must be a JSON object ({...}), not an array or a "
                             "plain value.", code="invalid_body")
    problems = [_problem(err) for err in errors[:5]]
    return APIError(400, "Invalid request: " + "; ".join(f"{p or '(body)'}: {m}"
                                                        for p, m in problems),
                    code="invalid_value", param=problems[0][0] or None)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def _api_error(_request: Request, exc: APIError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_error(exc, request.headers.get("content-type", "")).response()

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        if exc.status_code == 404 and message == "Not Found":
            message = "No such route. GET /openapi.json (with a key) lists the routes."
        elif exc.status_code == 405:
            message = f"Method not allowed on this route: {message}"
        code = {413: "request_too_large", 404: "not_found", 405: "method_not_allowed"}.get(
            exc.status_code)
        if exc.status_code == 400 and message == "There was an error parsing the body":
            # FastAPI's words for a body json.loads could not even start on.
            message, code = UNPARSEABLE_BODY, "invalid_json"
        return APIError(exc.status_code, message, code=code,
                        headers=dict(exc.headers or {})).response()

    async def _mapped(_request: Request, exc: Exception) -> JSONResponse:
        return to_api_error(exc).response()

    # Each row of the table gets its own handler: Starlette answers a bare `Exception`
    # handler's response and then re-raises, which drops the keep-alive connection.
    for kind, _ in _TABLE[1:]:
        if issubclass(kind, Exception):
            app.add_exception_handler(kind, _mapped)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return to_api_error(exc).response()
