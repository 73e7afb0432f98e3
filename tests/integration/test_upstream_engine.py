"""UpstreamEngine against a real llama.cpp server (llama_cpp.server on the built-in SmolLM2).

Faults a healthy server never produces (5xx, stalls, malformed SSE) come from a small local
fake; each test that uses it says so.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.support.procs import free_port
from warden.config import ModelConfig, UpstreamConfig
from warden.engine.base import (
    Engine,
    Finished,
    GenerationRequest,
    PromptTooLong,
    SamplingParams,
    StreamEvent,
    TextDelta,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
    Usage,
)
from warden.engine.upstream import UpstreamEngine

pytestmark = pytest.mark.integration

T = TypeVar("T")
MODEL = "smollm2-135m-instruct"
CHAT = ({"role": "user", "content": "Name three colors."},)


class RecordingTransport(httpx.AsyncBaseTransport):
    """The real transport, counting and keeping every request it is asked to send."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def make_engine(base_url: str, transport: httpx.AsyncBaseTransport | None = None,
                **upstream: Any) -> UpstreamEngine:
    config = ModelConfig(name=MODEL, backend="upstream",
                         upstream=UpstreamConfig(base_url=base_url, **upstream))
    return UpstreamEngine(config, transport=transport)


def request(rid: str = "req-1", *, prompt: str | None = None, chat: bool = True,
            **sampling: Any) -> GenerationRequest:
    sampling.setdefault("max_tokens", 24)
    sampling.setdefault("temperature", 0.0)
    return GenerationRequest(
        request_id=rid, model=MODEL, sampling=SamplingParams(**sampling),
        prompt=prompt if not chat else None, messages=CHAT if chat else None,
    )


def with_engine(engine: UpstreamEngine, body: Callable[[UpstreamEngine], Awaitable[T]]) -> T:
    """Run `body` on a started engine in a fresh event loop, closing the engine after."""
    async def main() -> T:
        await engine.start()
        try:
            return await body(engine)
        finally:
            await engine.close()
    return asyncio.run(main())


async def collect(engine: UpstreamEngine, req: GenerationRequest) -> list[StreamEvent]:
    return [event async for event in engine.stream(req)]


def text_of(events: list[StreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def assert_well_formed(events: list[StreamEvent]) -> Finished:
    """Deltas only, then exactly one Finished, last."""
    assert events and isinstance(events[-1], Finished)
    assert all(isinstance(e, TextDelta) and e.text for e in events[:-1])
    return events[-1]


# -- against the real llama.cpp server --------------------------------------------------


def test_start_probes_ready_and_metadata_hides_key(llama_cpp_server: str) -> None:
    engine = make_engine(llama_cpp_server, api_key="sk-secret-123")
    assert isinstance(engine, Engine)

    async def body(e: UpstreamEngine) -> bool:
        return e.is_ready() and await e.probe()

    assert with_engine(engine, body)
    meta = engine.metadata()
    assert meta == {"backend": "upstream", "upstream_base_url": llama_cpp_server,
                    "upstream_model": MODEL}
    assert "sk-secret-123" not in json.dumps(meta)
    assert not engine.is_ready()  # closed


def test_chat_stream_yields_deltas_then_one_finished_with_real_usage(
        llama_cpp_server: str) -> None:
    transport = RecordingTransport()
    engine = make_engine(llama_cpp_server, transport=transport, api_key="sk-secret-123")
    events = with_engine(engine, lambda e: collect(e, request(max_tokens=16)))

    finished = assert_well_formed(events)
    assert len(events) > 1 and text_of(events).strip()
    assert finished.finish_reason in ("stop", "length")
    # llama_cpp.server 0.3.36 sends no usage while streaming (it ignores stream_options), so
    # this is the fallback: one token per content chunk, the prompt estimated. The parsing of
    # a real usage chunk is tested against the fake below (vLLM's shape).
    assert finished.extra["usage_source"] == "estimate"
    assert finished.usage.completion_tokens == len(events) - 1 <= 16
    assert finished.usage.prompt_tokens == 4 + 5  # 4 per message + ceil(18 chars / 4)
    sent = transport.requests[-1]
    assert sent.url.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == "Bearer sk-secret-123"
    payload = json.loads(sent.content)
    assert payload["stream"] is True and payload["stream_options"] == {"include_usage": True}
    assert payload["model"] == MODEL and payload["messages"] == list(CHAT)


def test_length_finish_when_max_tokens_runs_out(llama_cpp_server: str) -> None:
    events = with_engine(make_engine(llama_cpp_server),
                         lambda e: collect(e, request(max_tokens=3)))
    finished = assert_well_formed(events)
    assert finished.finish_reason == "length"
    assert 0 < finished.usage.completion_tokens <= 3


def test_completions_path(llama_cpp_server: str) -> None:
    transport = RecordingTransport()
    engine = make_engine(llama_cpp_server, transport=transport)
    req = request(chat=False, prompt="The capital of France is", max_tokens=8)
    events = with_engine(engine, lambda e: collect(e, req))

    finished = assert_well_formed(events)
    assert text_of(events).strip()
    assert transport.requests[-1].url.path == "/v1/completions"
    assert json.loads(transport.requests[-1].content)["prompt"] == "The capital of France is"
    assert 0 < finished.usage.completion_tokens <= 8 and finished.usage.prompt_tokens > 0


def test_temperature_zero_is_deterministic(llama_cpp_server: str) -> None:
    async def twice(e: UpstreamEngine) -> tuple[str, str]:
        first = await collect(e, request("a", max_tokens=20))
        second = await collect(e, request("b", max_tokens=20))
        return text_of(first), text_of(second)

    first, second = with_engine(make_engine(llama_cpp_server), twice)
    assert first and first == second


def test_stop_strings_are_applied_by_the_upstream(llama_cpp_server: str) -> None:
    """Generate once, then stop on a word from the middle of that same (greedy) output."""
    async def body(e: UpstreamEngine) -> tuple[str, list[StreamEvent]]:
        free = text_of(await collect(e, request("free", max_tokens=40)))
        words = [w for w in free.split() if w.isalpha() and len(w) > 3]
        assert len(words) >= 2, free
        stop = words[1]  # not the first word, so some text comes before the stop
        return free[:free.index(stop)], await collect(e, request("stop", max_tokens=40,
                                                                stop=(stop,)))

    expected_prefix, events = with_engine(make_engine(llama_cpp_server), body)
    finished = assert_well_formed(events)
    assert finished.finish_reason == "stop"
    assert text_of(events) == expected_prefix


async def wait_for_text(path: Path, text: str, count: int, timeout: float = 15.0) -> bool:
    """True once `text` occurs at least `count` times in the file."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.read_text(errors="replace").count(text) >= count:
            return True
        await asyncio.sleep(0.1)
    return False


def test_cancel_mid_stream_ends_early_with_cancelled(llama_cpp_server: str) -> None:
    async def body(e: UpstreamEngine) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        async for event in e.stream(request("cancel-me", max_tokens=200)):
            events.append(event)
            if len(events) == 3:
                await e.cancel("cancel-me")
        assert "cancel-me" not in e._inflight
        return events

    events = with_engine(make_engine(llama_cpp_server), body)
    finished = assert_well_formed(events)
    assert finished.finish_reason == "cancelled"
    assert finished.usage.completion_tokens < 200
    assert len(events) < 20


def test_cancel_from_another_task_unblocks_a_pending_read(
        llama_cpp_server: str, llama_cpp_server_log: Path) -> None:
    """How the API cancels: a disconnect watcher, not the consumer, calls cancel(). The
    server's "Disconnected from client" line shows the upstream stopped too."""
    marker = "Disconnected from client"
    seen_before = llama_cpp_server_log.read_text(errors="replace").count(marker)

    async def body(e: UpstreamEngine) -> list[StreamEvent]:
        events: list[StreamEvent] = []

        async def consume() -> None:
            async for event in e.stream(request("watch-me", max_tokens=500)):
                events.append(event)

        consumer = asyncio.create_task(consume())
        while not events and not consumer.done():
            await asyncio.sleep(0.005)
        assert events, consumer.exception()
        await e.cancel("watch-me")
        await asyncio.wait_for(consumer, timeout=10)
        assert await wait_for_text(llama_cpp_server_log, marker, seen_before + 1)
        return events

    events = with_engine(make_engine(llama_cpp_server), body)
    finished = assert_well_formed(events)
    assert finished.finish_reason == "cancelled"
    assert finished.usage.completion_tokens < 500


def test_aclose_closes_the_upstream_response_and_the_upstream_stops(
        llama_cpp_server: str, llama_cpp_server_log: Path) -> None:
    """llama_cpp.server prints "Disconnected from client" when it stops generating for a
    client that went away: that line is the evidence the upstream stopped. We wait for it
    while the engine (and its connection pool) is still open, so only aclose() can cause it."""
    marker = "Disconnected from client"
    seen_before = llama_cpp_server_log.read_text(errors="replace").count(marker)

    async def body(e: UpstreamEngine) -> tuple[int, bool, bool]:
        stream = e.stream(request("drop-me", chat=False, prompt="1, 2, 3, 4, 5,",
                                  max_tokens=1000))
        deltas = 0
        async for event in stream:
            assert isinstance(event, TextDelta)
            deltas += 1
            if deltas == 2:
                break
        response = e._inflight["drop-me"]
        await stream.aclose()
        closed = response.is_closed and "drop-me" not in e._inflight
        return deltas, closed, await wait_for_text(llama_cpp_server_log, marker,
                                                   seen_before + 1)

    deltas, closed, upstream_stopped = with_engine(make_engine(llama_cpp_server), body)
    assert deltas == 2 and closed
    assert upstream_stopped


def test_metadata_drops_credentials_from_the_url() -> None:
    engine = make_engine("http://user:hunter2@vllm.internal:8000/v1/", api_key="sk-x")
    assert engine.metadata()["upstream_base_url"] == "http://vllm.internal:8000/v1"
    assert "hunter2" not in json.dumps(engine.metadata())


def test_prompt_token_estimate() -> None:
    engine = make_engine("http://127.0.0.1:9/v1")
    chat = engine.count_prompt_tokens(request())
    plain = engine.count_prompt_tokens(request(chat=False, prompt="x" * 9))
    assert chat == 4 + 5  # "Name three colors." is 18 chars
    assert plain == 3


@pytest.mark.parametrize("chat", [True, False], ids=["chat", "completions"])
def test_prompt_over_the_upstream_context_fails_before_any_event(llama_cpp_server: str,
                                                                chat: bool) -> None:
    """n_ctx is 2048. While streaming, llama_cpp.server answers 200 and then ends the stream
    empty (its 400 context_length_exceeded comes only without streaming), so all we can say
    is that the upstream failed: 502, before any event. The vLLM-style 400 is tested below."""
    long_text = "apple banana cherry " * 1200
    req = GenerationRequest(
        request_id="long", model=MODEL, sampling=SamplingParams(max_tokens=8),
        prompt=None if chat else long_text,
        messages=({"role": "user", "content": long_text},) if chat else None,
    )
    events: list[StreamEvent] = []

    async def body(e: UpstreamEngine) -> None:
        async for event in e.stream(req):
            events.append(event)

    with pytest.raises(UpstreamUnavailable) as info:
        with_engine(make_engine(llama_cpp_server), body)
    assert events == []
    assert "without finishing" in str(info.value)


def test_upstream_404_keeps_its_status(llama_cpp_server: str) -> None:
    """A base URL whose routes do not exist: the real server's 404 passes through."""
    wrong = llama_cpp_server.removesuffix("/v1") + "/v9"

    with pytest.raises(UpstreamRejected) as info:
        with_engine(make_engine(wrong), lambda e: collect(e, request()))
    assert info.value.status_code == 404
    assert str(info.value)


# -- dead upstream ------------------------------------------------------------------------


def test_dead_upstream_is_retried_then_unavailable() -> None:
    """Nobody listens on the port. The recording transport only counts connect attempts."""
    base_url = f"http://127.0.0.1:{free_port()}/v1"
    transport = RecordingTransport()
    engine = make_engine(base_url, transport=transport, connect_retries=2)

    async def body(e: UpstreamEngine) -> float:
        assert not e.is_ready()  # start() did not raise
        attempts_at_start = len(transport.requests)
        began = time.monotonic()
        with pytest.raises(UpstreamUnavailable) as info:
            await collect(e, request())
        assert base_url in str(info.value)
        assert len(transport.requests) - attempts_at_start == 3  # 1 try + 2 retries
        return time.monotonic() - began

    elapsed = with_engine(engine, body)
    assert elapsed >= 0.2 + 0.4  # the backoff between attempts
    assert UpstreamUnavailable.status_code == 502


# -- faults from a local fake (a healthy llama.cpp server does not produce these) --------


class FakeUpstream(BaseHTTPRequestHandler):
    """Answers by the first path segment: /<fault>/v1/... (GET /models always 200)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._send(200, b'{"object":"list","data":[]}', "application/json")

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        fault = self.path.split("/")[1]
        if fault == "500":
            self._send(500, b"CUDA out of memory on worker 3", "text/plain")
        elif fault == "400":
            body = {"error": {"message": "max_tokens is too large", "type": "invalid_request",
                              "param": "max_tokens", "code": None}}
            self._send(400, json.dumps(body).encode(), "application/json")
        elif fault == "400-context":
            body = {"object": "error", "type": "BadRequestError", "param": None, "code": 400,
                    "message": "This model's maximum context length is 2048 tokens. However, "
                               "you requested 3609 tokens (3601 in the messages, 8 in the "
                               "completion). Please reduce the length of the messages."}
            self._send(400, json.dumps(body).encode(), "application/json")
        elif fault == "slow-headers":
            time.sleep(2)
            self._send(200, b"data: [DONE]\n\n", "text/event-stream")
        else:
            self._stream(fault)

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _stream(self, fault: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        chunk = {"choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}]}
        self.wfile.write(b": keep-alive comment\n\n")
        for _ in range(3):
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        self.wfile.flush()
        if fault == "stall":
            time.sleep(2)
        elif fault == "truncated":
            pass  # the connection closes without a finish_reason or [DONE]
        elif fault == "malformed":
            self.wfile.write(b"data: {not json\n\n")
        elif fault == "vllm-usage":
            done = {"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]}
            usage = {"choices": [], "usage": {"prompt_tokens": 31, "completion_tokens": 3,
                                              "total_tokens": 34,
                                              "prompt_tokens_details": {"cached_tokens": 16}}}
            self.wfile.write(f"data: {json.dumps(done)}\n\ndata: {json.dumps(usage)}\n\n"
                             "data: [DONE]\n\n".encode())
        elif fault == "no-usage":
            done = {"choices": [{"index": 0, "delta": {}, "finish_reason": "eos_token"}]}
            self.wfile.write(f"data: {json.dumps(done)}\n\ndata: [DONE]\n\n".encode())
        self.wfile.flush()
        self.close_connection = True


@pytest.fixture(scope="module")
def fake_upstream() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), FakeUpstream)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def run_fake(base: str, fault: str, read_timeout_s: float = 5.0,
             ) -> tuple[list[StreamEvent], BaseException | None]:
    """Events received before the failure, and the failure."""
    events: list[StreamEvent] = []

    async def body(e: UpstreamEngine) -> BaseException | None:
        try:
            async for event in e.stream(request()):
                events.append(event)
        except Exception as exc:
            return exc
        return None

    engine = make_engine(f"{base}/{fault}/v1", read_timeout_s=read_timeout_s)
    return events, with_engine(engine, body)


def test_upstream_5xx_becomes_502_before_any_event(fake_upstream: str) -> None:
    """Fault injection: the local fake answers 500."""
    events, error = run_fake(fake_upstream, "500")
    assert events == []
    assert isinstance(error, UpstreamUnavailable) and error.status_code == 502
    assert "500" in str(error) and "CUDA out of memory" in str(error)


def test_upstream_400_passes_through_with_its_message(fake_upstream: str) -> None:
    """Fault injection: the local fake answers an OpenAI-shaped 400."""
    events, error = run_fake(fake_upstream, "400")
    assert events == []
    assert isinstance(error, UpstreamRejected) and error.status_code == 400
    assert str(error) == "max_tokens is too large"


def test_upstream_context_400_becomes_prompt_too_long(fake_upstream: str) -> None:
    """Fault injection: the local fake answers the 400 vLLM gives for an over-long prompt."""
    events, error = run_fake(fake_upstream, "400-context")
    assert events == []
    assert isinstance(error, PromptTooLong) and error.status_code == 400
    assert "maximum context length is 2048" in str(error)


def test_stream_cut_short_becomes_502(fake_upstream: str) -> None:
    """Fault injection: the local fake closes the stream after three chunks, unfinished."""
    events, error = run_fake(fake_upstream, "truncated")
    assert len(events) == 3
    assert isinstance(error, UpstreamUnavailable) and "without finishing" in str(error)


def test_read_timeout_before_headers_becomes_504(fake_upstream: str) -> None:
    """Fault injection: the local fake waits 2 s before answering; read timeout is 0.3 s."""
    events, error = run_fake(fake_upstream, "slow-headers", read_timeout_s=0.3)
    assert events == []
    assert isinstance(error, UpstreamTimeout) and error.status_code == 504


def test_stall_mid_stream_becomes_504(fake_upstream: str) -> None:
    """Fault injection: the local fake sends three chunks, then goes silent for 2 s."""
    events, error = run_fake(fake_upstream, "stall", read_timeout_s=0.3)
    assert [e for e in events if isinstance(e, TextDelta)] == [TextDelta("Hi")] * 3
    assert isinstance(error, UpstreamTimeout)


def test_malformed_sse_becomes_502(fake_upstream: str) -> None:
    """Fault injection: the local fake sends a data line that is not JSON."""
    events, error = run_fake(fake_upstream, "malformed")
    assert len(events) == 3
    assert isinstance(error, UpstreamUnavailable) and "malformed" in str(error)


def test_without_usage_chunk_counts_chunks_and_estimates_prompt(fake_upstream: str) -> None:
    """Fault injection: the local fake ignores stream_options and sends no usage chunk."""
    events, error = run_fake(fake_upstream, "no-usage")
    assert error is None
    finished = assert_well_formed(events)
    assert finished.finish_reason == "stop"  # "eos_token" is not one of ours
    assert finished.usage.completion_tokens == 3
    assert finished.usage.prompt_tokens == 4 + 5


def test_usage_chunk_is_used_when_the_upstream_sends_one(fake_upstream: str) -> None:
    """Not a fault: llama_cpp.server never streams usage, so the fake plays vLLM here,
    sending the final `choices: []` chunk that `stream_options.include_usage` asks for."""
    events, error = run_fake(fake_upstream, "vllm-usage")
    assert error is None
    finished = assert_well_formed(events)
    assert finished.finish_reason == "length"
    assert finished.extra["usage_source"] == "upstream"
    assert finished.usage == Usage(prompt_tokens=31, completion_tokens=3, cached_tokens=16)
