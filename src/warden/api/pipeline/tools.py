"""Tools on POST /v1/chat/completions: which offered tools are allowed, how the request is
changed for the engine, and how the model's reply becomes OpenAI `tool_calls`.

Warden never executes a tool here (OpenAI semantics: the client does); governed execution
is POST /v1/tools/{name}/execute. An offered tool is either a registry tool (its name, with
`parameters` omitted or equal to the registered schema: tiers and kill switches apply) or a
client tool (any other well-formed function: its schema must be valid and enforceable by the
decoder, and the tier must allow client tools). Every call the model writes is checked
against its schema, counted and audited ("tool.call"); a call that does not conform is never
returned as a tool call (the text comes back as content, finish_reason "stop") and is
recorded as audit kind "tool.invalid_call".
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal

from warden.api import sse
from warden.api.errors import APIError
from warden.api.pipeline.delivery import deltas
from warden.api.pipeline.generation import Generation
from warden.api.pipeline.request import openai_finish_reason, usage_dict
from warden.api.protocol import NamedToolChoice, ToolDef
from warden.engine.base import Finished, GenerationRequest, TextDelta
from warden.safety.tools import calls, prompt
from warden.safety.tools.registry import OfferedTool
from warden.safety.tools.service import Caller, ToolService

Choice = Literal["none", "auto", "required", "named"]


@dataclass(frozen=True)
class ChatReply:
    """What goes into choices[0]: message fields and the finish reason."""

    message: dict[str, Any]
    finish_reason: str
    tool_call_invalid: bool = False


@dataclass
class ToolPlan:
    service: ToolService
    caller: Caller
    offered: dict[str, OfferedTool]
    choice: Choice
    forced: list[OfferedTool]

    @classmethod
    def from_body(cls, tools: list[ToolDef] | None,
                  tool_choice: str | NamedToolChoice | None, service: ToolService,
                  caller: Caller, *, client_tools: bool) -> ToolPlan | None:
        """None when the request offers no tools; a 4xx naming the tool and the fix when it
        offers one the caller may not use (ToolProblem or APIError)."""
        if not tools:
            return None
        offered: dict[str, OfferedTool] = {}
        for i, spec in enumerate(tools):
            name, parameters = spec.function.name, spec.function.parameters
            param = f"tools.{i}.function"
            if name in offered:
                raise APIError(400, f"The tool '{name}' is offered twice; offer each tool once.",
                               code="invalid_value", param=f"{param}.name")
            registered = service.registry.get(name)
            if registered is not None and parameters in (None, registered.parameters):
                offered[name] = service.check_offer(name, caller.tier, f"{param}.name")
            else:
                offered[name] = service.check_client_offer(
                    name, spec.function.description, parameters, allowed=client_tools,
                    param=param)
        choice: Choice
        if isinstance(tool_choice, NamedToolChoice):
            name = tool_choice.function.name
            if name not in offered:
                raise APIError(400, f"tool_choice names '{name}', which is not among the "
                                    f"offered tools ({', '.join(offered)}); add it to 'tools'.",
                               code="invalid_value", param="tool_choice")
            choice, forced = "named", [offered[name]]
        else:
            choice = tool_choice or "auto"  # type: ignore[assignment]
            forced = list(offered.values()) if choice == "required" else []
        return cls(service, caller, offered, choice, forced)

    @property
    def may_call(self) -> bool:
        return self.choice != "none"

    def apply(self, request: GenerationRequest) -> GenerationRequest:
        """Describe the tools to the model; decode under the call schema when one is due."""
        if not self.may_call:
            return request
        if self.forced:
            if request.json_schema is not None:
                raise APIError(400, "response_format cannot be combined with a required tool "
                                    "call (tool_choice 'required' or a named function): the "
                                    "call has its own schema. Remove one of them.",
                               code="invalid_value", param="response_format")
            if request.sampling.stop:
                raise APIError(400, "stop cannot be combined with a required tool call: it "
                                    "could cut the call short. Remove stop.",
                               code="invalid_value", param="stop")
        shown = self.forced if self.choice == "named" else list(self.offered.values())
        text = prompt.tools_system_text(shown, "auto" if self.choice == "auto" else "required")
        messages = prompt.with_system_text(request.messages or (), text)
        schema = calls.decode_schema(self.forced) if self.forced else request.json_schema
        return dataclasses.replace(request, messages=messages, json_schema=schema)

    async def reply(self, text: str, finished: Finished) -> ChatReply:
        """The assistant message for the model's whole output."""
        finish = openai_finish_reason(finished.finish_reason)
        as_text = ChatReply({"role": "assistant", "content": text, "refusal": None}, finish)
        if not self.may_call or finished.finish_reason not in ("stop", "length"):
            return as_text
        candidates: dict[str, OfferedTool] = \
            {t.name: t for t in self.forced} if self.forced else self.offered
        parsed = calls.parse_call(text, candidates) if finished.finish_reason == "stop" \
            else None
        if parsed is None:
            if self.forced:
                await self.service.record_unparsed(list(candidates), self.caller)
                return dataclasses.replace(as_text, tool_call_invalid=True)
            return as_text
        tool = candidates[parsed.name]
        problems = await self.service.check_generated(tool, parsed.arguments, self.caller)
        if problems:
            return ChatReply(as_text.message, "stop", tool_call_invalid=True)
        call = calls.tool_call(calls.new_call_id(), tool.name, parsed.arguments)
        return ChatReply({"role": "assistant", "content": None, "tool_calls": [call],
                          "refusal": None}, "tool_calls")

    async def frames(self, generation: Generation, chunk_id: str, created: int, model: str,
                     include_usage: bool) -> AsyncIterator[bytes]:
        """SSE frames. A call is sent whole in one tool_calls delta once decoding ends; in
        auto mode plain text streams as usual as soon as it can no longer be a call."""

        def chunk(delta: dict[str, Any], finish: str | None) -> bytes:
            return sse.event(sse.chat_chunk(chunk_id=chunk_id, created=created, model=model,
                                            delta=delta, finish_reason=finish,
                                            include_usage_field=include_usage))

        yield chunk({"role": "assistant", "content": ""}, None)
        held: list[str] = []
        streaming_text = False
        async for event in deltas(generation):
            if isinstance(event, TextDelta):
                if streaming_text:
                    yield chunk({"content": event.text}, None)
                    continue
                held.append(event.text)
                if not self.forced and not calls.may_be_call("".join(held)):
                    streaming_text = True
                    yield chunk({"content": "".join(held)}, None)
                    held.clear()
                continue
            if streaming_text:
                yield chunk({}, openai_finish_reason(event.finish_reason))
            else:
                reply = await self.reply("".join(held), event)
                calls_out = reply.message.get("tool_calls")
                if calls_out:
                    yield chunk({"tool_calls": [{"index": i, **c}
                                                for i, c in enumerate(calls_out)]}, None)
                elif reply.message["content"]:
                    yield chunk({"content": reply.message["content"]}, None)
                yield chunk({}, reply.finish_reason)
            if include_usage:
                yield sse.event(sse.usage_chunk(chunk_id=chunk_id, created=created, model=model,
                                                object_="chat.completion.chunk",
                                                usage=usage_dict(event.usage)))
        yield sse.DONE
