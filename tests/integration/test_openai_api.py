"""The official `openai` client against a real Warden serving the built-in model."""

from __future__ import annotations

import openai
import pytest

from tests.support.warden_server import MODEL

pytestmark = pytest.mark.integration


@pytest.fixture()
def client(warden) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{warden.base_url}/v1", api_key=warden.user_key,
                         max_retries=0)


def test_models_list(client: openai.OpenAI) -> None:
    models = client.models.list()
    assert [m.id for m in models.data] == [MODEL]


def test_chat_completion(client: openai.OpenAI) -> None:
    response = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Name a color."}], max_tokens=16,
        temperature=0)
    choice = response.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content
    assert choice.finish_reason in ("stop", "length")
    assert response.usage.completion_tokens <= 16
    assert response.usage.prompt_tokens > 5
    assert response.usage.total_tokens == (response.usage.prompt_tokens
                                           + response.usage.completion_tokens)
    assert response.id.startswith("chatcmpl-")


def test_chat_stream_matches_non_stream_at_temperature_zero(client: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": "Write one sentence about the sea."}]
    whole = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=24,
                                           temperature=0)
    chunks = list(client.chat.completions.create(
        model=MODEL, messages=messages, max_tokens=24, temperature=0, stream=True,
        stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert chunks[0].choices[0].delta.role == "assistant"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == whole.choices[0].finish_reason
    assert all(f is None for f in finishes[:-1])
    usage_chunks = [c for c in chunks if c.usage is not None]
    assert len(usage_chunks) == 1 and not usage_chunks[0].choices
    assert usage_chunks[0].usage.completion_tokens == whole.usage.completion_tokens
    assert len({c.id for c in chunks}) == 1


def test_stream_without_include_usage_has_no_usage(client: openai.OpenAI) -> None:
    chunks = list(client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Hi"}], max_tokens=4, stream=True))
    assert all(c.usage is None for c in chunks)


def test_completions_stream_and_not(client: openai.OpenAI) -> None:
    whole = client.completions.create(model=MODEL, prompt="The first three letters are",
                                      max_tokens=10, temperature=0)
    assert whole.choices[0].text
    assert whole.usage.completion_tokens <= 10
    streamed = list(client.completions.create(model=MODEL, prompt="The first three letters are",
                                              max_tokens=10, temperature=0, stream=True))
    assert "".join(c.choices[0].text for c in streamed) == whole.choices[0].text
    assert streamed[-1].choices[0].finish_reason == whole.choices[0].finish_reason


def test_seed_reproduces_sampled_text(client: openai.OpenAI) -> None:
    def sample() -> str:
        return client.completions.create(model=MODEL, prompt="A short poem:", max_tokens=20,
                                         temperature=1.0, seed=1234).choices[0].text
    assert sample() == sample()


def test_stop_sequence_is_applied_and_not_emitted(client: openai.OpenAI) -> None:
    prompt = "Count: 1, 2, 3, 4, 5, 6,"
    free = client.completions.create(model=MODEL, prompt=prompt, max_tokens=24, temperature=0)
    text = free.choices[0].text
    assert len(text) > 4
    stop = text[2:4]
    stopped = client.completions.create(model=MODEL, prompt=prompt, max_tokens=24,
                                        temperature=0, stop=[stop])
    assert stopped.choices[0].finish_reason == "stop"
    assert stop not in stopped.choices[0].text
    assert text.startswith(stopped.choices[0].text)


def test_errors_surface_as_openai_exceptions(client: openai.OpenAI, warden) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="no-such-model",
                                       messages=[{"role": "user", "content": "x"}])
    assert missing.value.body["code"] == "model_not_found"
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}],
                                       temperature=5)
    assert bad.value.body["param"] == "temperature"
    anonymous = openai.OpenAI(base_url=f"{warden.base_url}/v1", api_key="wk_nope_nope",
                              max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        anonymous.models.list()


def test_shared_system_prompt_is_served_from_the_prefix_cache(client: openai.OpenAI) -> None:
    system = {"role": "system", "content": "You are the Acme support assistant. Be brief, be "
                                           "kind, and point people to the help centre."}
    first = client.chat.completions.create(
        model=MODEL, messages=[system, {"role": "user", "content": "Hello"}], max_tokens=4)
    second = client.chat.completions.create(
        model=MODEL, messages=[system, {"role": "user", "content": "Refunds?"}], max_tokens=4)
    assert second.usage.prompt_tokens_details.cached_tokens > 10
    assert second.usage.prompt_tokens_details.cached_tokens < second.usage.prompt_tokens
    assert first.model_extra["warden"]["long_context_fallback"] is False


def test_logit_bias_forbids_a_token(client: openai.OpenAI) -> None:
    prompt = "Count: 1, 2, 3, 4, 5,"
    free = client.completions.create(model=MODEL, prompt=prompt, max_tokens=6, temperature=0)
    assert " 6" in free.choices[0].text
    # Token ids of the built-in tokenizer: find " 6" via the engine's own tokenizer.
    import llama_cpp
    from llama_cpp._internals import LlamaModel

    from warden.engine.model_files import builtin_model_path

    params = llama_cpp.llama_model_default_params()
    params.vocab_only = True
    vocab = LlamaModel(path_model=str(builtin_model_path()), params=params, verbose=False)
    banned = {str(t): -100 for t in vocab.tokenize(b" 6", add_bos=False, special=False)}
    banned.update({str(t): -100 for t in vocab.tokenize(b"6", add_bos=False, special=False)})
    biased = client.completions.create(model=MODEL, prompt=prompt, max_tokens=6, temperature=0,
                                       logit_bias=banned)
    assert "6" not in biased.choices[0].text
    with pytest.raises(openai.BadRequestError) as bad:
        client.completions.create(model=MODEL, prompt=prompt, max_tokens=2,
                                  logit_bias={"999999999": -100})
    assert "vocabulary" in bad.value.body["message"]


def test_json_schema_outputs_always_validate(client: openai.OpenAI) -> None:
    import json

    import jsonschema

    schema = {"type": "object", "properties": {
        "name": {"type": "string", "maxLength": 20},
        "age": {"type": "integer", "minimum": 0, "maximum": 120},
        "color": {"enum": ["red", "green", "blue"]}},
        "required": ["name", "age", "color"], "additionalProperties": False}
    finishes = []
    for seed in range(4):
        reply = client.chat.completions.create(
            model=MODEL, max_tokens=64, temperature=1.0, seed=seed,
            messages=[{"role": "user", "content": "Describe a person."}],
            response_format={"type": "json_schema",
                             "json_schema": {"name": "person", "schema": schema}})
        choice = reply.choices[0]
        finishes.append(choice.finish_reason)
        if choice.finish_reason == "content_filter":
            # The output guard redacted a name and the redacted document broke the schema
            # (maxLength): withheld, never returned invalid (api/pipeline/schema_output.py).
            assert not choice.message.content
            assert reply.model_extra["warden"]["redaction_broke_schema"] is True
            continue
        assert choice.finish_reason == "stop"
        jsonschema.validate(json.loads(choice.message.content), schema)
    assert finishes.count("stop") >= 2, finishes


def test_oversized_or_deep_schemas_are_rejected_by_name(client: openai.OpenAI) -> None:
    deep: dict = {"type": "string"}
    for _ in range(12):
        deep = {"type": "object", "properties": {"x": deep}}
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(
            model=MODEL, max_tokens=8, messages=[{"role": "user", "content": "x"}],
            response_format={"type": "json_schema", "json_schema": {"name": "d",
                                                                    "schema": deep}})
    assert "depth" in bad.value.body["message"] and "limit" in bad.value.body["message"]
    with pytest.raises(openai.BadRequestError) as both:
        client.chat.completions.create(
            model=MODEL, max_tokens=8, messages=[{"role": "user", "content": "x"}], stop=["}"],
            response_format={"type": "json_object"})
    assert both.value.body["param"] == "stop"
