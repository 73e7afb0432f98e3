"""The native /v1/generate endpoint over plain HTTP."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.integration


def test_generate_with_prompt(warden) -> None:
    with warden.server.client(warden.user_key) as http:
        response = http.post("/v1/generate", json={"prompt": "Once upon a time", "max_tokens": 12,
                                                   "temperature": 0, "seed": 7})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["text"]
    assert body["finish_reason"] in ("stop", "length")
    assert body["usage"]["completion_tokens"] <= 12
    assert body["model"] == "smollm2-135m-instruct"
    assert body["request_id"] == response.headers["x-request-id"] == body["id"]
    assert body["timings"]["total_ms"] > 0 and body["timings"]["ttft_ms"] > 0


def test_generate_with_messages_and_stop(warden) -> None:
    with warden.server.client(warden.user_key) as http:
        body = http.post("/v1/generate", json={
            "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 20,
            "temperature": 0, "stop": ["\n"]}).json()
    assert "\n" not in body["text"]


def test_generate_stream(warden) -> None:
    events = []
    with warden.server.client(warden.user_key) as http:
        # Greedy, so the run is repeatable. This checks the SSE framing, which holds for any
        # end: the shared server's output guard cuts this continuation ("a canvas of endless
        # possibilities, where every" scores 0.91 toxicity: a known false positive of the
        # toxicity head on sentence fragments, issue 12), so content_filter is allowed.
        with http.stream("POST", "/v1/generate", json={"prompt": "The sky is", "max_tokens": 8,
                                                       "temperature": 0,
                                                       "stream": True}) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            for line in response.iter_lines():
                if line.startswith("data: "):
                    events.append(line[len("data: "):])
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert chunks[-1]["finish_reason"] in ("stop", "length", "content_filter")
    assert chunks[-1]["usage"]["completion_tokens"] <= 8
    assert all(c["finish_reason"] is None for c in chunks[:-1])


@pytest.mark.parametrize("body,param", [
    ({"max_tokens": 5}, None),
    ({"prompt": "x", "messages": [{"role": "user", "content": "y"}]}, None),
    ({"prompt": "x", "top_k": -1}, "top_k"),
    ({"prompt": "x", "stop": ["a", "b", "c", "d", "e"]}, "stop"),
    ({"prompt": "x", "max_tokens": 0}, "max_tokens"),
    ({"prompt": 5}, "prompt"),
])
def test_generate_validation_names_the_field(warden, body, param) -> None:
    with warden.server.client(warden.user_key) as http:
        response = http.post("/v1/generate", json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    if param:
        assert error["param"] == param
        assert param in error["message"]


def test_generation_past_l_switch_says_the_fallback_engaged() -> None:
    from tests.support.warden_server import WardenServer

    config = {"models": [{"name": "smollm2-135m-instruct", "n_ctx": 256, "l_switch": 64,
                          "max_batch": 2}]}
    with WardenServer(config) as server:
        key = server.create_key("long")
        with server.client(key) as http:
            body = http.post("/v1/generate", json={
                "prompt": "Count from 1 to 1000: 1, 2, 3,", "max_tokens": 200,
                "temperature": 0}).json()
            short = http.post("/v1/generate", json={"prompt": "Hi", "max_tokens": 4}).json()
            models = http.get("/v1/models").json()["data"][0]["meta"]
    assert body["usage"]["completion_tokens"] == 200
    assert body["long_context_fallback"] is True
    assert short["long_context_fallback"] is False
    assert models["l_switch"] == 64 and models["scheduler"] == "continuous-batching"
    assert models["kv_bytes_per_layer_per_4k_tokens"] > 0
