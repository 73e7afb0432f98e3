"""Arms and prompt versions (pure, apart from reading a few-shot file once at start).

An arm is a complete serving recipe: a model entry, a prompt version and an index version
per corpus. Its hash covers all three, so a verdict, a traffic sample or an audit record
names exactly what was served. A prompt version is a system prompt plus few-shot examples
applied by a named template; its hash covers the texts and the template.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from warden.config.rollouts import ArmConfig, PromptVersionConfig
from warden.engine.base import GenerationRequest

CHAMPION, CHALLENGER = "champion", "challenger"
ARM_NAMES = (CHAMPION, CHALLENGER)
EXAMPLES_HEADER = "Examples:"


class RolloutError(ValueError):
    """A rollout request or setting that cannot be honoured; the message says the fix."""


def sha256_json(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Example:
    id: str
    question: str
    answer: str


@dataclass(frozen=True)
class PromptVersion:
    name: str
    system: str | None
    examples: tuple[Example, ...]
    template: str
    hash: str

    def text(self) -> str:
        """What template warden-arm/1 puts in front of the caller's system message."""
        parts = [self.system] if self.system else []
        if self.examples:
            lines = [EXAMPLES_HEADER]
            for example in self.examples:
                lines += ["", f"Question: {example.question}", f"Answer: {example.answer}"]
            parts.append("\n".join(lines))
        return "\n\n".join(parts)

    def apply(self, request: GenerationRequest) -> GenerationRequest:
        """Messages: merged into a leading system message (some chat templates accept only
        one, first) or inserted as one; a raw prompt: prefixed."""
        text = self.text()
        if not text:
            return request
        if request.prompt is not None:
            return dataclasses.replace(request, prompt=f"{text}\n\n{request.prompt}")
        messages = [dict(m) for m in request.messages or ()]
        if messages and messages[0].get("role") == "system" and \
                isinstance(messages[0].get("content"), str):
            messages[0]["content"] = f"{text}\n\n{messages[0]['content']}"
        else:
            messages.insert(0, {"role": "system", "content": text})
        return dataclasses.replace(request, messages=tuple(messages))


def _pool(path: str, where: str) -> list[Example]:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise RolloutError(f"{where}.few_shot_file: cannot read {path} "
                           f"({exc.strerror or exc}); fix the path or remove it") from None
    examples = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            examples.append(Example(str(row["id"]), str(row["question"]), str(row["answer"])))
        except (ValueError, KeyError, TypeError):
            raise RolloutError(f"{where}.few_shot_file: {path}:{number} is not a JSON object "
                               "with id, question and answer") from None
    return examples


def prompt_version(name: str, config: PromptVersionConfig) -> PromptVersion:
    where = f"rollouts.prompts.{name}"
    examples = [Example(e.id, e.question, e.answer) for e in config.few_shot]
    if config.few_shot_file:
        examples += _pool(config.few_shot_file, where)
    digest = sha256_json({"template": config.template, "system": config.system,
                          "examples": [dataclasses.asdict(e) for e in examples]})
    return PromptVersion(name, config.system, tuple(examples), config.template, digest)


def prompt_versions(configs: Mapping[str, PromptVersionConfig]) -> dict[str, PromptVersion]:
    return {name: prompt_version(name, config) for name, config in configs.items()}


@dataclass(frozen=True)
class Arm:
    """What one side of a rollout serves. `indexes` pins corpora to versions; a corpus it
    does not name follows the active pointer."""

    model: str
    prompt: str | None = None
    prompt_hash: str | None = None
    indexes: Mapping[str, int] = field(default_factory=dict)

    @property
    def hash(self) -> str:
        return sha256_json(self.plain())

    @property
    def short_hash(self) -> str:
        return self.hash[:12]

    def plain(self) -> dict[str, Any]:
        return {"model": self.model, "prompt": self.prompt, "prompt_hash": self.prompt_hash,
                "indexes": dict(sorted(self.indexes.items()))}

    @classmethod
    def from_plain(cls, raw: Mapping[str, Any]) -> Arm:
        return cls(str(raw["model"]), raw.get("prompt"), raw.get("prompt_hash"),
                   {str(c): int(v) for c, v in (raw.get("indexes") or {}).items()})

    @classmethod
    def from_config(cls, config: ArmConfig, prompts: Mapping[str, PromptVersion]) -> Arm:
        prompt = prompts.get(config.prompt) if config.prompt else None
        if config.prompt and prompt is None:
            raise RolloutError(f"prompt '{config.prompt}' is not defined under "
                               "rollouts.prompts")
        return cls(config.model, config.prompt, prompt.hash if prompt else None,
                   dict(config.indexes))

    def with_indexes(self, pinned: Mapping[str, int]) -> Arm:
        """This arm with `pinned` corpora added (its own pins win)."""
        return dataclasses.replace(self, indexes={**pinned, **self.indexes})

    def describe(self) -> str:
        indexes = ", ".join(f"{c}@v{v}" for c, v in sorted(self.indexes.items())) or \
            "active pointers"
        return f"{self.model} + prompt {self.prompt or 'none'} + {indexes}"
