"""Labelled-set helpers for the safety tests (tests/data/safety/*.jsonl)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[2] / "data" / "safety"


def labelled(category: str, split: str | None = None) -> list[dict[str, Any]]:
    with (DATA / f"{category}.jsonl").open(encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [r for r in rows if split is None or r["split"] == split]


def labelled_tune(category: str) -> list[dict[str, Any]]:
    """The separate tuning set tests/data/safety/dev/<category>.jsonl (split "tune")."""
    with (DATA / "dev" / f"{category}.jsonl").open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def rates(flags: list[bool], labels: list[int]) -> tuple[float, float]:
    """(recall, false-positive rate) of boolean predictions against 0/1 labels."""
    tp = sum(f and y for f, y in zip(flags, labels, strict=True))
    fp = sum(f and not y for f, y in zip(flags, labels, strict=True))
    positives = sum(labels)
    return tp / positives, fp / (len(labels) - positives)
