"""The eval's HTTP client: Warden's routes over httpx, and any OpenAI-compatible endpoint.

Thin on purpose: each method is one request, returns the decoded JSON, and turns every
failure into an `EndpointError` whose message says what to do. 429 and 503 are retried after
the server's Retry-After (bounded), since an eval must not fail on a busy server.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx

RETRY_STATUSES = (429, 503)
MAX_RETRY_WAIT_S = 30.0
_HINTS = {
    401: "the key was refused: check --key (or WARDEN_KEY) and that the key was created on "
         "this server's store (`warden keys create --name eval`)",
    403: "this key may not use that route (an admin route or a tier limit)",
    404: "not found: check --url, the model name and the corpus name",
    413: "the request is too large for the server (server.max_body_bytes)",
    429: "rate limited after retries: use a key on a tier with a higher rpm/tpm "
         "(`warden keys create --name eval --tier pro`)",
    503: "the server is not ready or its queue is full; wait, or check GET /readyz",
    504: "the server timed out: raise server.request_timeout_s, lower --max-tokens, or run "
         "on a less loaded machine",
}


class EndpointError(RuntimeError):
    """A request failed; `status` and `code` are the server's when it answered."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class Timed:
    body: dict[str, Any]
    latency_s: float


def _error_parts(response: httpx.Response) -> tuple[str, str | None]:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300], None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("message", error)), error.get("code")
    return str(body)[:300], None


class HttpEndpoint:
    """Requests against one base URL (a Warden root, or an OpenAI-style `/v1` base)."""

    def __init__(self, base_url: str, key: str | None, *, timeout_s: float = 300.0,
                 retries: int = 6, transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"authorization": f"Bearer {key}"} if key else {}
        self._http = httpx.Client(base_url=self.base_url, headers=headers, transport=transport,
                                  timeout=httpx.Timeout(timeout_s, connect=10.0))
        self.retries = retries

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HttpEndpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, method: str, path: str, *, json: Any = None, auth: bool = True,
             params: dict[str, Any] | None = None) -> httpx.Response:
        """One request, retried on 429/503 after Retry-After; the raw response."""
        for attempt in range(self.retries + 1):
            request = self._http.build_request(method, path, json=json, params=params)
            if not auth:
                request.headers.pop("authorization", None)
            try:
                response = self._http.send(request)
            except httpx.TimeoutException as exc:
                raise EndpointError(f"{method} {self.base_url}{path}: timed out ({exc}); the "
                                    "server may be overloaded: retry, or raise "
                                    "--timeout") from None
            except httpx.HTTPError as exc:
                raise EndpointError(f"cannot reach {self.base_url} ({exc}); is the server "
                                    "running there? Check --url.") from None
            if response.status_code not in RETRY_STATUSES or attempt == self.retries:
                return response
            time.sleep(_retry_after(response, attempt))
        raise AssertionError("unreachable")

    def call(self, method: str, path: str, *, json: Any = None,
             params: dict[str, Any] | None = None) -> dict[str, Any]:
        """The decoded JSON of a 2xx answer, or an EndpointError naming the fix."""
        response = self.send(method, path, json=json, params=params)
        if response.status_code >= 400:
            message, code = _error_parts(response)
            hint = _HINTS.get(response.status_code, "see the message")
            raise EndpointError(f"{method} {path} -> {response.status_code}"
                                f"{f' {code}' if code else ''}: {message} ({hint})",
                                response.status_code, code)
        try:
            body = response.json()
        except ValueError:
            raise EndpointError(f"{method} {path}: the answer is not JSON "
                                f"({response.text[:120]!r}); is --url a Warden or "
                                "OpenAI-compatible server?") from None
        if not isinstance(body, dict):
            raise EndpointError(f"{method} {path}: expected a JSON object, got "
                                f"{type(body).__name__}")
        return body

    def timed(self, method: str, path: str, json: Any) -> Timed:
        started = time.perf_counter()
        body = self.call(method, path, json=json)
        return Timed(body, time.perf_counter() - started)


def _retry_after(response: httpx.Response, attempt: int) -> float:
    try:
        wait = float(response.headers.get("retry-after", ""))
    except ValueError:
        wait = 2.0 ** attempt
    return min(max(wait, 0.5), MAX_RETRY_WAIT_S)


class WardenClient:
    """Warden's routes the eval uses. `url` is the server root (a trailing /v1 is dropped)."""

    def __init__(self, url: str, key: str | None, *, timeout_s: float = 300.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        root = url.rstrip("/")
        root = root.removesuffix("/v1")
        self.url = root
        self.http = HttpEndpoint(root, key, timeout_s=timeout_s, transport=transport)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> WardenClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def readyz(self) -> tuple[int, dict[str, Any]]:
        response = self.http.send("GET", "/readyz", auth=False)
        try:
            body = response.json()
        except ValueError:
            body = {"raw": response.text[:300]}
        return response.status_code, body if isinstance(body, dict) else {"raw": body}

    def models(self) -> list[dict[str, Any]]:
        data = self.http.call("GET", "/v1/models").get("data")
        return [m for m in data if isinstance(m, dict)] if isinstance(data, list) else []

    def corpus(self, name: str, *, health: bool = True) -> dict[str, Any] | None:
        """The corpus with its active version (and the prefix-leakage check), None on 404."""
        response = self.http.send("GET", f"/v1/corpora/{name}",
                                  params={"health": "true"} if health else None)
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            message, _ = _error_parts(response)
            raise EndpointError(f"GET /v1/corpora/{name} -> {response.status_code}: {message}",
                                response.status_code)
        body = response.json()
        return body if isinstance(body, dict) else None

    def tokenize(self, messages: list[dict[str, str]], model: str | None) -> dict[str, Any]:
        return self.http.call("POST", "/v1/tokenize", json={"model": model,
                                                            "messages": messages})

    def chat(self, body: dict[str, Any]) -> Timed:
        return self.http.timed("POST", "/v1/chat/completions", body)

    def record_evaluation(self, record: dict[str, Any]) -> dict[str, Any]:
        return self.http.call("POST", "/v1/evaluations", json=record)
