"""An Engine that forwards to an OpenAI-compatible server (vLLM, TGI, llama.cpp server).

The gateway keeps doing auth, admission, guards and audit; the upstream only generates.
Every failure becomes an EngineError whose status the API can return as it is: connect
failures and 5xx are 502, read timeouts 504, and a 4xx keeps its status because the request
itself was at fault.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import httpx

from warden.config import ModelConfig, UpstreamConfig
from warden.engine.base import (
    Finished,
    FinishReason,
    GenerationRequest,
    PromptTooLong,
    StreamEvent,
    TextDelta,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
    Usage,
)
from warden.telemetry.tracing import outgoing_headers

log = logging.getLogger(__name__)

_RETRY_BACKOFF_S = 0.2
_ERROR_BODY_LIMIT = 64 * 1024
_SNIPPET_CHARS = 300
_FINISH_REASONS: dict[str, FinishReason] = {
    "stop": "stop", "length": "length", "content_filter": "content_filter"}


def _redact(url: str) -> str:
    """The URL without user:password, so it can appear in logs, errors and metadata."""
    parsed = httpx.URL(url)
    return str(parsed.copy_with(userinfo=b"")) if parsed.userinfo else url


class UpstreamEngine:
    """One configured model served by a remote OpenAI-compatible endpoint."""

    def __init__(self, config: ModelConfig,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        if config.backend != "upstream" or config.upstream is None:
            raise ValueError(f"model '{config.name}' is not configured with backend 'upstream'")
        self.model_name = config.name
        self._upstream: UpstreamConfig = config.upstream
        self._base_url = config.upstream.base_url.rstrip("/")
        self._public_url = _redact(self._base_url)
        self._upstream_model = config.upstream.model or config.name
        self._max_concurrency = config.engine_concurrency()
        # A transport can be injected to wrap the real one (fault injection, custom TLS).
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._ready = False
        self._inflight: dict[str, httpx.Response] = {}
        self._cancelled: set[str] = set()

    async def start(self) -> None:
        up = self._upstream
        # Bodies are small, so a slow write is a sick peer; waiting for a pooled connection
        # is waiting on other streams, so it gets the read budget.
        timeout = httpx.Timeout(connect=up.connect_timeout_s, read=up.read_timeout_s,
                                write=up.connect_timeout_s, pool=up.read_timeout_s)
        headers = {"Accept": "application/json"}
        if up.api_key is not None:
            headers["Authorization"] = f"Bearer {up.api_key.get_secret_value()}"
        # Admission bounds concurrent streams per model; the pool must not be a second,
        # hidden limit below it (+1 for the readiness probe).
        limits = httpx.Limits(max_connections=max(100, self._max_concurrency + 1))
        self._client = httpx.AsyncClient(timeout=timeout, headers=headers, limits=limits,
                                         transport=self._transport)
        # A down upstream must not stop the gateway from starting: /readyz reports it instead.
        if not await self.probe():
            log.warning("upstream %s is not reachable yet; model '%s' stays not ready",
                        self._public_url, self.model_name)

    async def close(self) -> None:
        for rid in list(self._inflight):
            await self.cancel(rid)  # open streams end as "cancelled", not as upstream errors
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        self._ready = False

    def is_ready(self) -> bool:
        return self._ready

    async def probe(self) -> bool:
        """Re-check `GET {base_url}/models` and update readiness; used by /readyz."""
        ready = False
        if self._client is not None:
            try:
                # /readyz must answer quickly, so the probe does not get the read budget.
                response = await self._client.get(f"{self._base_url}/models",
                                                  timeout=self._upstream.connect_timeout_s)
                ready = response.is_success
            except httpx.HTTPError as exc:
                log.info("upstream probe %s/models failed: %r", self._public_url, exc)
        self._ready = ready
        return ready

    def metadata(self) -> dict[str, Any]:
        return {"backend": "upstream", "upstream_base_url": self._public_url,
                "upstream_model": self._upstream_model}

    def count_prompt_tokens(self, request: GenerationRequest) -> int:
        """An estimate (about 4 characters a token, plus 4 tokens of framing per message).

        We cannot tokenize for a remote model; admission reserves with this number and the
        reservation is reconciled with the upstream's real usage when the stream finishes.
        """
        if request.messages is None:
            return math.ceil(len(request.prompt or "") / 4)
        chars = sum(len(_message_text(m)) for m in request.messages)
        return math.ceil(chars / 4) + 4 * len(request.messages)

    async def stream(self, request: GenerationRequest) -> AsyncGenerator[StreamEvent, None]:
        chat = request.messages is not None
        rid = request.request_id
        response = await self._open(chat, self._payload(request))
        self._inflight[rid] = response
        content_chunks = 0
        finish: str | None = None
        usage: Usage | None = None
        done = False
        try:
            async for data in self._sse_data(response, rid):
                if data == "[DONE]":
                    done = True
                    break
                chunk = self._decode(data)
                if isinstance(chunk.get("usage"), dict):
                    usage = _usage(chunk["usage"]) or usage
                choices = chunk.get("choices") or []
                if not choices:
                    continue
                choice = choices[0]
                text = (choice.get("delta") or {}).get("content") if chat else choice.get("text")
                if text:
                    content_chunks += 1
                    yield TextDelta(text)
                finish = choice.get("finish_reason") or finish
            cancelled = rid in self._cancelled
            if not (done or finish or cancelled):
                # llama_cpp.server fails this way when the prompt is too long while streaming:
                # 200, then the stream ends empty (its 400 comes only without streaming).
                raise UpstreamUnavailable(
                    f"upstream {self._public_url} ended the stream without finishing "
                    f"(no finish_reason, no [DONE]) after {content_chunks} chunk(s)"
                )
            source = "upstream"
            if usage is None:
                # Upstreams that ignore stream_options (llama_cpp.server does): one chunk is
                # about one token, and the prompt is estimated.
                source = "estimate"
                usage = Usage(self.count_prompt_tokens(request), content_chunks)
            reason: FinishReason = (
                "cancelled" if cancelled else _FINISH_REASONS.get(finish or "stop", "stop")
            )
            yield Finished(reason, usage,
                           {"upstream_finish_reason": finish, "usage_source": source})
        finally:
            # Also runs on aclose(): closing the response drops the connection, and that is
            # how vLLM and llama.cpp server learn to stop generating.
            self._inflight.pop(rid, None)
            self._cancelled.discard(rid)
            await response.aclose()

    async def cancel(self, request_id: str) -> None:
        response = self._inflight.get(request_id)
        if response is None:
            return
        self._cancelled.add(request_id)
        await response.aclose()

    def _payload(self, request: GenerationRequest) -> dict[str, Any]:
        s = request.sampling
        # top_k is not sent: OpenAI-compatible servers that do not know it reject the request.
        payload: dict[str, Any] = {
            "model": self._upstream_model, "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": s.max_tokens, "temperature": s.temperature, "top_p": s.top_p,
        }
        if request.messages is not None:
            payload["messages"] = list(request.messages)
        else:
            payload["prompt"] = request.prompt
        if s.seed is not None:
            payload["seed"] = s.seed
        if s.stop:
            payload["stop"] = list(s.stop)
        if request.json_schema is not None:
            # The upstream enforces it (vLLM, llama.cpp server: response_format).
            payload["response_format"] = {"type": "json_schema", "json_schema": {
                "name": "warden", "schema": request.json_schema, "strict": True}}
        if s.logit_bias:
            payload["logit_bias"] = {str(token): bias for token, bias in s.logit_bias}
        return payload

    async def _open(self, chat: bool, payload: dict[str, Any]) -> httpx.Response:
        """POST; return the response once its status says a stream follows, else raise.

        Only connect errors are retried: nothing reached the upstream, so a retry cannot
        generate twice."""
        if self._client is None:
            raise UpstreamUnavailable(f"upstream {self._public_url}: engine not started")
        url = f"{self._base_url}/{'chat/completions' if chat else 'completions'}"
        public = _redact(url)
        attempts = self._upstream.connect_retries + 1
        for attempt in range(1, attempts + 1):
            try:
                # No X-Request-Id: llama_cpp.server answers 400 to one that is not a UUID4.
                # traceparent: Warden's generation span (current here), never the caller's.
                request = self._client.build_request("POST", url, json=payload,
                                                     headers=outgoing_headers())
                response = await self._client.send(request, stream=True)
                break
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                if attempt == attempts:
                    self._ready = False
                    raise UpstreamUnavailable(
                        f"upstream {public} unreachable after {attempts} attempt(s): {exc!r}"
                    ) from exc
                log.info("connect to %s failed (%r), retry %d", public, exc, attempt)
                await asyncio.sleep(_RETRY_BACKOFF_S * attempt)
            except httpx.TimeoutException as exc:
                raise UpstreamTimeout(f"upstream {public} timed out: {exc!r}") from exc
            except httpx.HTTPError as exc:
                raise UpstreamUnavailable(f"upstream {public} failed: {exc!r}") from exc
        self._ready = response.status_code < 500
        if response.is_success:
            return response
        try:
            body = await _read_capped(response)
        except httpx.HTTPError:
            body = ""
        finally:
            await response.aclose()
        status = response.status_code
        if 400 <= status < 500:
            message, code = _parse_error(body)
            message = message or f"upstream rejected: {status}"
            if code == "context_length_exceeded" or (
                    status == 400 and "maximum context length" in message):
                raise PromptTooLong(message)  # same 400, but clients know this code
            raise UpstreamRejected(message, status)
        raise UpstreamUnavailable(
            f"upstream {public} answered {status}: {body[:_SNIPPET_CHARS].strip()}"
        )

    async def _sse_data(self, response: httpx.Response, rid: str) -> AsyncIterator[str]:
        """The `data` of each server-sent event; transport failures become EngineErrors."""
        lines: list[str] = []
        try:
            async for line in response.aiter_lines():
                if line == "":
                    if lines:
                        yield "\n".join(lines)
                        lines = []
                elif line.startswith("data:"):
                    lines.append(line[5:].removeprefix(" "))
                # Comments (":"), event:, id: and retry: carry nothing we use.
            if lines:
                yield "\n".join(lines)
        except httpx.TimeoutException as exc:
            if rid not in self._cancelled:
                raise UpstreamTimeout(f"upstream {self._public_url} stalled: {exc!r}") from exc
        except (httpx.HTTPError, httpx.StreamError) as exc:
            # After cancel() closed the response mid-read, the error is expected.
            if rid not in self._cancelled:
                raise UpstreamUnavailable(
                    f"upstream {self._public_url} broke the stream: {exc!r}"
                ) from exc

    def _decode(self, data: str) -> dict[str, Any]:
        try:
            chunk = json.loads(data)
        except json.JSONDecodeError as exc:
            raise UpstreamUnavailable(
                f"upstream {self._public_url} sent malformed SSE data: {data[:_SNIPPET_CHARS]!r}"
            ) from exc
        if not isinstance(chunk, dict):
            raise UpstreamUnavailable(f"upstream {self._public_url} sent non-object SSE data")
        if chunk.get("error"):
            # vLLM reports failures mid-stream as a data event carrying an error object.
            raise UpstreamUnavailable(
                f"upstream {self._public_url} failed mid-stream: {_parse_error(data)[0]}"
            )
        return chunk


def _message_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _usage(raw: dict[str, Any]) -> Usage | None:
    try:
        cached = (raw.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
        return Usage(int(raw["prompt_tokens"]), int(raw["completion_tokens"]), int(cached))
    except (KeyError, TypeError, ValueError):
        return None


async def _read_capped(response: httpx.Response) -> str:
    body = bytearray()
    async for part in response.aiter_bytes():
        body += part
        if len(body) >= _ERROR_BODY_LIMIT:  # an error page is never worth more
            break
    return body.decode("utf-8", errors="replace")


def _parse_error(body: str) -> tuple[str, str | None]:
    """(message, code) of an OpenAI-, vLLM-, TGI- or FastAPI-shaped error body."""
    try:
        parsed = json.loads(body)
    except json.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        return body[:_SNIPPET_CHARS].strip(), None
    error = parsed.get("error")
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"]), str(error.get("code") or "") or None
    text = next((str(parsed[k]) for k in ("error", "message", "detail") if parsed.get(k)), body)
    return text[:_SNIPPET_CHARS * 2].strip(), None
