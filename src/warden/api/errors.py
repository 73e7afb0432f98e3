"""One error type for the HTTP layer and the handlers that render it in OpenAI's shape.

`{"error": {"message", "type", "param", "code"}}` for every non-2xx answer, tracebacks never.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

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


def _field_path(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    # pydantic names union branches (e.g. "str", "list[str]"); they are noise for a caller.
    return ".".join(p for p in parts if "[" not in p and p not in ("str", "int", "float"))


def validation_error(exc: RequestValidationError) -> APIError:
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request", "type": ""}
    if first.get("type") == "json_invalid":
        ctx = first.get("ctx") or {}
        return APIError(400, f"The body is not valid JSON: {ctx.get('error', first['msg'])}. "
                             "Send a JSON object with Content-Type: application/json.",
                        code="invalid_json")
    if first.get("type") == "model_attributes_type" or _field_path(first["loc"]) == "":
        return APIError(400, "The body must be a JSON object.", code="invalid_body")
    problems = []
    for err in errors[:5]:
        path = _field_path(err["loc"]) or "(body)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field; remove it or check its spelling"
        elif err["type"] == "missing":
            msg = "field required"
        problems.append(f"{path}: {msg}")
    return APIError(400, "Invalid request: " + "; ".join(problems),
                     code="invalid_value", param=_field_path(first["loc"]) or None)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def _api_error(_request: Request, exc: APIError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_error(exc).response()

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        if exc.status_code == 404 and message == "Not Found":
            message = "No such route. GET /openapi.json (with a key) lists the routes."
        elif exc.status_code == 405:
            message = f"Method not allowed on this route: {message}"
        code = {413: "request_too_large", 404: "not_found", 405: "method_not_allowed"}.get(
            exc.status_code)
        return APIError(exc.status_code, message, code=code,
                        headers=dict(exc.headers or {})).response()

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return APIError(500, "Internal error; the request id in x-request-id finds it in the "
                             "server log.", code="internal_error").response()
