"""Eval datasets: loading with errors that name the line and field, deterministic selection,
and doc ids ingested from another directory aligned onto the gold ids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from warden.evaluation.dataset import (
    SHIPPED_DATASET,
    DatasetError,
    EvalItem,
    align_doc_id,
    load_dataset,
    select_items,
)


def write(path: Path, rows: list[object]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_shipped_dataset_loads_with_its_documented_checksum() -> None:
    dataset = load_dataset(SHIPPED_DATASET)
    assert len(dataset.items) == 251
    assert dataset.sha256 == "70c55041e2abdda85575162594f2e20da2b743e0c43a21772aa72d28e7c5ff3a"
    assert dataset.corpora() == ("pydocs",)
    first = dataset.items[0]
    assert first.gold_doc_ids == ("pydocs/json.md",) and first.gold_spans


def test_errors_name_the_line_and_field(tmp_path: Path) -> None:
    bad = write(tmp_path / "d.jsonl", [{"id": "a", "question": "q", "gt_answer": "x"},
                                       {"id": "b", "question": "", "gt_answer": "x"}])
    with pytest.raises(DatasetError, match=r"d.jsonl:2: field 'question'"):
        load_dataset(bad)
    twice = write(tmp_path / "t.jsonl", [{"id": "a", "question": "q", "gt_answer": "x"}] * 2)
    with pytest.raises(DatasetError, match=r"appears twice"):
        load_dataset(twice)
    spans = write(tmp_path / "s.jsonl", [{"id": "a", "question": "q", "gt_answer": "x",
                                          "gold_spans": [{"doc": "d"}]}])
    with pytest.raises(DatasetError, match=r"gold_spans\[0\]"):
        load_dataset(spans)
    (tmp_path / "j.jsonl").write_text("{not json\n")
    with pytest.raises(DatasetError, match=r"j\.jsonl:1: not valid JSON"):
        load_dataset(tmp_path / "j.jsonl")
    with pytest.raises(DatasetError, match=r"cannot read"):
        load_dataset(tmp_path / "missing.jsonl")


def items() -> list[EvalItem]:
    return [EvalItem(f"q{i:02d}", "question", "answer", domain="ab"[i % 2],
                     split="dev" if i < 6 else "test") for i in range(10)]


def test_selection_is_by_id_split_domain_and_limit() -> None:
    shuffled = list(reversed(items()))
    dev = select_items(shuffled, split="dev")
    assert [i.id for i in dev] == ["q00", "q01", "q02", "q03", "q04", "q05"]
    per_domain = select_items(shuffled, split="dev", per_domain=2)
    assert [i.id for i in per_domain] == ["q00", "q01", "q02", "q03"]
    assert [i.id for i in select_items(shuffled, limit=3)] == ["q00", "q01", "q02"]
    assert [i.id for i in select_items(shuffled, ids=["q07", "q03"])] == ["q03", "q07"]
    with pytest.raises(DatasetError, match=r"splits in the dataset: dev, test"):
        select_items(shuffled, split="train")
    with pytest.raises(DatasetError, match=r"q99"):
        select_items(shuffled, ids=["q99"])


def test_doc_ids_align_on_a_path_boundary_only() -> None:
    gold = ["pydocs/json.md"]
    assert align_doc_id("pydocs/json.md", gold) == "pydocs/json.md"
    assert align_doc_id("src/warden/evaluation/data/pydocs/json.md", gold) == "pydocs/json.md"
    assert align_doc_id("/abs/pydocs/json.md", gold) == "pydocs/json.md"
    assert align_doc_id("notpydocs/json.md", gold) == "notpydocs/json.md"
    assert align_doc_id("pydocs/csv.md", gold) == "pydocs/csv.md"
