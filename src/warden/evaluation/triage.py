"""Triage of a run from its results.jsonl lines: the worst items, a per-domain breakdown and
the failure classes (retrieval miss, refusal, reader ignored gold, wrong answer, answered
an unanswerable question, request error). Pure: lines in, plain dicts out.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

Line = Mapping[str, Any]
BREAKDOWN = ("token_f1", "exact_match", "gold_served", "reader_used_gold",
             "oracle_retrieval_hit_prefilter")


def _figure(line: Line, name: str) -> float | None:
    for group in ("claim_metrics", "metrics"):
        value = (line.get(group) or {}).get(name)
        if isinstance(value, int | float):
            return float(value)
    return None


def badness(line: Line) -> tuple[float, float, str]:
    """Sort key, worst first: request errors, then low claim F1 (when judged), then low
    token F1; ties by id."""
    if line.get("error"):
        return (-1.0, -1.0, str(line.get("id")))
    claim_f1 = _figure(line, "f1")
    token = _figure(line, "token_f1") or 0.0
    return (claim_f1 if claim_f1 is not None else token, token, str(line.get("id")))


def worst_items(lines: Sequence[Line], n: int = 10) -> list[dict[str, Any]]:
    ranked = sorted((line for line in lines if line.get("failure_class") != "ok"), key=badness)
    return [{"id": line.get("id"), "domain": line.get("domain"),
             "failure_class": line.get("failure_class"), "question": line.get("question"),
             "answer": line.get("answer"), "gt_answer": line.get("gt_answer"),
             "token_f1": _figure(line, "token_f1"), "claim_f1": _figure(line, "f1"),
             "error": line.get("error")} for line in ranked[:n]]


def _mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(float(np.mean(present)), 4) if present else None


def per_domain(lines: Sequence[Line]) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[Line]] = defaultdict(list)
    for line in lines:
        groups[str(line.get("domain") or "-")].append(line)
    out: dict[str, dict[str, Any]] = {}
    for domain in sorted(groups):
        rows = groups[domain]
        classes = Counter(str(r.get("failure_class")) for r in rows)
        out[domain] = {"n": len(rows), **{name: _mean([_figure(r, name) for r in rows])
                                          for name in BREAKDOWN},
                       "claim_f1": _mean([_figure(r, "f1") for r in rows]),
                       "ok": classes.get("ok", 0)}
    return out


def failure_classes(lines: Sequence[Line], examples: int = 5) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[str]] = defaultdict(list)
    for line in sorted(lines, key=lambda row: str(row.get("id"))):
        groups[str(line.get("failure_class"))].append(str(line.get("id")))
    return {name: {"count": len(ids), "share": round(len(ids) / len(lines), 4),
                   "examples": ids[:examples]}
            for name, ids in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))}


def triage(lines: Sequence[Line], worst: int = 10) -> dict[str, Any]:
    return {"worst_items": worst_items(lines, worst), "per_domain": per_domain(lines),
            "failure_classes": failure_classes(lines) if lines else {}}
