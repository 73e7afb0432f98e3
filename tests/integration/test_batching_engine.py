"""The continuous-batching llama.cpp engine, driven directly (no HTTP) with the real model."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Iterator
from typing import Any

import pytest

from warden.config import ModelConfig
from warden.engine.base import Finished, GenerationRequest, SamplingParams, TextDelta
from warden.engine.batching.engine import LlamaCppEngine

pytestmark = pytest.mark.integration

PROMPTS = [
    "Count from 1 to 500: 1, 2, 3,",
    "Once upon a time, in a small village by the sea, there lived an old fisherman who "
    "had never once left the harbour. Every morning he",
    "The capital of France is",
    "Write a poem about the ocean.\n",
    "def fibonacci(n):",
    "Here is a long list of fruits, one per line, with a short description of each:\n"
    "1. Apple - a crisp sweet fruit\n2. Banana - soft and yellow\n3.",
    "The history of Rome begins",
    "Q: What is 2+2?\nA:",
]


class EngineRunner:
    """One engine on one event loop thread for a whole test module."""

    def __init__(self, **config: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.engine = LlamaCppEngine(ModelConfig(**config))
        self.run(self.engine.start())

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def gather(self, coros: list[Any]) -> list[Any]:
        async def all_of() -> list[Any]:
            return list(await asyncio.gather(*coros))

        return self.run(all_of())

    def close(self) -> None:
        self.run(self.engine.close())
        self.loop.close()


async def generate(engine: LlamaCppEngine, prompt: str, *, max_tokens: int = 48,
                   temperature: float = 0.0, seed: int | None = None, tenant: str = "t",
                   rid: str = "r") -> tuple[str, Finished]:
    request = GenerationRequest(rid, "m", SamplingParams(max_tokens=max_tokens,
                                                         temperature=temperature, seed=seed),
                                prompt=prompt, tenant=tenant)
    text, finished = "", None
    async for event in engine.stream(request):
        if isinstance(event, TextDelta):
            text += event.text
        else:
            finished = event
    assert finished is not None
    return text, finished


@pytest.fixture(scope="module")
def runner() -> Iterator[EngineRunner]:
    r = EngineRunner(max_batch=8, n_ctx=1024, prefix_cache=False)
    yield r
    r.close()


def test_greedy_output_is_identical_alone_and_in_a_full_batch(runner: EngineRunner) -> None:
    alone = [runner.run(generate(runner.engine, p, rid=f"a{i}")) for i, p in enumerate(PROMPTS)]
    batched = runner.gather([
        generate(runner.engine, p, rid=f"b{i}") for i, p in enumerate(PROMPTS)])
    assert len({len(p) for p in PROMPTS}) > 4  # mixed prompt lengths
    for (a_text, a_fin), (b_text, b_fin) in zip(alone, batched, strict=True):
        assert a_text == b_text
        assert a_fin.usage == b_fin.usage


def test_same_seed_same_text_and_sampling_varies_by_seed(runner: EngineRunner) -> None:
    def sample(seed: int) -> str:
        return runner.run(generate(runner.engine, PROMPTS[1], temperature=1.0, seed=seed))[0]

    assert sample(7) == sample(7)
    assert len({sample(s) for s in (1, 2, 3)}) > 1


def test_32_concurrent_requests_all_finish_with_exact_accounting(runner: EngineRunner) -> None:
    scheduler = runner.engine._scheduler
    assert scheduler is not None
    before = scheduler.tokens_generated
    results = runner.gather([
        generate(runner.engine, PROMPTS[i % 8], max_tokens=16 + i % 5, rid=f"c{i}",
                 tenant=f"t{i}") for i in range(32)])
    assert len(results) == 32
    for i, (_text, fin) in enumerate(results):
        assert fin.finish_reason in ("stop", "length")
        assert fin.usage.completion_tokens <= 16 + i % 5
        if fin.finish_reason == "length":
            assert fin.usage.completion_tokens == 16 + i % 5
        assert fin.usage.prompt_tokens > 0
    assert scheduler.tokens_generated - before == sum(f.usage.completion_tokens
                                                      for _, f in results)
    assert runner.engine.load == (0, 0)


def test_cancel_mid_stream_frees_the_sequence_for_the_next_request() -> None:
    runner = EngineRunner(max_batch=1, n_ctx=512)
    try:
        engine = runner.engine

        async def cancel_after_first_token() -> Finished | None:
            request = GenerationRequest("x", "m", SamplingParams(max_tokens=400, temperature=0),
                                        prompt=PROMPTS[0])
            stream = engine.stream(request)
            async for event in stream:
                assert isinstance(event, TextDelta)
                break
            await stream.aclose()  # what a client hang-up does
            return None

        runner.run(cancel_after_first_token())
        # One slot only: the next request can run only if the cancelled one left it.
        text, fin = runner.run(asyncio.wait_for(generate(engine, PROMPTS[2], max_tokens=8),
                                                timeout=120))
        assert fin.finish_reason in ("stop", "length") and text
        assert fin.extra["slot"] == 0
        assert engine.load == (0, 0)
    finally:
        runner.close()


def test_past_l_switch_memory_stays_flat_and_generation_stays_coherent() -> None:
    runner = EngineRunner(max_batch=2, n_ctx=256, l_switch=64, n_sink=4)
    try:
        text, fin = runner.run(generate(runner.engine, "Count from 1 to 1000: 1, 2, 3, 4, 5,",
                                        max_tokens=300))
        assert fin.usage.completion_tokens == 300  # ran far past n_ctx=256 without a crash
        assert fin.extra["long_context_fallback"] is True
        assert fin.extra["evicted_tokens"] > 0
        assert fin.extra["peak_kv_tokens"] <= 64  # KV never held more than l_switch cells
        numbers = [int(n) for n in re.findall(r"\d+", text)]
        # Still counting upwards long after the first eviction (at token ~38).
        assert numbers[-1] > 60
        assert sum(b > a for a, b in itertools.pairwise(numbers)) \
            >= 0.9 * (len(numbers) - 1)
        meta = runner.engine.metadata()
        assert meta["l_switch"] == 64
        assert 0 < meta["kv_gb_per_layer_per_4k_tokens"] <= 0.7
    finally:
        runner.close()


def test_prefix_cache_hits_within_a_tenant_and_never_across() -> None:
    runner = EngineRunner(max_batch=2, n_ctx=1024, prefix_cache=True)
    try:
        system = ("You are a careful assistant for the Acme support desk. Answer briefly and "
                  "politely, never invent order numbers, and always suggest the help centre. ")
        engine = runner.engine
        first_text, first = runner.run(generate(engine, system + "Question: hello?",
                                                tenant="acme"))
        assert first.usage.cached_tokens == 0
        _, same_tenant = runner.run(generate(engine, system + "Question: refunds?",
                                             tenant="acme"))
        assert same_tenant.usage.cached_tokens > 20
        _, other_tenant = runner.run(generate(engine, system + "Question: refunds?",
                                              tenant="globex"))
        assert other_tenant.usage.cached_tokens == 0
        # A cache hit changes nothing in the answer.
        again_text, again = runner.run(generate(engine, system + "Question: hello?",
                                                tenant="acme"))
        assert again.usage.cached_tokens > 20
        assert again_text == first_text
    finally:
        runner.close()


def test_forbidden_phrases_never_appear_in_200_sampled_generations(runner: EngineRunner
                                                                    ) -> None:
    phrases = ("the", "once upon a time", "ocean")
    prompts = ["Tell me a story about the ocean. Once upon a time", "The best thing about the",
               "Write about the sea and the ocean:"]

    async def one(i: int, forbidden: tuple[str, ...]) -> str:
        request = GenerationRequest(
            f"f{i}", "m", SamplingParams(max_tokens=12, temperature=1.0, seed=i,
                                         forbidden_phrases=forbidden),
            prompt=prompts[i % 3], tenant=f"f{i % 8}")
        text = ""
        async for event in runner.engine.stream(request):
            if isinstance(event, TextDelta):
                text += event.text
        return text

    control = runner.gather([one(i, ()) for i in range(16)])
    assert sum("the" in t.lower() for t in control) > 6  # the model loves these words
    outputs = runner.gather([one(i, phrases) for i in range(200)])
    assert len(outputs) == 200 and all(outputs)
    leaks = [t for t in outputs if any(p in t.lower() for p in phrases)]
    assert leaks == []
