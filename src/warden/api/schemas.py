"""Request bodies. Unknown fields are rejected by name, so a typo never silently does nothing.

The OpenAI fields we accept but cannot honour (n > 1, logprobs, echo) are rejected with a
message that names them, rather than ignored.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from warden.api.rag import RetrievalOptions
from warden.api.tool_schemas import MAX_TOOLS, ToolCallIn, ToolChoice, ToolDef
from warden.safety.tools.prompt import render_turns

MAX_STOP_SEQUENCES = 4
MAX_MESSAGES = 512
MAX_LOGIT_BIAS = 300


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TextPart(_Body):
    type: Literal["text"]
    text: str


class ChatMessage(_Body):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None
    name: str | None = Field(None, max_length=64)
    tool_calls: list[ToolCallIn] | None = Field(None, max_length=16)
    tool_call_id: str | None = Field(None, min_length=1, max_length=128)

    @model_validator(mode="after")
    def _tool_fields(self) -> ChatMessage:
        if self.tool_calls and self.role != "assistant":
            raise ValueError("tool_calls is only allowed on assistant messages")
        if (self.role == "tool") != (self.tool_call_id is not None):
            raise ValueError("a 'tool' message needs tool_call_id (the id of the call it "
                             "answers), and only tool messages may have one")
        if self.content is None and not (self.role == "assistant" and self.tool_calls):
            raise ValueError("content is required (only an assistant message with "
                             "tool_calls may omit it)")
        return self

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class StreamOptions(_Body):
    include_usage: bool = False


def _normalise_stop(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    stops = [value] if isinstance(value, str) else list(value)
    if len(stops) > MAX_STOP_SEQUENCES:
        raise ValueError(f"at most {MAX_STOP_SEQUENCES} stop sequences are allowed")
    if any(s == "" for s in stops):
        raise ValueError("stop sequences must not be empty strings")
    return stops


Temperature = Annotated[float, Field(ge=0.0, le=2.0)]
TopP = Annotated[float, Field(gt=0.0, le=1.0)]
Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]
Penalty = Annotated[float, Field(ge=-2.0, le=2.0)]


class _SamplingFields(_Body):
    temperature: Temperature = 1.0
    top_p: TopP = 1.0
    seed: Seed | None = None
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: str | None = Field(None, max_length=256)
    n: Annotated[int, Field(ge=1)] = 1
    presence_penalty: Penalty = 0.0
    frequency_penalty: Penalty = 0.0
    logit_bias: dict[str, Annotated[float, Field(ge=-100, le=100)]] | None = None

    @field_validator("logit_bias")
    @classmethod
    def _token_ids(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        if value is not None:
            if len(value) > MAX_LOGIT_BIAS:
                raise ValueError(f"at most {MAX_LOGIT_BIAS} logit_bias entries are allowed")
            if not all(k.isdigit() for k in value):
                raise ValueError("keys must be token ids as strings, e.g. {\"50256\": -100}")
        return value

    def bias_pairs(self) -> tuple[tuple[int, float], ...]:
        return tuple((int(k), v) for k, v in (self.logit_bias or {}).items())

    @field_validator("stop")
    @classmethod
    def _stop(cls, value: str | list[str] | None) -> list[str]:
        return _normalise_stop(value)

    @field_validator("n")
    @classmethod
    def _single_choice(cls, value: int) -> int:
        if value != 1:
            raise ValueError("only n=1 is supported; send separate requests for more choices")
        return value

    @model_validator(mode="after")
    def _stream_options_need_stream(self) -> _SamplingFields:
        if self.stream_options is not None and not self.stream:
            raise ValueError("stream_options is only allowed when stream is true")
        if self.presence_penalty or self.frequency_penalty:
            raise ValueError("presence_penalty and frequency_penalty are not supported; "
                             "leave them at 0")
        return self

    def stop_list(self) -> list[str]:
        return list(self.stop or [])


class JsonSchemaFormat(_Body):
    name: str = Field(..., min_length=1, max_length=64)
    schema_: dict[str, Any] = Field(..., alias="schema")
    description: str | None = None
    strict: bool | None = None


class ResponseFormat(_Body):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None

    @model_validator(mode="after")
    def _schema_when_needed(self) -> ResponseFormat:
        if self.type == "json_schema" and self.json_schema is None:
            raise ValueError("type 'json_schema' needs a json_schema: {name, schema}")
        return self

    def schema(self) -> dict[str, Any] | None:
        if self.type == "json_schema" and self.json_schema is not None:
            return self.json_schema.schema_
        if self.type == "json_object":
            return {"type": "object"}
        return None


class ChatCompletionRequest(_SamplingFields):
    model: str
    messages: list[ChatMessage] = Field(..., min_length=1, max_length=MAX_MESSAGES)
    max_tokens: Annotated[int, Field(ge=1)] | None = None
    max_completion_tokens: Annotated[int, Field(ge=1)] | None = None
    logprobs: Literal[False] | None = None
    response_format: ResponseFormat | None = None
    retrieval: RetrievalOptions | None = Field(None, description="Warden extension (openai "
                                               "client: extra_body): answer from an index.")
    tools: list[ToolDef] | None = Field(None, max_length=MAX_TOOLS, description="Registry "
                                        "tools the model may call (GET /v1/tools).")
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = Field(None, description="Accepted; Warden returns at "
                                             "most one call per reply.")

    @model_validator(mode="after")
    def _tool_choice_needs_tools(self) -> ChatCompletionRequest:
        if self.tool_choice not in (None, "none") and not self.tools:
            raise ValueError("tool_choice needs 'tools' listing the tools it may call")
        return self

    def json_schema(self) -> dict[str, Any] | None:
        return self.response_format.schema() if self.response_format else None

    def requested_max_tokens(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


class CompletionRequest(_SamplingFields):
    model: str
    prompt: str | list[str]
    max_tokens: Annotated[int, Field(ge=1)] = 16
    echo: Literal[False] = False
    logprobs: None = None
    suffix: None = None

    @field_validator("prompt")
    @classmethod
    def _one_prompt(cls, value: str | list[str]) -> str:
        if isinstance(value, list):
            if len(value) != 1:
                raise ValueError("send exactly one prompt string per request")
            return value[0]
        return value

    def requested_max_tokens(self) -> int:
        return self.max_tokens


class GenerateRequest(_Body):
    """Native endpoint: either a raw prompt or chat messages."""

    model: str | None = Field(None, description="Defaults to the first configured model.")
    prompt: str | None = None
    messages: list[ChatMessage] | None = Field(None, min_length=1, max_length=MAX_MESSAGES)
    max_tokens: Annotated[int, Field(ge=1)] | None = None
    temperature: Temperature = 0.8
    top_p: TopP = 0.95
    top_k: Annotated[int, Field(ge=0, le=1000)] = 40
    seed: Seed | None = None
    stop: str | list[str] | None = None
    stream: bool = False
    json_schema: dict[str, Any] | None = Field(None, description="Decode under this schema.")
    retrieval: RetrievalOptions | None = Field(None, description="Answer from an index "
                                               "version, with citations.")

    @field_validator("stop")
    @classmethod
    def _stop(cls, value: str | list[str] | None) -> list[str]:
        return _normalise_stop(value)

    @model_validator(mode="after")
    def _prompt_or_messages(self) -> GenerateRequest:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("send exactly one of 'prompt' or 'messages'")
        return self

    def stop_list(self) -> list[str]:
        return list(self.stop or [])


def messages_as_dicts(messages: list[ChatMessage]) -> tuple[dict[str, Any], ...]:
    # "developer" is OpenAI's newer name for the system role; templates know only "system".
    plain: list[dict[str, Any]] = []
    for m in messages:
        item: dict[str, Any] = {"role": "system" if m.role == "developer" else m.role,
                                "content": m.text()}
        if m.tool_calls:
            item["tool_calls"] = [{"id": c.id, "name": c.function.name,
                                   "arguments": c.function.arguments} for c in m.tool_calls]
        if m.tool_call_id is not None:
            item["tool_call_id"] = m.tool_call_id
        plain.append(item)
    # Tool turns become plain {role, content} turns any chat template can render.
    return render_turns(plain)
