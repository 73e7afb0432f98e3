"""The eval prompt: a system prompt, a few-shot block picked per question, the question.

The question goes alone in the user turn, because the server searches with the last user
message. The few-shot block goes in the system message; the server appends its own
retrieval instruction and the numbered sources after it.

Every item's exact messages are hashed (`prompt_hash`), and the run's prompt_hash covers the
system prompt, the template version, max_tokens and every item's prompt_hash, so a manifest
pins every prompt that was sent. Few-shot examples are chosen by `fewshot.FewShotSelector`
(deterministic KNN behind the leakage guard) over a curated pool.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from warden.evaluation.dataset import DatasetError, EvalItem

SHIPPED_POOL = Path(__file__).resolve().parent / "data" / "fewshot_pool.jsonl"
TEMPLATE_VERSION = "warden-eval-prompt/1"
SYSTEM_PROMPT = ("You answer questions about the Python standard library from the numbered "
                 "sources you are given. Answer in one or two short sentences and cite the "
                 "sources you used like [1]. If the sources do not contain the answer, reply "
                 "exactly: The documentation does not say.")
EXAMPLES_HEADER = "Examples of good answers (their sources are not shown here):"


@dataclass(frozen=True)
class PoolExample:
    id: str
    question: str
    answer: str


@dataclass(frozen=True)
class ItemPrompt:
    item_id: str
    messages: tuple[dict[str, str], ...]
    few_shot_ids: tuple[str, ...]
    prompt_hash: str


def sha256_json(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def load_pool(path: Path) -> tuple[tuple[PoolExample, ...], str]:
    """The pool's examples and the file's sha256."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the few-shot pool ({exc.strerror or exc}); "
                           "pass --few-shot-pool FILE or --few-shot 0") from None
    examples = []
    for number, line in enumerate(raw.decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path.name}:{number}: not valid JSON ({exc.msg})") from None
        fields = [row.get(k) if isinstance(row, dict) else None
                  for k in ("id", "question", "answer")]
        texts = [f for f in fields if isinstance(f, str) and f.strip()]
        if len(texts) != len(fields):
            raise DatasetError(f"{path.name}:{number}: a pool example needs non-empty string "
                               "fields id, question and answer")
        examples.append(PoolExample(*texts))
    return tuple(examples), hashlib.sha256(raw).hexdigest()


def few_shot_block(examples: Sequence[PoolExample]) -> str:
    lines = [EXAMPLES_HEADER]
    for example in examples:
        lines += ["", f"Question: {example.question}", f"Answer: {example.answer}"]
    return "\n".join(lines)


def build_messages(question: str, examples: Sequence[PoolExample]
                   ) -> tuple[dict[str, str], ...]:
    system = SYSTEM_PROMPT if not examples else f"{SYSTEM_PROMPT}\n\n{few_shot_block(examples)}"
    return ({"role": "system", "content": system}, {"role": "user", "content": question})


def item_prompt(item: EvalItem, examples: Sequence[PoolExample]) -> ItemPrompt:
    messages = build_messages(item.question, examples)
    return ItemPrompt(item.id, messages, tuple(e.id for e in examples),
                      sha256_json(list(messages)))


Select = Callable[[str, int], tuple[str, ...]]


def prepare_prompts(items: Sequence[EvalItem], pool: Sequence[PoolExample], k: int,
                    select: Select | None) -> dict[str, ItemPrompt]:
    """Every item's prompt; `select(question, k)` returns pool ids (None when k is 0)."""
    by_id = {example.id: example for example in pool}
    prompts: dict[str, ItemPrompt] = {}
    for item in items:
        ids = select(item.question, k) if select is not None and k > 0 else ()
        prompts[item.id] = item_prompt(item, [by_id[i] for i in ids])
    return prompts


def run_prompt_hash(prompts: dict[str, ItemPrompt], max_tokens: int) -> str:
    """The manifest's prompt_hash: template, system prompt, max_tokens, every item's hash."""
    return sha256_json({"template": TEMPLATE_VERSION, "system_prompt": SYSTEM_PROMPT,
                        "examples_header": EXAMPLES_HEADER, "max_tokens": max_tokens,
                        "items": {i: p.prompt_hash for i, p in sorted(prompts.items())}})


def few_shot_ids_in_use(prompts: dict[str, ItemPrompt]) -> tuple[str, ...]:
    """Distinct example ids in order of first use, items taken by id."""
    seen: dict[str, None] = {}
    for _, prompt in sorted(prompts.items()):
        seen.update(dict.fromkeys(prompt.few_shot_ids))
    return tuple(seen)
