"""What a newcomer and the agent frameworks hit (issue 11), against a real server: validation
messages that name the field and the fix, text that is not valid Unicode, secrets in query
strings kept out of the log, models.retrieve, and client-defined tools through the real
LangChain and LlamaIndex clients."""

from __future__ import annotations

import json

import httpx
import openai
import pytest
from pydantic import BaseModel

from tests.support.warden_server import MODEL

pytestmark = pytest.mark.integration

USER = [{"role": "user", "content": "hi"}]


def error_of(response: httpx.Response) -> dict:
    return response.json()["error"]


@pytest.mark.parametrize(("path", "body", "param", "hint"), [
    ("/v1/chat/completions", {"model": MODEL, "messages": USER, "presence_penalty": 0.5},
     "presence_penalty", "leave it at 0"),
    ("/v1/chat/completions", {"model": MODEL, "messages": USER,
                              "stream_options": {"include_usage": True}},
     "stream_options", "stream"),
    ("/v1/chat/completions", {"model": MODEL, "messages": USER, "tool_choice": "required"},
     "tool_choice", "add 'tools'"),
    ("/v1/generate", {"prompt": "x", "messages": USER}, "messages", "not both"),
    ("/v1/generate", {}, "prompt", "neither"),
])
def test_validation_names_the_field_and_the_fix(warden, path: str, body: dict, param: str,
                                                hint: str) -> None:
    with warden.server.client(warden.user_key) as http:
        response = http.post(path, json=body)
    assert response.status_code == 400
    error = error_of(response)
    assert error["param"] == param and error["code"] == "invalid_value"
    assert hint in error["message"] and "JSON object" not in error["message"]


def test_bodies_that_are_not_json_objects_say_what_to_send(warden) -> None:
    chat = json.dumps({"model": MODEL, "messages": USER}).encode()
    with warden.server.client(warden.user_key) as http:
        form = http.post("/v1/chat/completions", content=chat,
                         headers={"content-type": "application/x-www-form-urlencoded"})
        not_utf8 = http.post("/v1/chat/completions", content=b'{"model": "\xff\xfe"}',
                             headers={"content-type": "application/json"})
        deep = http.post("/v1/chat/completions", content=b"[" * 50_000 + b"]" * 50_000,
                         headers={"content-type": "application/json"})
        array = http.post("/v1/chat/completions", json=[1, 2])
    assert form.status_code == 415 and error_of(form)["code"] == "unsupported_media_type"
    assert "content-type: application/json" in error_of(form)["message"]
    for bad in (not_utf8, deep):
        assert bad.status_code == 400 and error_of(bad)["code"] == "invalid_json"
    assert array.status_code == 400 and error_of(array)["code"] == "invalid_body"


def test_a_lone_surrogate_is_a_400_and_the_connection_survives(warden) -> None:
    # json.dumps escapes a lone surrogate as \\ud800: valid JSON, invalid Unicode
    body = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "a\ud800b"}]})
    with warden.server.client(warden.user_key) as http:
        bad = http.post("/v1/chat/completions", content=body.encode(),
                        headers={"content-type": "application/json"})
        after = http.get("/v1/models")  # the same keep-alive connection
        prompt = http.post("/v1/completions", content=json.dumps(
            {"model": MODEL, "prompt": "\udfff", "max_tokens": 2}).encode(),
            headers={"content-type": "application/json"})
    assert bad.status_code == 400 and error_of(bad)["param"] == "messages.0.content"
    assert "surrogate" in error_of(bad)["message"]
    assert after.status_code == 200
    assert prompt.status_code == 400 and error_of(prompt)["param"] == "prompt"


def test_a_key_in_the_query_string_never_reaches_the_log(warden) -> None:
    secret = warden.user_key
    with httpx.Client(base_url=warden.base_url) as http:
        refused = http.get(f"/v1/models?api_key={secret}&note=jane.doe@example.com")
    assert refused.status_code == 401
    log = warden.server.log()
    assert secret not in log and "jane.doe@example.com" not in log
    assert "GET /v1/models 401" in log  # one access line per request, path only


def test_models_retrieve(warden) -> None:
    client = openai.OpenAI(base_url=f"{warden.base_url}/v1", api_key=warden.user_key)
    assert client.models.retrieve(MODEL).id == MODEL
    with pytest.raises(openai.NotFoundError) as missing:
        client.models.retrieve("gpt-9")
    assert MODEL in missing.value.body["message"]


class Person(BaseModel):
    """A person mentioned in the text."""

    name: str
    age: int


def test_langchain_bind_tools_and_structured_output(warden) -> None:
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(base_url=f"{warden.base_url}/v1", api_key=warden.user_key, model=MODEL,
                     temperature=0, max_tokens=64, max_retries=0)
    forced = llm.bind_tools([Person], tool_choice="Person")
    message = forced.invoke("Ada Lovelace was 36 years old.")
    [call] = message.tool_calls
    assert call["name"] == "Person" and set(call["args"]) == {"name", "age"}
    structured = llm.with_structured_output(Person, method="function_calling")
    person = structured.invoke("Ada Lovelace was 36 years old.")
    assert isinstance(person, Person)


def test_llamaindex_chat_with_tools(warden) -> None:
    from llama_index.core.llms import ChatMessage
    from llama_index.core.tools import FunctionTool
    from llama_index.llms.openai_like import OpenAILike

    def person(name: str, age: int) -> str:
        """Record a person mentioned in the text."""
        return f"{name} ({age})"

    llm = OpenAILike(api_base=f"{warden.base_url}/v1", api_key=warden.user_key, model=MODEL,
                     is_chat_model=True, is_function_calling_model=True, temperature=0,
                     max_tokens=64, max_retries=0)
    tool = FunctionTool.from_defaults(fn=person)
    response = llm.chat_with_tools([tool], user_msg=ChatMessage(
        role="user", content="Ada Lovelace was 36 years old."), tool_required=True)
    [selected] = llm.get_tool_calls_from_response(response, error_on_no_tool_call=True)
    assert selected.tool_name == "person" and set(selected.tool_kwargs) == {"name", "age"}
    assert tool(**selected.tool_kwargs).content.endswith(")")
