"""An upstream that dies after the first token: the gateway answers 502 on both paths (JSON
and SSE) and never relays the upstream's own error text (it can hold URLs and tracebacks).

The upstream is a real `llama_cpp.server` process that the test kills with SIGKILL while it
is generating. EOS is banned with logit_bias so generation is still running when it dies.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.llama_server import start_llama_server
from tests.support.procs import stop_process
from tests.support.warden_server import WardenServer

pytestmark = pytest.mark.integration

# SmolLM2's end-of-generation tokens (<|endoftext|>, <|im_end|>): banned, so it keeps going.
NO_EOS = {"0": -100, "2": -100}
BODY = {"model": "fronted", "max_tokens": 1000, "temperature": 0, "logit_bias": NO_EOS,
        "messages": [{"role": "user", "content": "Count from one to one thousand in words."}]}


def _config(base_url: str) -> dict:
    return {"models": [{"name": "fronted", "backend": "upstream",
                        "upstream": {"base_url": base_url, "model": "smollm2-135m-instruct",
                                     "connect_timeout_s": 2, "read_timeout_s": 30}}],
            "tiers": {"default": {"max_tokens": 2048}}}


@pytest.fixture()
def fronted(tmp_path: Path) -> Iterator[tuple[WardenServer, str, object]]:
    proc, url = start_llama_server(tmp_path / "upstream.log")
    try:
        with WardenServer(_config(url)) as server:
            yield server, server.create_key("up"), proc
    finally:
        stop_process(proc)


def _no_upstream_detail(message: str) -> None:
    for leak in ("127.0.0.1", "broke the stream", "RemoteProtocolError", "http://",
                 "Traceback"):
        assert leak not in message, f"upstream detail {leak!r} relayed: {message}"


def test_streamed_request_gets_an_error_event_when_the_upstream_dies(fronted) -> None:
    server, key, proc = fronted
    events: list[dict] = []
    with server.client(key) as http, http.stream("POST", "/v1/chat/completions",
                                                  json={**BODY, "stream": True}) as response:
        assert response.status_code == 200
        killed = False
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            event = json.loads(line[6:])
            events.append(event)
            content = event.get("choices", [{}])[0].get("delta", {}).get("content") \
                if event.get("choices") else None
            if content and not killed:
                proc.kill()  # after the first token
                killed = True
    errors = [e["error"] for e in events if "error" in e]
    assert killed and len(errors) == 1, events[-3:]
    assert errors[0]["code"] == "upstream_unavailable"
    assert errors[0]["type"] == "upstream_error"
    _no_upstream_detail(errors[0]["message"])


def test_unstreamed_request_is_a_502_when_the_upstream_dies_mid_generation(fronted) -> None:
    server, key, proc = fronted

    # Kill once the upstream has streamed tokens to the gateway: its TTFT histogram counts it.
    def kill_after_first_token() -> None:
        deadline = time.monotonic() + 60
        with server.client(key) as http:
            while time.monotonic() < deadline:
                metrics = http.get("/metrics").text
                if any(line.startswith("warden_time_to_first_token_seconds_count")
                       and not line.rstrip().endswith(" 0.0") for line in metrics.splitlines()):
                    proc.kill()
                    return
                time.sleep(0.05)

    killer = threading.Thread(target=kill_after_first_token)
    killer.start()
    with server.client(key) as http:
        response = http.post("/v1/chat/completions", json=BODY)
    killer.join()
    assert proc.poll() is not None, "the upstream was never killed mid-generation"
    assert response.status_code == 502, response.text
    error = response.json()["error"]
    assert error["code"] == "upstream_unavailable" and error["type"] == "upstream_error"
    _no_upstream_detail(error["message"])
    assert response.headers["x-request-id"]
