"""The current policy engine: caller's decision, rules, and an OPA-shaped HTTP engine tested
against a tiny real HTTP server speaking OPA's data API."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from tests.unit.policy.helpers import situation

from warden.config.advisory import OpaConfig
from warden.policy.current import CurrentEngine, OpaEngine, OpaError, opa_result_decision
from warden.policy.decision import Decision
from warden.policy.rules import load_rules


class FakeOpa:
    """POST /v1/data/<path> {"input": ...} -> {"result": ...}, like OPA's data API."""

    def __init__(self) -> None:
        self.answers: dict[str, tuple[int, Any]] = {}
        self.inputs: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                outer.inputs.append(body)
                status, answer = outer.answers.get(self.path, (404, {"code": "not_found"}))
                payload = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture()
def opa() -> Iterator[FakeOpa]:
    server = FakeOpa()
    yield server
    server.server.shutdown()


def decide(engine: CurrentEngine, **kwargs: Any) -> Any:
    async def run() -> Any:
        try:
            return await engine.decide(situation(action="deploy", role="developer"), **kwargs)
        finally:
            await engine.close()
    return asyncio.run(run())


def opa_engine(opa: FakeOpa, path: str = "warden/advisory/decision") -> CurrentEngine:
    return CurrentEngine(load_rules(), OpaEngine(OpaConfig(url=opa.url, path=path,
                                                           timeout_s=2)))


def test_opa_string_result_and_the_input_it_saw(opa: FakeOpa) -> None:
    opa.answers["/v1/data/warden/advisory/decision"] = (200, {"result": "require_attestation"})
    made = decide(opa_engine(opa))
    assert (made.decision, made.source, made.error) == (Decision.REQUIRE_ATTESTATION, "opa",
                                                         None)
    assert opa.inputs[0]["input"]["action_type"] == "deploy"


def test_opa_object_result(opa: FakeOpa) -> None:
    opa.answers["/v1/data/acme/policy"] = (200, {"result": {"decision": "allow", "why": "x"}})
    assert decide(opa_engine(opa, "acme/policy")).decision is Decision.ALLOW


@pytest.mark.parametrize(("status", "answer", "why"), [
    (200, {}, "no 'result'"),                      # an undefined document
    (200, {"result": "maybe"}, "must be one of"),
    (500, {"code": "internal_error"}, "answered 500"),
])
def test_opa_failures_fail_closed(opa: FakeOpa, status: int, answer: Any, why: str) -> None:
    opa.answers["/v1/data/warden/advisory/decision"] = (status, answer)
    made = decide(opa_engine(opa))
    assert made.decision is Decision.DENY and why in (made.error or "")


def test_opa_unreachable_fails_closed() -> None:
    engine = CurrentEngine(load_rules(), OpaEngine(OpaConfig(url="http://127.0.0.1:9",
                                                             timeout_s=1)))
    made = decide(engine)
    assert made.decision is Decision.DENY and made.error


def test_the_caller_decision_wins_and_rules_otherwise() -> None:
    engine = CurrentEngine(load_rules())
    assert decide(engine, caller=Decision.ALLOW).source == "caller"
    ruled = decide(CurrentEngine(load_rules()))
    assert ruled.source == "rules" and ruled.decision is Decision.REQUIRE_ATTESTATION
    assert ruled.rule_ids[0] == "deploy-prod"


def test_result_parser() -> None:
    assert opa_result_decision({"result": "deny"}) is Decision.DENY
    with pytest.raises(OpaError):
        opa_result_decision(["deny"])
