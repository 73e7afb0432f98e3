"""Health gates: each pure gate on hand-made facts, then the whole check over a fake server
(httpx.MockTransport): order, the failing gate named with its fix, later gates skipped."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from warden.evaluation.client import WardenClient
from warden.evaluation.health import (
    HealthPlan,
    Status,
    budget_gate,
    check_health,
    config_gate,
    corpus_gate,
    database_gate,
    model_gate,
)

HASH = "a" * 64
READY = {"status": "ready", "checks": {"database": True, "model:m": True, "limiter": True},
         "draining": False, "config_hash": HASH}
CORPUS = {"corpus": "docs", "active_version": 3, "ingest_run_id": "run_1", "merkle_root": HASH,
          "chunk_count": 10, "fusion": {"lexical_weight": 1.0}, "default_k": 5,
          "health": {"ok": True, "rows_checked": 10, "problems": []}}


def test_config_gate() -> None:
    assert config_gate(200, READY).status is Status.PASS
    missing = config_gate(200, {"status": "ready"})
    assert missing.status is Status.FAIL and "config_hash" in missing.detail
    limiter = config_gate(503, {**READY, "checks": {**READY["checks"], "limiter": False}})
    assert limiter.status is Status.FAIL and "limiter" in limiter.detail and limiter.fix
    # database and model failures are their own gates, not the config's
    db_down = {**READY, "checks": {**READY["checks"], "database": False}}
    assert config_gate(503, db_down).status is Status.PASS
    assert database_gate(db_down).status is Status.FAIL
    assert database_gate(READY).status is Status.PASS


def test_model_gate() -> None:
    models = [{"id": "m"}]
    assert model_gate("m", models, READY, None).status is Status.PASS
    assert "not served" in model_gate("x", models, READY, None).detail
    unready = {**READY, "checks": {"model:m": False}}
    assert model_gate("m", models, unready, None).status is Status.FAIL
    broken = model_gate("m", models, READY, "502 upstream_unavailable")
    assert broken.status is Status.FAIL and "one-token" in broken.detail


def test_corpus_gate_names_the_corpus_and_the_fix() -> None:
    assert corpus_gate("docs", CORPUS).status is Status.PASS
    none = corpus_gate("docs", None)
    assert none.name == "corpus:docs" and "no active version" in none.detail
    assert "warden index ingest" in (none.fix or "")
    leak = corpus_gate("docs", {**CORPUS, "health": {"ok": False, "problems": ["prefix in "
                                                                               "bm25 text"]}})
    assert leak.status is Status.FAIL and "prefix-leakage" in leak.detail
    assert corpus_gate("docs", {**CORPUS, "health": None}).status is Status.FAIL


def test_budget_gate_counts_every_item_and_names_the_worst() -> None:
    ok = budget_gate({"a": 100, "b": 300}, 128, 2048, 256)
    assert ok.status is Status.PASS and "≥ 1620" in ok.detail
    bad = budget_gate({"a": 100, "b": 1800, "c": 1900}, 128, 2048, 256)
    assert bad.status is Status.FAIL
    assert "2 of 3 items" in bad.detail and "worst c" in bad.detail and "--max-tokens" in bad.fix
    assert budget_gate({}, 1, 2048, 0).status is Status.FAIL
    assert budget_gate({"a": 1}, 1, None, 0).status is Status.FAIL


Handler = Callable[[httpx.Request], httpx.Response]


def fake_server(corpus: dict[str, Any] | None = CORPUS, tokens: int = 100) -> Handler:
    def handle(request: httpx.Request) -> httpx.Response:  # noqa: PLR0911 -- one per route
        path = request.url.path
        if path == "/readyz":
            return httpx.Response(200, json=READY)
        if path == "/v1/models":
            return httpx.Response(200, json={"data": [{"id": "m", "meta": {}}]})
        if path == "/v1/chat/completions":
            return httpx.Response(200, json={"choices": [{"message": {"content": "OK"}}]})
        if path.startswith("/v1/corpora/"):
            if corpus is None:
                return httpx.Response(404, json={"error": {"message": "no active version"}})
            assert request.url.params.get("health") == "true"
            return httpx.Response(200, json=corpus)
        if path == "/v1/tokenize":
            body = json.loads(request.content)
            assert body["messages"][-1]["role"] == "user"
            return httpx.Response(200, json={"tokens": tokens, "exact": True, "n_ctx": 2048})
        return httpx.Response(404, json={"error": {"message": "not found"}})

    return handle


def plan(**extra: Any) -> HealthPlan:
    prompts = {"q1": ({"role": "user", "content": "?"},), "q2": ({"role": "user", "content": "!"},)}
    return HealthPlan(**{"model": None, "corpora": ("docs",), "prompts": prompts,
                         "max_tokens": 128, **extra})


def run(handler: Handler, health_plan: HealthPlan) -> tuple[Any, Any]:
    with WardenClient("http://warden", "wk_x", transport=httpx.MockTransport(handler)) as c:
        return check_health(c, health_plan)


def test_all_gates_pass_and_facts_are_collected() -> None:
    report, facts = run(fake_server(), plan(judge_skip_reason="--judge none"))
    assert [g.name for g in report.gates] == ["config", "database", "model", "corpus:docs",
                                              "token_budget", "judge"]
    assert report.passed and report.gates[-1].status is Status.SKIP
    assert facts.config_hash == HASH and facts.corpora["docs"]["active_version"] == 3
    assert facts.prompt_tokens == {"q1": 100, "q2": 100} and facts.n_ctx == 2048


def test_a_missing_corpus_and_an_overlong_prompt_fail_by_name() -> None:
    report, _ = run(fake_server(corpus=None, tokens=1900), plan())
    assert not report.passed
    assert [g.name for g in report.failed()] == ["corpus:docs", "token_budget"]


def test_unreachable_server_fails_config_and_skips_the_rest() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    report, _ = run(down, plan())
    assert report.gates[0].status is Status.FAIL and "--url" in report.gates[0].detail
    assert all(g.status is Status.SKIP for g in report.gates[1:])


def test_judge_probe_failure_is_the_judge_gate() -> None:
    def probe() -> str:
        raise ValueError("not JSON")

    report, _ = run(fake_server(), plan(judge_probe=probe))
    assert [g.name for g in report.failed()] == ["judge"]
    assert "--judge none" in (report.failed()[0].fix or "")
