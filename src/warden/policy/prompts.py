"""Prompt variants, versioned in files, and the schema every advisor answer is decoded under.

A variant is a YAML file (shipped: data/prompts/<name>.yaml; refreshed by the feedback loop:
<advisory.variants_dir>/<name>.yaml) naming its few-shot pool. The seed's "v4 hybrid" is the
rules summary + the nearest examples + the situation. Messages are built as a chat: the
system turn (instructions + rules), one user/assistant pair per example, then the situation.

`prompt_hash` is the SHA-256 of everything but the situation that shapes the prompt: the
variant file, its pool, the rules file and the answer schema. Two advisories with the same
prompt_hash were asked the same way.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from warden.policy.decision import DECISIONS
from warden.policy.pool import PoolExample, parse_pool
from warden.policy.rules import RulesEngine
from warden.policy.situation import Situation

# Each reasoning character is one literal character (no escapes, no control characters), so
# the answer is at most reasoning_max_chars + ANSWER_OVERHEAD_TOKENS tokens: max_tokens is
# set to that, and a well-formed document always fits.
REASONING_PATTERN = r'^[^"\\\x00-\x1f]*$'
ANSWER_OVERHEAD_TOKENS = 40
VARIANT_NAME = r"^[a-z0-9][a-z0-9._-]{0,63}$"


def answer_schema(reasoning_max_chars: int) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "decision": {"type": "string", "enum": [d.value for d in DECISIONS]},
            "reasoning": {"type": "string", "minLength": 1, "maxLength": reasoning_max_chars,
                          "pattern": REASONING_PATTERN},
        },
        "required": ["decision", "reasoning"],
        "additionalProperties": False,
    }


class PromptError(ValueError):
    """A variant that cannot be used; the message names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VariantFile(_Strict):
    name: str = Field(..., pattern=VARIANT_NAME)
    description: str = Field(..., min_length=1)
    parent: str | None = Field(None, description="The variant this one was refreshed from.")
    system: str = Field(..., min_length=1, description="May contain {rules}.")
    rules_scope: Literal["all", "action", "none"] = "action"
    user: str = Field(..., min_length=1, description="Must contain {situation}.")
    pool: str | None = Field(None, description="JSONL pool file beside the variant; none "
                             "means zero-shot.")
    examples_k: int | None = Field(None, ge=0, le=8, description="None: advisory.fewshot_k.")


@dataclass(frozen=True)
class PromptVariant:
    spec: VariantFile
    source: str
    pool: tuple[PoolExample, ...]
    prompt_hash: str

    @property
    def name(self) -> str:
        return self.spec.name

    def messages(self, situation: Situation, rules: RulesEngine,
                 examples: tuple[PoolExample, ...]) -> tuple[dict[str, str], ...]:
        spec = self.spec
        scope = {"all": rules.summary(), "action": rules.summary(situation.action_type),
                 "none": ""}[spec.rules_scope]
        turns = [{"role": "system", "content": spec.system.replace("{rules}", scope).strip()}]
        for example in examples:
            turns.append({"role": "user", "content": self._user(example.situation, rules)})
            turns.append({"role": "assistant", "content": example.answer_json()})
        turns.append({"role": "user", "content": self._user(situation, rules)})
        return tuple(turns)

    def _user(self, situation: Situation, rules: RulesEngine) -> str:
        return self.spec.user.replace("{situation}", situation.describe(rules.scale)).strip()


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def parse_variant(text: str, source: str, pool_text: str | None, rules: RulesEngine,
                  reasoning_max_chars: int) -> PromptVariant:
    try:
        raw = yaml.safe_load(text)
        spec = VariantFile.model_validate(raw)
    except yaml.YAMLError as exc:
        raise PromptError(f"{source}: not valid YAML: {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                             for e in exc.errors())
        raise PromptError(f"{source}: {problems}") from exc
    if "{situation}" not in spec.user:
        raise PromptError(f"{source}: user must contain {{situation}}")
    if (pool_text is None) != (spec.pool is None):
        raise PromptError(f"{source}: pool '{spec.pool}' was not found beside the variant")
    pool = parse_pool(pool_text, f"{source}: pool {spec.pool}") if pool_text else ()
    too_long = [e.id for e in pool if len(e.reasoning) > reasoning_max_chars]
    if too_long:
        raise PromptError(f"{source}: pool examples {too_long} have reasoning longer than "
                          f"advisory.reasoning_max_chars={reasoning_max_chars}")
    digest = _sha(json.dumps({"variant": _sha(text), "pool": _sha(pool_text or ""),
                              "rules": rules.sha256,
                              "schema": answer_schema(reasoning_max_chars)}, sort_keys=True))
    return PromptVariant(spec, source, pool, digest)


def shipped_variant_names() -> list[str]:
    folder = resources.files("warden.policy").joinpath("data", "prompts")
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir()
                  if p.name.endswith(".yaml"))


def load_variant(name: str, rules: RulesEngine, reasoning_max_chars: int,
                 variants_dir: Path | None = None) -> PromptVariant:
    """A refreshed variant in variants_dir wins over a shipped one of the same name."""
    if not re.fullmatch(VARIANT_NAME, name):
        # Checked before touching the disk: a name is a file stem, never a path or an essay.
        raise PromptError(f"'{name[:80]}' is not a prompt variant name: it must match "
                          f"{VARIANT_NAME}")
    local = variants_dir / f"{name}.yaml" if variants_dir else None
    if local is not None and local.is_file():
        text = local.read_text()
        pool_name = VariantFile.model_validate(yaml.safe_load(text)).pool
        pool_file = local.parent / pool_name if pool_name else None
        pool_text = pool_file.read_text() if pool_file and pool_file.is_file() else None
        return parse_variant(text, str(local), pool_text, rules, reasoning_max_chars)
    data = resources.files("warden.policy").joinpath("data")
    file = data.joinpath("prompts", f"{name}.yaml")
    if not file.is_file():
        known = ", ".join(shipped_variant_names())
        raise PromptError(f"prompt variant '{name}' not found (shipped: {known}"
                          + (f"; refreshed ones live in {variants_dir}" if variants_dir
                             else "") + ")")
    text = file.read_text()
    try:
        pool_name = VariantFile.model_validate(yaml.safe_load(text)).pool
    except ValidationError:
        pool_name = None  # parse_variant reports the problem
    shipped_pool = data.joinpath(pool_name) if pool_name else None
    pool_text = (shipped_pool.read_text() if shipped_pool is not None and shipped_pool.is_file()
                 else None)
    return parse_variant(text, f"<shipped prompts/{name}.yaml>", pool_text, rules,
                         reasoning_max_chars)
