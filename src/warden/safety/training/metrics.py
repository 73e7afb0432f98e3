"""Aggregate figures for a binary gate: rates with Wilson 95% intervals, by slice.

Only counts and rates leave these functions, never a row: the held-out evaluation reports
them and nothing else.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import numpy as np

Z95 = 1.959964


def wilson(successes: int, trials: int, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval of successes/trials (None when there are no trials)."""
    if trials <= 0:
        return None
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4)


def rate(successes: int, trials: int) -> dict[str, Any]:
    return {"value": round(successes / trials, 4) if trials else None,
            "k": successes, "n": trials, "ci95": wilson(successes, trials)}


def confusion(labels: Iterable[int], flags: Iterable[bool]) -> dict[str, Any]:
    tp = fp = fn = tn = 0
    for y, f in zip(labels, flags, strict=True):
        if f and y:
            tp += 1
        elif f:
            fp += 1
        elif y:
            fn += 1
        else:
            tn += 1
    return {"n": tp + fp + fn + tn, "positives": tp + fn, "negatives": fp + tn,
            "tp": tp, "fp": fp, "fn": fn, "tn": tn,
            "recall": rate(tp, tp + fn), "fpr": rate(fp, fp + tn),
            "precision": rate(tp, tp + fp)}


class Labelled(Protocol):
    @property
    def label(self) -> int: ...


def sliced(rows: Sequence[Any], flags: Sequence[bool], keys: Iterable[str]
           ) -> dict[str, dict[str, Any]]:
    """Confusion figures per value of each attribute in `keys` (lang, kind, source...)."""
    out: dict[str, dict[str, Any]] = {}
    for key in keys:
        groups: dict[str, list[int]] = defaultdict(list)
        for i, row in enumerate(rows):
            value = row.get(key) if isinstance(row, dict) else getattr(row, key, None)
            if value is not None:
                groups[str(value)].append(i)
        out[key] = {value: _compact(confusion([_label(rows[i]) for i in idx],
                                              [bool(flags[i]) for i in idx]))
                    for value, idx in sorted(groups.items())}
    return out


def _label(row: Any) -> int:
    return int(row["label"] if isinstance(row, dict) else row.label)


def _compact(c: dict[str, Any]) -> dict[str, Any]:
    return {"n": c["n"], "tp": c["tp"], "fp": c["fp"], "fn": c["fn"], "tn": c["tn"],
            "recall": c["recall"]["value"], "fpr": c["fpr"]["value"]}


def binary_report(rows: Sequence[Any], flags: np.ndarray | Sequence[bool],
                  scores: np.ndarray | None = None) -> dict[str, Any]:
    """The category's own rows overall and by slice; borrowed negatives' FPR apart."""
    own = [i for i, r in enumerate(rows) if getattr(r, "own", True)]
    borrowed = [i for i, r in enumerate(rows) if not getattr(r, "own", True)]
    own_rows = [rows[i] for i in own]
    own_flags = [bool(flags[i]) for i in own]
    report = confusion([_label(r) for r in own_rows], own_flags)
    report["slices"] = sliced(own_rows, own_flags, ("lang", "kind", "source"))
    if borrowed:
        report["borrowed_negatives_fpr"] = rate(sum(bool(flags[i]) for i in borrowed),
                                                len(borrowed))
    if scores is not None and own:
        from sklearn.metrics import roc_auc_score

        labels = [_label(r) for r in own_rows]
        if 0 < sum(labels) < len(labels):
            report["auc"] = round(float(roc_auc_score(labels, np.asarray(scores)[own])), 4)
    return report
