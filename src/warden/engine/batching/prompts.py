"""Chat messages to prompt text with the model's own chat template (from its GGUF metadata)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class ChatTemplate:
    formatter: Any
    stops: tuple[str, ...]

    @classmethod
    def from_model(cls, model: Any) -> ChatTemplate:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        metadata = model.metadata()
        template = metadata.get("tokenizer.chat_template")
        eos = _token_text(model, model.token_eos())
        bos = _token_text(model, model.token_bos())
        if not template:
            return cls(None, ())
        return cls(Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos),
                   (eos,) if eos else ())

    def render(self, messages: list[dict[str, Any]]) -> str:
        if self.formatter is None:
            lines = [f"{m['role']}: {m['content']}" for m in messages]
            return "\n".join(lines) + "\nassistant:"
        prompt: str = self.formatter(messages=messages).prompt
        return prompt


def _token_text(model: Any, token: int) -> str:
    if token < 0:
        return ""
    piece: bytes = model.detokenize([token], special=True)
    return piece.decode("utf-8", errors="ignore")
