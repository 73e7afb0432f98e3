"""Eval datasets: JSONL, one item per line, read and checked; items selected by split.

A line is an object with `id`, `question`, `gt_answer` and optionally `corpus`,
`gold_doc_ids`, `gold_chunk_ids`, `gold_spans` ([{"doc", "text"}] or strings), `domain`,
`split`, `kind`, `module`. A bad line is an error naming the line, the field and the fix.

Document ids: `warden index ingest PATH` names a document by the path it was reached by, so
the same file ingested from another directory carries a longer prefix
(`src/warden/evaluation/data/pydocs/json.md` for the gold id `pydocs/json.md`).
`align_doc_id` maps such an id onto the gold id it ends with, on a path boundary.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SHIPPED_DATASET = Path(__file__).resolve().parent / "data" / "pydocs_qa.jsonl"
UNANSWERABLE = "unanswerable"
_STRING_LISTS = ("gold_doc_ids", "gold_chunk_ids")
_OPTIONAL_TEXT = ("corpus", "domain", "split", "kind", "module")


class DatasetError(ValueError):
    """The dataset file is unusable; the message names the line and field."""


@dataclass(frozen=True)
class EvalItem:
    id: str
    question: str
    gt_answer: str
    corpus: str | None = None
    gold_doc_ids: tuple[str, ...] = ()
    gold_chunk_ids: tuple[str, ...] = ()
    gold_spans: tuple[str, ...] = ()  # exact texts that support the answer
    domain: str | None = None
    split: str | None = None
    kind: str | None = None

    @property
    def answerable(self) -> bool:
        return self.kind != UNANSWERABLE


@dataclass(frozen=True)
class Dataset:
    path: Path
    sha256: str
    items: tuple[EvalItem, ...]

    @property
    def id(self) -> str:
        return self.path.name

    def corpora(self, items: Iterable[EvalItem] | None = None) -> tuple[str, ...]:
        return tuple(sorted({i.corpus for i in (items or self.items) if i.corpus}))


def _text(row: dict[str, Any], key: str, where: str, *, required: bool) -> str | None:
    value = row.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        need = "a non-empty string" if required else "a non-empty string or absent"
        raise DatasetError(f"{where}: field '{key}' must be {need}, got {value!r}")
    return value


def _strings(row: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = row.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise DatasetError(f"{where}: field '{key}' must be a list of non-empty strings")
    return tuple(value)


def _spans(row: dict[str, Any], where: str) -> tuple[str, ...]:
    value = row.get("gold_spans") or []
    if not isinstance(value, list):
        raise DatasetError(f"{where}: field 'gold_spans' must be a list")
    spans: list[str] = []
    for i, span in enumerate(value):
        text = span.get("text") if isinstance(span, dict) else span
        if not isinstance(text, str) or not text:
            raise DatasetError(f"{where}: gold_spans[{i}] must be a string or "
                               "{\"doc\": ..., \"text\": ...} with non-empty text")
        spans.append(text)
    return tuple(spans)


def parse_item(row: Any, where: str) -> EvalItem:
    if not isinstance(row, dict):
        raise DatasetError(f"{where}: expected a JSON object per line, got "
                           f"{type(row).__name__}")
    item_id = _text(row, "id", where, required=True)
    question = _text(row, "question", where, required=True)
    answer = _text(row, "gt_answer", where, required=True)
    assert item_id is not None and question is not None and answer is not None
    optional = {key: _text(row, key, where, required=False) for key in _OPTIONAL_TEXT}
    lists = {key: _strings(row, key, where) for key in _STRING_LISTS}
    return EvalItem(item_id, question, answer, optional["corpus"], lists["gold_doc_ids"],
                    lists["gold_chunk_ids"], _spans(row, where), optional["domain"],
                    optional["split"], optional["kind"])


def load_dataset(path: Path) -> Dataset:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read it ({exc.strerror or exc}); pass "
                           "--dataset FILE.jsonl") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise DatasetError(f"{path}: not UTF-8 text; a dataset is JSONL") from None
    items: list[EvalItem] = []
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path.name}:{number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{where}: not valid JSON ({exc.msg}, column {exc.colno})"
                               ) from None
        item = parse_item(row, where)
        if item.id in seen:
            raise DatasetError(f"{where}: id {item.id!r} appears twice; ids must be unique")
        seen.add(item.id)
        items.append(item)
    if not items:
        raise DatasetError(f"{path}: no items; a dataset has one JSON object per line")
    return Dataset(path, hashlib.sha256(raw).hexdigest(), tuple(items))


def select_items(items: Sequence[EvalItem], *, split: str | None = None,
                 ids: Sequence[str] | None = None, limit: int | None = None,
                 per_domain: int | None = None) -> tuple[EvalItem, ...]:
    """Items in id order: of one split, or the given ids, then at most `per_domain` of each
    domain (the first by id) and at most `limit` in all. Deterministic."""
    chosen = sorted(items, key=lambda i: i.id)
    if split is not None:
        chosen = [i for i in chosen if i.split == split]
        if not chosen:
            splits = sorted({i.split for i in items if i.split})
            raise DatasetError(f"--split {split}: no item has that split; splits in the "
                               f"dataset: {', '.join(splits) or 'none'}")
    if ids:
        known = {i.id for i in chosen}
        missing = [i for i in ids if i not in known]
        if missing:
            raise DatasetError(f"--ids: {', '.join(missing[:5])} not in the selection")
        wanted = set(ids)
        chosen = [i for i in chosen if i.id in wanted]
    if per_domain is not None:
        taken: dict[str | None, int] = defaultdict(int)
        kept = []
        for item in chosen:
            if taken[item.domain] < per_domain:
                taken[item.domain] += 1
                kept.append(item)
        chosen = kept
    if limit is not None:
        chosen = chosen[:limit]
    return tuple(chosen)


def align_doc_id(doc_id: str, gold_ids: Iterable[str]) -> str:
    """The gold id this server doc id names (equal, or ending with "/" + it), else itself."""
    for gold in gold_ids:
        if doc_id == gold or doc_id.endswith("/" + gold):
            return gold
    return doc_id
