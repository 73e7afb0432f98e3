"""The wire protocol: every request body the HTTP API accepts, as pydantic models.

vLLM's `entrypoints/openai/protocol.py` is the model: bodies here, serving logic in
`warden.api.pipeline`, HTTP glue in `warden.api.routes`. Unknown fields are rejected by name,
so a typo never silently does nothing. The OpenAI fields we accept but cannot honour (n > 1,
logprobs, echo) are rejected with a message that names them, rather than ignored.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from warden.config.tools import TOOL_NAME_PATTERN
from warden.safety.tools.prompt import render_turns

MAX_TOOLS = 64
MAX_STOP_SEQUENCES = 4
MAX_MESSAGES = 512
MAX_LOGIT_BIAS = 300


def _surrogate_path(value: Any, path: str = "") -> str | None:
    """Where a lone UTF-16 surrogate hides in a value ("\\ud800" is valid JSON but no valid
    Unicode text: no tokenizer, log or database can encode it)."""
    if isinstance(value, str):
        return path if any("\ud800" <= ch <= "\udfff" for ch in value) else None
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list | tuple):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        if isinstance(key, str) and _surrogate_path(key) is not None:
            return f"{path}.{key}".lstrip(".")
        found = _surrogate_path(item, f"{path}.{key}".lstrip("."))
        if found is not None:
            return found
    return None


def model_problem(field: str, message: str) -> ValueError:
    """A problem found by a model-level check, still named by its field: the error map reads
    the `field: ` prefix into `param`, so the caller learns which field to fix."""
    return ValueError(f"{field}: {message}")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _valid_unicode(cls, value: Any) -> Any:
        where = _surrogate_path(value)
        if where is not None:
            problem = ("contains a lone UTF-16 surrogate (e.g. \\ud800), which is not valid "
                       "Unicode; send UTF-8 text")
            raise model_problem(where, problem) if where else ValueError(problem)
        return value


# retrieval -------------------------------------------------------------------------------
FilterValue = str | int | float | bool


class RetrievalOptions(BaseModel):
    """The `retrieval` object of /v1/generate and /v1/chat/completions."""

    model_config = ConfigDict(extra="forbid")
    corpus: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
                               description="Default: retrieval.default_corpus.")
    k: int | None = Field(None, ge=1, le=50, description="Chunks to retrieve; default "
                          "retrieval.default_k.")
    as_of: datetime | None = Field(None, description="Answer from the index version that was "
                                   "active at this ISO 8601 time (UTC if no zone).")
    filters: dict[str, FilterValue | list[FilterValue]] | None = Field(
        None, description="Metadata filters: {key: value} or {key: [any, of]}; 'source' and "
                          "'doc_id' address the chunk's own fields.")

    @field_validator("as_of")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


# tools -------------------------------------------------------------------------------------
class FunctionDef(_Body):
    name: str = Field(..., pattern=TOOL_NAME_PATTERN)
    description: str | None = None
    # A registry tool: omit it or send the registered schema. Anything else makes the
    # function a client tool, whose schema must be valid and enforceable by the decoder.
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ToolDef(_Body):
    type: Literal["function"]
    function: FunctionDef


class NamedFunction(_Body):
    name: str = Field(..., min_length=1, max_length=64)


class NamedToolChoice(_Body):
    type: Literal["function"]
    function: NamedFunction


ToolChoice = Literal["auto", "none", "required"] | NamedToolChoice


class FunctionCallIn(_Body):
    name: str = Field(..., min_length=1, max_length=64)
    arguments: str


class ToolCallIn(_Body):
    id: str = Field(..., min_length=1, max_length=128)
    type: Literal["function"]
    function: FunctionCallIn


class ToolExecuteRequest(_Body):
    arguments: dict[str, Any] = Field(..., description="The tool's arguments (a JSON object).")
    dry_run: bool = Field(False, description="Run without side effects; mutating tools also "
                          "return a confirmation_token.")
    confirmation_token: str | None = Field(None, min_length=1, max_length=2048)
    purpose: str | None = Field(None, max_length=200, description="Why the call is made; "
                                "recorded in the audit log (PII patterns are masked).")


# chat and completions ----------------------------------------------------------------------
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
    presence_penalty: Penalty = Field(0.0, description="Not supported; only 0 is accepted.")
    frequency_penalty: Penalty = Field(0.0, description="Not supported; only 0 is accepted.")
    logit_bias: dict[str, Annotated[float, Field(ge=-100, le=100)]] | None = None
    cache: bool = Field(True, description="Warden extension: false reads no state an earlier "
                        "request left (prefix cache, retrieval pointer cache) and leaves none; "
                        "evaluation runs send it for reproducible answers.")

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

    @field_validator("presence_penalty", "frequency_penalty")
    @classmethod
    def _no_penalties(cls, value: float) -> float:
        if value:
            raise ValueError("is not supported by this server; leave it at 0 or omit it")
        return value

    @model_validator(mode="after")
    def _stream_options_need_stream(self) -> _SamplingFields:
        if self.stream_options is not None and not self.stream:
            raise model_problem("stream_options", "only allowed when stream is true; set "
                                "\"stream\": true or remove stream_options")
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

    def decoding_schema(self) -> dict[str, Any] | None:
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
    tools: list[ToolDef] | None = Field(None, max_length=MAX_TOOLS, description="Tools the "
                                        "model may call: registry tools (GET /v1/tools) or "
                                        "the client's own functions.")
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = Field(None, description="Accepted; Warden returns at "
                                             "most one call per reply.")

    @model_validator(mode="after")
    def _tool_choice_needs_tools(self) -> ChatCompletionRequest:
        if self.tool_choice not in (None, "none") and not self.tools:
            raise model_problem("tool_choice", "needs 'tools' listing the tools it may call; "
                                "add 'tools' or remove tool_choice")
        return self

    def json_schema(self) -> dict[str, Any] | None:
        return self.response_format.decoding_schema() if self.response_format else None

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
    cache: bool = Field(True, description="Warden extension: false reads no state an earlier "
                        "request left (prefix cache, retrieval pointer cache) and leaves none; "
                        "evaluation runs send it for reproducible answers.")

    @field_validator("stop")
    @classmethod
    def _stop(cls, value: str | list[str] | None) -> list[str]:
        return _normalise_stop(value)

    @model_validator(mode="after")
    def _prompt_or_messages(self) -> GenerateRequest:
        if self.prompt is None and self.messages is None:
            raise model_problem("prompt", "send exactly one of 'prompt' (a string) or "
                                "'messages' (a chat); neither was sent")
        if self.prompt is not None and self.messages is not None:
            raise model_problem("messages", "send exactly one of 'prompt' or 'messages', "
                                "not both; remove one")
        return self

    def stop_list(self) -> list[str]:
        return list(self.stop or [])


class TokenizeRequest(_Body):
    """POST /v1/tokenize: how many prompt tokens a prompt or chat costs on a model."""

    model: str | None = Field(None, description="Defaults to the first configured model.")
    prompt: str | None = None
    messages: list[ChatMessage] | None = Field(None, min_length=1, max_length=MAX_MESSAGES)

    @model_validator(mode="after")
    def _prompt_or_messages(self) -> TokenizeRequest:
        if (self.prompt is None) == (self.messages is None):
            raise model_problem("prompt", "send exactly one of 'prompt' or 'messages'")
        return self


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
