"""Client disconnects cancel generation; SIGTERM drains open streams before exiting."""

from __future__ import annotations

import json
import re
import threading
import time

import httpx
import pytest

from tests.support.warden_server import MODEL, WardenServer

pytestmark = pytest.mark.integration

LONG = {"model": MODEL, "prompt": "Count from 1 to 500: 1, 2, 3,", "max_tokens": 400,
        "temperature": 0, "stream": True}


def metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_client_disconnect_cancels_generation(warden) -> None:
    with warden.server.client(warden.user_key) as http:
        before = http.get("/metrics").text
        with http.stream("POST", "/v1/completions", json=LONG) as response:
            for line in response.iter_lines():
                if line.startswith("data: "):
                    break  # one token received; now hang up
        # The engine slot is free again: the next request is served.
        quick = http.post("/v1/completions", json={"model": MODEL, "prompt": "Hi",
                                                   "max_tokens": 2})
        assert quick.status_code == 200
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            after = http.get("/metrics").text
            cancelled = metric(after, "warden_generations_total", finish_reason="cancelled") - \
                metric(before, "warden_generations_total", finish_reason="cancelled")
            if cancelled >= 1:
                break
            time.sleep(0.2)
    assert cancelled == 1
    generated = metric(after, "warden_tokens_total", direction="completion") - \
        metric(before, "warden_tokens_total", direction="completion")
    # 400 were asked for; the hang-up stopped the engine long before that.
    assert generated < 200
    assert metric(after, "warden_inflight_requests") == 0


def test_sigterm_drains_open_streams_then_exits() -> None:
    server = WardenServer({"server": {"drain_timeout_s": 60}})
    server.start()
    key = server.create_key("drain")
    events: list[str] = []
    opened = threading.Event()

    def consume() -> None:
        with httpx.Client(base_url=server.base_url, timeout=60,
                          headers={"authorization": f"Bearer {key}"}) as http:
            with http.stream("POST", "/v1/completions",
                             json={**LONG, "max_tokens": 120}) as response:
                for line in response.iter_lines():
                    if line.startswith("data: "):
                        events.append(line[6:])
                        opened.set()

    reader = threading.Thread(target=consume)
    reader.start()
    try:
        assert opened.wait(30)
        server.terminate()
        time.sleep(0.5)
        with pytest.raises(httpx.HTTPError):  # no new work is accepted while draining
            httpx.get(f"{server.base_url}/healthz", timeout=2)
        reader.join(60)
        assert server.proc is not None
        # uvicorn re-raises the caught SIGTERM after its graceful shutdown, as a process
        # manager expects: exit by signal 15, after the drain.
        assert server.proc.wait(30) in (0, -15)
    finally:
        server.stop()
    assert events[-1] == "[DONE]"
    final = json.loads(events[-2])
    assert final["choices"][0]["finish_reason"] in ("length", "stop")
    texts = "".join(json.loads(e)["choices"][0]["text"] for e in events[:-1])
    assert len(re.findall(r"\d+", texts)) > 10  # the stream ran to its end, not cut off
