"""Auth on every route, the OpenAI error shape, request ids, and body limits."""

from __future__ import annotations

import httpx
import pytest

from tests.support.warden_server import MODEL

pytestmark = pytest.mark.integration

OPEN_ROUTES = {"/healthz", "/readyz"}


def routes(warden) -> list[tuple[str, str]]:
    with warden.server.client(warden.admin_key) as http:
        spec = http.get("/openapi.json").json()
    found = [(method.upper(), path) for path, item in spec["paths"].items() for method in item]
    found.append(("GET", "/openapi.json"))
    return found


def concrete(path: str) -> str:
    return path.replace("{key_id}", "abc123").replace("{incident_id}", "inc_nope")


def test_openapi_lists_the_contract_routes(warden) -> None:
    paths = {p for _, p in routes(warden)}
    assert {"/v1/chat/completions", "/v1/completions", "/v1/models", "/v1/generate",
            "/healthz", "/readyz", "/metrics", "/admin/keys"} <= paths


def test_every_route_but_probes_needs_a_key(warden) -> None:
    checked = 0
    with httpx.Client(base_url=warden.base_url) as http:
        for method, path in routes(warden):
            response = http.request(method, concrete(path), json={})
            if path in OPEN_ROUTES:
                assert response.status_code == 200, (method, path)
                continue
            assert response.status_code == 401, (method, path, response.status_code)
            assert response.json()["error"]["code"] == "missing_api_key"
            assert response.headers["www-authenticate"] == "Bearer"
            bad = http.request(method, concrete(path), json={},
                               headers={"authorization": "Bearer wk_0000_bad"})
            assert bad.status_code == 401, (method, path)
            checked += 1
    assert checked >= 7


def test_admin_routes_refuse_user_keys(warden) -> None:
    with warden.server.client(warden.user_key) as http:
        for method, path in routes(warden):
            if path.startswith("/admin"):
                response = http.request(method, concrete(path), json={"name": "x"})
                assert response.status_code == 403, (method, path)
                assert response.json()["error"]["type"] == "permission_error"


def test_admin_key_lifecycle_over_http(warden) -> None:
    with warden.server.client(warden.admin_key) as admin:
        created = admin.post("/admin/keys", json={"name": "temp", "tier": "default"})
        assert created.status_code == 201, created.text
        secret, key_id = created.json()["key"], created.json()["id"]
        listed = admin.get("/admin/keys").json()["data"]
        assert any(k["id"] == key_id and k["status"] == "active" for k in listed)
        assert all("key" not in k and "secret_hash" not in k for k in listed)
        with warden.server.client(secret) as user:
            assert user.get("/v1/models").status_code == 200
            assert admin.post(f"/admin/keys/{key_id}/revoke").json()["status"] == "revoked"
            assert user.get("/v1/models").status_code == 401
        assert admin.post("/admin/keys/nope/revoke").status_code == 404
        bad_tier = admin.post("/admin/keys", json={"name": "x", "tier": "platinum"})
        assert bad_tier.status_code == 400 and bad_tier.json()["error"]["param"] == "tier"
        verified = admin.get("/admin/audit/verify").json()
        assert verified["intact"] and verified["records"] >= 2


def test_every_response_has_a_request_id_and_errors_have_the_openai_shape(warden) -> None:
    cases = [
        ("GET", "/healthz", None, None, 200),
        ("GET", "/nope", None, warden.user_key, 404),
        ("POST", "/v1/chat/completions", b"{not json", warden.user_key, 400),
        ("POST", "/v1/chat/completions", b"[]", warden.user_key, 400),
        ("POST", "/v1/chat/completions", b'{"model": "x"}', warden.user_key, 400),
        ("GET", "/v1/chat/completions", None, warden.user_key, 405),
    ]
    with httpx.Client(base_url=warden.base_url) as http:
        for method, path, body, key, status in cases:
            headers = {"content-type": "application/json"}
            if key:
                headers["authorization"] = f"Bearer {key}"
            response = http.request(method, path, content=body, headers=headers)
            assert response.status_code == status, (path, response.text)
            assert response.headers["x-request-id"].startswith("req_")
            if status >= 400:
                error = response.json()["error"]
                assert set(error) == {"message", "type", "param", "code"}
        echoed = http.get("/healthz", headers={"x-request-id": "trace-abc.123"})
        assert echoed.headers["x-request-id"] == "trace-abc.123"
        unsafe = http.get("/healthz", headers={"x-request-id": "bad id\twith spaces"})
        assert unsafe.headers["x-request-id"].startswith("req_")


def test_missing_field_and_wrong_type_name_the_field(warden) -> None:
    with warden.server.client(warden.user_key) as http:
        missing = http.post("/v1/chat/completions", json={"model": MODEL})
        assert missing.json()["error"]["param"] == "messages"
        assert "messages: field required" in missing.json()["error"]["message"]
        wrong = http.post("/v1/chat/completions", json={
            "model": MODEL, "messages": [{"role": "wizard", "content": "x"}]})
        assert wrong.json()["error"]["param"] == "messages.0.role"
        n2 = http.post("/v1/chat/completions", json={
            "model": MODEL, "messages": [{"role": "user", "content": "x"}], "n": 2})
        assert n2.status_code == 400 and "n=1" in n2.json()["error"]["message"]


def test_oversized_bodies_get_413(warden) -> None:
    big = b'{"model": "m", "prompt": "' + b"a" * 1_100_000 + b'"}'
    with warden.server.client(warden.user_key) as http:
        declared = http.post("/v1/completions", content=big,
                             headers={"content-type": "application/json"})
        assert declared.status_code == 413
        assert declared.json()["error"]["code"] == "request_too_large"

        def chunks():  # no Content-Length: the limit must be enforced while reading
            for i in range(0, len(big), 65536):
                yield big[i:i + 65536]

        streamed = http.post("/v1/completions", content=chunks(),
                             headers={"content-type": "application/json"})
        assert streamed.status_code == 413
        assert "x-request-id" in streamed.headers


def test_prompt_longer_than_context_is_a_clear_400(warden) -> None:
    with warden.server.client(warden.user_key) as http:
        response = http.post("/v1/completions", json={
            "model": MODEL, "prompt": "hello " * 3000, "max_tokens": 4})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "context_length_exceeded"


def test_metrics_are_exposed_with_bounded_labels(warden) -> None:
    with warden.server.client(warden.user_key) as http:
        # Enough tokens for several released deltas: the output guard may release a short
        # answer as one checked segment, and inter-token latency needs at least two.
        http.post("/v1/completions", json={"model": MODEL, "prompt": "secret-prompt-text",
                                           "max_tokens": 48, "temperature": 0,
                                           "stop": None})
        text = http.get("/metrics").text
    for name in ("warden_requests_total", "warden_request_duration_seconds_bucket",
                 "warden_time_to_first_token_seconds_bucket",
                 "warden_inter_token_latency_seconds_bucket", "warden_tokens_total",
                 "warden_queue_depth", "warden_rate_limit_rejections_total"):
        assert name in text, name
    assert 'route="/v1/completions"' in text
    assert "secret-prompt-text" not in text
    assert warden.user_key not in text and warden.user_key.split("_")[1] not in text
