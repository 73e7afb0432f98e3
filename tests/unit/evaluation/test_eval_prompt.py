"""The eval prompt and the shipped few-shot pool: exact messages, stable hashes that change
with what they cover, and a pool that does not leak the eval set."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from warden.evaluation.dataset import SHIPPED_DATASET, DatasetError, EvalItem, load_dataset
from warden.evaluation.fewshot import FewShotSelector, TextItem, normalize_text
from warden.evaluation.prompt import (
    SHIPPED_POOL,
    SYSTEM_PROMPT,
    PoolExample,
    build_messages,
    few_shot_ids_in_use,
    load_pool,
    prepare_prompts,
    run_prompt_hash,
)


def test_the_question_is_alone_in_the_user_turn_and_examples_go_to_the_system() -> None:
    examples = [PoolExample("fp-1", "Q one?", "A one [1]."), PoolExample("fp-2", "Q two?", "A")]
    messages = build_messages("What is X?", examples)
    assert messages[1] == {"role": "user", "content": "What is X?"}
    system = messages[0]["content"]
    assert system.startswith(SYSTEM_PROMPT)
    assert system.index("Question: Q one?") < system.index("Question: Q two?")
    assert "Answer: A one [1]." in system
    assert build_messages("What is X?", [])[0]["content"] == SYSTEM_PROMPT


def test_hashes_are_stable_and_cover_messages_and_max_tokens() -> None:
    pool = [PoolExample("fp-1", "alpha?", "a"), PoolExample("fp-2", "beta?", "b")]
    items = [EvalItem("q1", "alpha question", "x"), EvalItem("q2", "beta question", "y")]

    def select(question: str, k: int) -> tuple[str, ...]:
        return ("fp-2", "fp-1")[:k] if "beta" in question else ("fp-1",)

    prompts = prepare_prompts(items, pool, 2, select)
    again = prepare_prompts(list(reversed(items)), pool, 2, select)
    assert {i: p.prompt_hash for i, p in prompts.items()} == \
        {i: p.prompt_hash for i, p in again.items()}
    assert prompts["q2"].few_shot_ids == ("fp-2", "fp-1")
    assert few_shot_ids_in_use(prompts) == ("fp-1", "fp-2")
    assert run_prompt_hash(prompts, 64) == run_prompt_hash(again, 64)
    assert run_prompt_hash(prompts, 64) != run_prompt_hash(prompts, 65)
    without = prepare_prompts(items, pool, 0, select)
    assert without["q1"].few_shot_ids == () and \
        without["q1"].prompt_hash != prompts["q1"].prompt_hash


def test_pool_file_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "pool.jsonl"
    path.write_text(json.dumps({"id": "a", "question": "q"}) + "\n")
    with pytest.raises(DatasetError, match=r"pool\.jsonl:1: a pool example needs"):
        load_pool(path)


def test_shipped_pool_is_curated_and_leaks_nothing_from_the_eval_set() -> None:
    pool, sha = load_pool(SHIPPED_POOL)
    assert len(pool) >= 30 and len({p.id for p in pool}) == len(pool) and len(sha) == 64
    dataset = load_dataset(SHIPPED_DATASET)
    eval_texts = {normalize_text(i.question) for i in dataset.items}
    assert not [p.id for p in pool if normalize_text(p.question) in eval_texts]
    corpus = Path(SHIPPED_DATASET).parent / "pydocs"
    modules = {path.stem for path in corpus.glob("*.md")}
    assert all(json.loads(line)["module"] in modules
               for line in SHIPPED_POOL.read_text().splitlines())


def test_selector_with_a_fake_embedder_picks_by_similarity_and_guards() -> None:
    vocabulary = ["json", "csv", "heap", "path"]

    def embed(texts: list[str]) -> np.ndarray:
        return np.array([[float(w in t.lower()) + 0.01 for w in vocabulary] for t in texts])

    pool = [TextItem("p-json", "json question"), TextItem("p-csv", "csv question"),
            TextItem("p-leak", "What is a heap?")]
    selector = FewShotSelector(pool, [TextItem("e1", "what is a heap")], embed)
    assert selector.report.n_excluded == 1 and "p-leak" not in selector.ids
    assert selector.select("a json thing", 1) == ("p-json",)
