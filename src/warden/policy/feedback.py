"""The feedback loop: reviewer decisions export as JSONL, and at least `min_corrections`
corrections (reviews where the human overrode the advisor) can refresh the few-shot pool as
a NEW prompt variant. The new variant is not active until someone activates it, and then it
starts over in shadow for every action type (its evidence is its own).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from warden.policy.decision import Decision
from warden.policy.pool import PoolExample
from warden.policy.prompts import VARIANT_NAME, PromptVariant
from warden.policy.situation import Situation

_UNWRITABLE = re.compile(r'["\\\x00-\x1f]+')


def feedback_record(correction: dict[str, Any]) -> dict[str, Any]:
    """One JSONL line (the seed's feedback format, plus the ids that trace it)."""
    review = correction["review"]
    return {"situation_id": correction["advisory_id"], "situation": correction["situation"],
            "llm_decision": correction["decision"], "human_decision": review["human_decision"],
            "match": not review["override"], "category": review["category"],
            "notes": review["notes"], "reviewer": review["reviewer"],
            "decided_at": review["decided_at"], "prompt_variant": correction["prompt_variant"],
            "prompt_hash": correction["prompt_hash"], "model": correction["model"]}


def export_lines(corrections: Sequence[dict[str, Any]]) -> list[str]:
    return [json.dumps(feedback_record(c), ensure_ascii=False, sort_keys=True)
            for c in corrections]


def writable_reasoning(text: str | None, human: Decision, category: str | None,
                       max_chars: int) -> str:
    """The reviewer's note as an example's reasoning, in characters the decoder can write."""
    cleaned = " ".join(_UNWRITABLE.sub(" ", text or "").split())
    if not cleaned:
        cleaned = f"A reviewer decided {human.value}" + (f" ({category})" if category else "")
    return cleaned[:max_chars].rstrip() or human.value


class RefreshRefused(ValueError):
    pass


@dataclass(frozen=True)
class RefreshedVariant:
    name: str
    parent: str
    variant_file: Path
    pool_file: Path
    pool_size: int
    corrections: int


def refresh_pool(parent: PromptVariant, corrections: Sequence[dict[str, Any]], *,
                 name: str, min_corrections: int, variants_dir: Path,
                 max_chars: int) -> RefreshedVariant:
    """Write <name>.yaml and <name>.pool.jsonl: the parent's pool, with each corrected
    situation added as an example of the human's decision (replacing a pool example with the
    same situation)."""
    if not re.match(VARIANT_NAME, name):
        raise RefreshRefused(f"variant name '{name}' must match {VARIANT_NAME}")
    if len(corrections) < min_corrections:
        raise RefreshRefused(f"{len(corrections)} corrections so far; refreshing the few-shot "
                             f"pool needs at least {min_corrections} "
                             "(advisory.min_corrections)")
    examples: dict[str, PoolExample] = {}
    for example in parent.pool:
        examples[_key(example.situation)] = example
    for c in corrections:
        review = c["review"]
        human = Decision(review["human_decision"])
        situation = Situation.model_validate(c["situation"])
        examples[_key(situation)] = PoolExample(
            f"c-{c['advisory_id']}", situation, human,
            writable_reasoning(review["notes"], human, review["category"], max_chars))
    variants_dir.mkdir(parents=True, exist_ok=True)
    variant_file = variants_dir / f"{name}.yaml"
    pool_file = variants_dir / f"{name}.pool.jsonl"
    if variant_file.exists():
        raise RefreshRefused(f"{variant_file} exists already; pick another --name")
    spec = parent.spec.model_dump(mode="json")
    spec.update(name=name, parent=parent.name, pool=pool_file.name,
                description=f"{parent.spec.description} Pool refreshed with "
                            f"{len(corrections)} reviewer corrections.")
    ordered = sorted(examples.values(), key=lambda e: e.id)
    pool_file.write_text("".join(json.dumps(e.plain(), ensure_ascii=False) + "\n"
                                 for e in ordered))
    variant_file.write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True))
    return RefreshedVariant(name, parent.name, variant_file, pool_file, len(ordered),
                            len(corrections))


def _key(situation: Situation) -> str:
    plain = situation.plain()
    plain.pop("actor_id", None)  # the same situation for another person is the same example
    return json.dumps(plain, sort_keys=True)
