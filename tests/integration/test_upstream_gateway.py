"""Warden fronting an OpenAI-compatible upstream (a real llama_cpp.server), through the same
API code path as the in-process engine."""

from __future__ import annotations

import openai
import pytest

from tests.support.procs import free_port
from tests.support.warden_server import WardenServer

pytestmark = pytest.mark.integration


def upstream_config(base_url: str) -> dict:
    return {"models": [{"name": "fronted", "backend": "upstream",
                        "upstream": {"base_url": base_url, "model": "smollm2-135m-instruct",
                                     "connect_timeout_s": 2, "read_timeout_s": 30,
                                     "api_key": "upstream-secret"}}]}


def test_openai_client_through_warden_to_upstream(llama_cpp_server: str) -> None:
    with WardenServer(upstream_config(llama_cpp_server)) as server:
        key = server.create_key("up")
        client = openai.OpenAI(base_url=f"{server.base_url}/v1", api_key=key, max_retries=0)
        assert [m.id for m in client.models.list().data] == ["fronted"]
        whole = client.chat.completions.create(
            model="fronted", messages=[{"role": "user", "content": "Say hi."}], max_tokens=12,
            temperature=0)
        assert whole.choices[0].message.content
        assert whole.usage.completion_tokens > 0
        chunks = list(client.chat.completions.create(
            model="fronted", messages=[{"role": "user", "content": "Say hi."}], max_tokens=12,
            temperature=0, stream=True))
        streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert streamed == whole.choices[0].message.content
        text = client.completions.create(model="fronted", prompt="1, 2, 3,", max_tokens=6,
                                         temperature=0).choices[0].text
        assert text
        meta = client.models.list().data[0].model_extra["meta"]
        assert meta["backend"] == "upstream" and "upstream-secret" not in str(meta)


def test_dead_upstream_maps_to_502_without_leaking_details() -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1"
    server = WardenServer(upstream_config(dead))
    server.start(wait_path="/healthz")  # /readyz stays 503: the upstream is dead
    try:
        key = server.create_key("dead")
        with server.client(key) as http:
            response = http.post("/v1/chat/completions", json={
                "model": "fronted", "messages": [{"role": "user", "content": "x"}]})
            ready = http.get("/readyz")
        assert response.status_code == 502
        error = response.json()["error"]
        assert error["code"] == "upstream_unavailable"
        assert "127.0.0.1" not in error["message"]
        assert ready.status_code == 503
        assert ready.json()["checks"]["model:fronted"] is False
        assert ready.headers["retry-after"]
    finally:
        server.stop()
