"""The GenAI-convention histograms and capacity gauges, fed by a real GenerationService over
a scripted engine (no model): one observation per generation, labelled by operation and
model, and the generation's usage noted for the request's access-log line."""

from __future__ import annotations

import asyncio

from tests.unit.api.test_generation_service import PROMPT_TOKENS, ScriptedEngine, service

from warden.engine.base import (
    GenerationRequest,
    SamplingParams,
)
from warden.engine.waiting_line import WaitingLine
from warden.store.keys import Principal
from warden.telemetry.metrics import Metrics
from warden.telemetry.request_log import RequestFacts, collecting

ALICE = Principal(key_id="k1", name="alice", role="user", tier="default")
MODEL = "smollm2-135m-instruct"


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_a_chat_generation_is_observed_once_in_each_genai_histogram() -> None:
    svc, _ = service(ScriptedEngine(["a", "b", "c", "d"]))
    metrics = svc.metrics
    chat = GenerationRequest(request_id="req_1", model=MODEL, sampling=SamplingParams(
        max_tokens=8), messages=({"role": "user", "content": "hi"},))
    facts = RequestFacts(request_id="req_1")

    async def scenario() -> None:
        with collecting(facts):
            generation = await svc.start(ALICE, chat)
            await generation.collect()
        await svc.drain()

    asyncio.run(scenario())
    op = {"gen_ai_operation_name": "chat", "gen_ai_request_model": MODEL}
    assert sample(metrics, "gen_ai_server_time_to_first_token_seconds_count", **op) == 1
    assert sample(metrics, "gen_ai_server_time_per_output_token_seconds_count", **op) == 1
    assert sample(metrics, "gen_ai_server_request_duration_seconds_count", **op,
                  error_type="") == 1
    assert sample(metrics, "gen_ai_client_token_usage_sum", **op,
                  gen_ai_token_type="input") == PROMPT_TOKENS
    assert sample(metrics, "gen_ai_client_token_usage_sum", **op,
                  gen_ai_token_type="output") == 4
    assert sample(metrics, "gen_ai_client_token_usage_count", **op,
                  gen_ai_token_type="output") == 1
    # the warden_* names are unchanged beside them
    assert sample(metrics, "warden_tokens_total", model=MODEL, direction="completion") == 4
    assert (facts.prompt_tokens, facts.completion_tokens) == (PROMPT_TOKENS, 4)


def test_an_unfinished_generation_has_an_error_type_and_no_per_token_time() -> None:
    metrics = Metrics()
    metrics.genai.finished("text_completion", MODEL, duration_s=0.5, decode_s=None,
                           prompt_tokens=3, completion_tokens=0, error_type="incomplete")
    op = {"gen_ai_operation_name": "text_completion", "gen_ai_request_model": MODEL}
    assert sample(metrics, "gen_ai_server_request_duration_seconds_count", **op,
                  error_type="incomplete") == 1
    assert sample(metrics, "gen_ai_server_time_per_output_token_seconds_count", **op) is None


def test_capacity_gauges_read_the_waiting_line_and_the_kv_cache_at_scrape_time() -> None:
    metrics = Metrics()
    line = WaitingLine(max_concurrency=4, queue_size=8)
    kv = [0.0]
    metrics.capacity.track("local", slots=4, running=lambda: line.running,
                           kv_usage=lambda: kv[0])
    metrics.capacity.track("remote", slots=16, running=lambda: 0)
    assert sample(metrics, "warden_engine_slots", model="local") == 4
    assert sample(metrics, "warden_engine_slot_utilization", model="local") == 0
    line.running, kv[0] = 3, 0.42
    assert sample(metrics, "warden_engine_slot_utilization", model="local") == 0.75
    assert sample(metrics, "warden_kv_cache_utilization", model="local") == 0.42
    assert sample(metrics, "warden_kv_cache_utilization", model="remote") is None
    assert b"warden_kv_cache_utilization" in metrics.render()
