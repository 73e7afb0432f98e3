"""`warden eval compare A B`: per-metric deltas (B - A) on the items both runs answered, with
paired bootstrap intervals, and what differs between the two manifests.

Paired: the difference is taken per item and the items are resampled, so the interval
reflects how consistently B beats A on the same questions, not the spread of two separate
samples. A delta whose interval excludes 0 is called better or worse (by the metric's
direction); otherwise "no clear difference".
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from warden.evaluation.stats import bootstrap_ci

LOWER_IS_BETTER = frozenset({"latency_s", "hallucination", "noise_sensitivity_in_relevant",
                             "noise_sensitivity_in_irrelevant"})


class RunDirError(ValueError):
    """A run directory is missing a file or holds a malformed one."""


@dataclass(frozen=True)
class RunDir:
    path: Path
    manifest: dict[str, Any]
    lines: dict[str, dict[str, Any]]  # item id -> results.jsonl line


def load_run(path: Path) -> RunDir:
    manifest_path, results_path = path / "manifest.yaml", path / "results.jsonl"
    for needed in (manifest_path, results_path):
        if not needed.is_file():
            raise RunDirError(f"{needed}: missing; RUN_DIR is what `warden eval run` wrote "
                              "(manifest.yaml, results.jsonl, report.json)")
    try:
        manifest = yaml.safe_load(manifest_path.read_text(encoding="utf-8"))
        lines = [json.loads(line) for line in
                 results_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise RunDirError(f"{path}: unreadable run files ({exc})") from None
    if not isinstance(manifest, dict):
        raise RunDirError(f"{manifest_path}: not a manifest mapping")
    return RunDir(path, manifest, {str(line["id"]): line for line in lines})


def item_values(line: Mapping[str, Any]) -> dict[str, float]:
    values: dict[str, float] = {}
    for group in ("metrics", "claim_metrics"):
        for name, value in (line.get(group) or {}).items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                values[name] = float(value)
    return values


def manifest_differences(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    keys = sorted((set(a) | set(b)) - {"manifest_hash"})
    return [key for key in keys if a.get(key) != b.get(key)]


def _call(name: str, low: float, high: float) -> str:
    if low <= 0 <= high:
        return "no clear difference"
    better = high < 0 if name in LOWER_IS_BETTER else low > 0
    return "B better" if better else "B worse"


def compare_runs(a: RunDir, b: RunDir, *, seed: int = 0, n_resamples: int = 2000
                 ) -> dict[str, Any]:
    shared = sorted(set(a.lines) & set(b.lines))
    per_metric: dict[str, list[tuple[float, float]]] = {}
    for item_id in shared:
        va, vb = item_values(a.lines[item_id]), item_values(b.lines[item_id])
        for name in sorted(set(va) & set(vb)):
            per_metric.setdefault(name, []).append((va[name], vb[name]))
    rows = []
    for name, pairs in sorted(per_metric.items()):
        xs = np.array([p[0] for p in pairs])
        ys = np.array([p[1] for p in pairs])
        diffs = ys - xs
        interval = bootstrap_ci(diffs, seed=seed, n_resamples=n_resamples)
        rows.append({"metric": name, "n": len(pairs), "a": round(float(xs.mean()), 4),
                     "b": round(float(ys.mean()), 4), "delta": round(interval.point, 4),
                     "low": round(interval.low, 4), "high": round(interval.high, 4),
                     "call": _call(name, interval.low, interval.high) if len(pairs) > 1
                     else "one item: no interval"})
    answers_changed = sum(1 for i in shared if a.lines[i].get("answer") !=
                          b.lines[i].get("answer"))
    return {"a": str(a.path), "b": str(b.path), "paired_items": len(shared),
            "only_in_a": len(set(a.lines) - set(b.lines)),
            "only_in_b": len(set(b.lines) - set(a.lines)), "answers_changed": answers_changed,
            "same_manifest": a.manifest.get("manifest_hash") == b.manifest.get("manifest_hash"),
            "manifest_differences": manifest_differences(a.manifest, b.manifest),
            "metrics": rows}


def table_rows(result: Mapping[str, Any]) -> Sequence[tuple[str, ...]]:
    return [(r["metric"], str(r["n"]), f"{r['a']:.3f}", f"{r['b']:.3f}", f"{r['delta']:+.3f}",
             f"[{r['low']:+.3f}, {r['high']:+.3f}]", r["call"]) for r in result["metrics"]]
