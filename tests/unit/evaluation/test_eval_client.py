"""The eval's HTTP client over httpx.MockTransport: retries after Retry-After on 429/503,
errors that say what to do, requests without the key, a trailing /v1 on --url."""

from __future__ import annotations

import httpx
import pytest

from warden.evaluation import client as client_module
from warden.evaluation.client import EndpointError, HttpEndpoint, WardenClient


def test_429_is_retried_after_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []
    monkeypatch.setattr(client_module.time, "sleep", waits.append)
    answers = iter([httpx.Response(429, headers={"retry-after": "2"}),
                    httpx.Response(503, headers={"retry-after": "0.1"}),
                    httpx.Response(200, json={"ok": True})])
    with HttpEndpoint("http://x", "k", transport=httpx.MockTransport(
            lambda r: next(answers))) as http:
        assert http.call("GET", "/v1/models") == {"ok": True}
    assert waits == [2.0, 0.5]  # at least half a second between tries


def test_retries_are_bounded_and_the_error_says_what_to_do(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_module.time, "sleep", lambda s: None)
    body = {"error": {"message": "Rate limit", "code": "rate_limit_requests"}}
    with HttpEndpoint("http://x", "k", retries=2, transport=httpx.MockTransport(
            lambda r: httpx.Response(429, json=body))) as http:
        with pytest.raises(EndpointError, match=r"rate_limit_requests.*--tier pro") as caught:
            http.call("POST", "/v1/chat/completions", json={})
    assert caught.value.status == 429


def test_401_and_unreachable_messages() -> None:
    body = {"error": {"message": "Invalid API key", "code": "invalid_api_key"}}
    with HttpEndpoint("http://x", "k", transport=httpx.MockTransport(
            lambda r: httpx.Response(401, json=body))) as http:
        with pytest.raises(EndpointError, match=r"check --key"):
            http.call("GET", "/v1/models")

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with HttpEndpoint("http://x", "k", transport=httpx.MockTransport(refuse)) as http:
        with pytest.raises(EndpointError, match=r"cannot reach http://x.*Check --url"):
            http.call("GET", "/v1/models")


def test_auth_false_sends_no_key_and_v1_suffix_is_dropped() -> None:
    seen: list[str | None] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        return httpx.Response(200, json={"status": "ready"})

    with WardenClient("http://x/v1/", "wk_secret", transport=httpx.MockTransport(record)) as c:
        assert c.url == "http://x"
        status, body = c.readyz()
        c.http.call("GET", "/v1/models")
    assert status == 200 and body == {"status": "ready"}
    assert seen == [None, "Bearer wk_secret"]


def test_a_missing_corpus_is_none_not_an_error() -> None:
    with WardenClient("http://x", "k", transport=httpx.MockTransport(
            lambda r: httpx.Response(404, json={"error": {"message": "no"}}))) as c:
        assert c.corpus("docs") is None
