"""Safety benchmark: detector quality on the labelled sets and guard-pipeline latency.

    .venv/bin/python benchmarks/safety.py [--iterations 300] [--skip-latency]
        [--only injection] [--sweep]

Quality: per category, precision / recall / FPR on tests/data/safety/*.jsonl. Every row is
tagged "dev" (thresholds, patterns and anchors were tuned looking at these) or "test" (held
out: looked at only to report). The headline figures are the test split's; dev and all-rows
figures are reported beside them so overfitting shows as a gap. A category may also have a
separate tuning set, tests/data/safety/dev/<category>.jsonl, reported as split "tune".

`--sweep` prints the injection embedding thresholds (margin x min_similarity) on the tuning
rows only (the tune file plus the eval file's dev rows): the grid the defaults were chosen
from. `--skip-latency` and `--only` keep the other sections of the previous
safety-latest.json, listed under "carried_over".

PII is scored per entity: a gold entity counts as found when a finding overlaps it, and a
finding is a false positive when it overlaps no gold entity (so every finding on a negative
row is one). Person names need NER, so PII is reported with NER on and off.

Latency: `check_input` on a 1 KB prompt plus `check_output` on a 1 KB answer, one request
at a time, models warm; p50/p95 with NER on and off, and for inputs that reach the
embedding check (the costliest path short of NER).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from common import (
    REPO_ROOT,
    CpuMonitor,
    machine_info,
    percentile,
    utc_now,
    wait_until_quiet,
    write_results,
)

from warden.safety.detectors.crisis import CrisisDetector
from warden.safety.detectors.injection import InjectionDetector
from warden.safety.detectors.pii import PiiDetector
from warden.safety.detectors.toxicity import ToxicityDetector
from warden.safety.pipeline import GuardPipeline
from warden.safety.policy import Policy
from warden.safety.redaction import Redactor

DATA = REPO_ROOT / "tests" / "data" / "safety"
TUNE = DATA / "dev"
TARGETS = {
    "pii": "recall >= 0.95 and precision >= 0.90",
    "crisis": "recall >= 0.95 with FPR <= 0.05 on hard negatives",
    "injection": "TPR (recall) >= 0.90 at FPR <= 0.05",
    "toxicity": "none set; must beat the alt-profanity-check baseline",
    "latency": "p95 <= 10 ms for 1 KB input + 1 KB output",
}


def load(category: str, directory: Path = DATA) -> list[dict[str, Any]]:
    path = directory / f"{category}.jsonl"
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def rate(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def binary_scores(detector: Any, rows: list[dict[str, Any]]) -> dict[str, Any]:
    tp = fp = fn = tn = 0
    errors: list[dict[str, Any]] = []
    for row in rows:
        flagged = bool(detector.scan(row["text"]))
        if flagged and row["label"]:
            tp += 1
        elif flagged:
            fp += 1
            errors.append({"kind": "FP", "text": row["text"][:160]})
        elif row["label"]:
            fn += 1
            errors.append({"kind": "FN", "text": row["text"][:160]})
        else:
            tn += 1
    return {"n": len(rows), "positives": tp + fn, "negatives": fp + tn,
            "precision": rate(tp, tp + fp), "recall": rate(tp, tp + fn),
            "fpr": rate(fp, fp + tn), "tp": tp, "fp": fp, "fn": fn, "tn": tn,
            "errors": errors}


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def pii_scores(detector: PiiDetector, rows: list[dict[str, Any]]) -> dict[str, Any]:
    found_by_type: Counter[str] = Counter()
    total_by_type: Counter[str] = Counter()
    fp_by_label: Counter[str] = Counter()
    tp_findings = fp_findings = 0
    negative_rows_flagged = negatives = 0
    errors: list[dict[str, Any]] = []
    for row in rows:
        text = row["text"]
        gold: list[tuple[str, tuple[int, int]]] = []
        cursor: dict[str, int] = {}
        for ent in row.get("entities", []):
            start = text.index(ent["text"], cursor.get(ent["text"], 0))
            cursor[ent["text"]] = start + 1
            gold.append((ent["type"], (start, start + len(ent["text"]))))
        findings = detector.scan(text)
        spans = [(f.start, f.end) for f in findings]
        for etype, span in gold:
            total_by_type[etype] += 1
            if any(_overlaps(span, s) for s in spans):
                found_by_type[etype] += 1
            else:
                errors.append({"kind": "FN", "type": etype, "value_len": span[1] - span[0],
                               "text": text[:120]})
        for f in findings:
            if any(_overlaps((f.start, f.end), g[1]) for g in gold):
                tp_findings += 1
            else:
                fp_findings += 1
                fp_by_label[f.label] += 1
                errors.append({"kind": "FP", "label": f.label, "value": text[f.start:f.end],
                               "text": text[:120]})
        if not row["label"]:
            negatives += 1
            negative_rows_flagged += bool(findings)
    found, total = sum(found_by_type.values()), sum(total_by_type.values())
    return {
        "n": len(rows), "entities": total,
        "precision": rate(tp_findings, tp_findings + fp_findings),
        "recall": rate(found, total),
        "recall_without_person": rate(found - found_by_type["PERSON"],
                                      total - total_by_type["PERSON"]),
        "fpr_rows": rate(negative_rows_flagged, negatives),
        "recall_by_type": {t: rate(found_by_type[t], n) for t, n in sorted(total_by_type.items())},
        "false_positives_by_label": dict(fp_by_label),
        "errors": errors,
    }


def split_rows(rows: list[dict[str, Any]], tune: list[dict[str, Any]]
               ) -> dict[str, list[dict[str, Any]]]:
    out = {"test": [r for r in rows if r["split"] == "test"],
           "dev": [r for r in rows if r["split"] == "dev"], "all": rows}
    if tune:
        out["tune"] = tune
    return out


def sweep_injection() -> dict[str, Any]:
    """TPR/FPR of the injection detector over a grid of embedding thresholds, on tuning rows
    only. Each row's heuristics and sentence matches are computed once."""
    rows = load("injection", TUNE) + [r for r in load("injection") if r["split"] == "dev"]
    detector = InjectionDetector()
    prepared = []
    for row in rows:
        # A flat threshold of 9 (unreachable) leaves only the heuristics and the windows.
        probe = InjectionDetector(margin=9.0, min_similarity=9.0, index=detector.index)
        heuristic = bool(probe.scan(row["text"]))
        windows = [] if heuristic else probe.windows(row["text"])
        prepared.append((row["label"], heuristic,
                         detector.index.match([w.text for w in windows])))
    positives = sum(label for label, _, _ in prepared)
    grid = []
    for margin in (0.05, 0.07, 0.09, 0.10, 0.11, 0.13, 0.15):
        for min_similarity in (0.35, 0.40, 0.45, 0.50, 0.55):
            flags = [(label, h or any(m.score >= margin and m.positive >= min_similarity
                                      for m in matches)) for label, h, matches in prepared]
            tp = sum(1 for label, f in flags if f and label)
            fp = sum(1 for label, f in flags if f and not label)
            grid.append({"margin": margin, "min_similarity": min_similarity,
                         "tpr": rate(tp, positives), "fpr": rate(fp, len(rows) - positives)})
    return {"rows": len(rows), "positives": positives, "grid": grid,
            "chosen": {"margin": detector.similarity.margin,
                       "min_similarity": detector.similarity.min_similarity}}


def quality(only: set[str] | None = None) -> dict[str, Any]:
    variants: dict[str, dict[str, Any]] = {
        "pii": {"ner_on": PiiDetector(ner=True), "ner_off": PiiDetector(ner=False)},
        "toxicity": {"targeted": ToxicityDetector(mode="targeted"),
                     "baseline_profanity_check": ToxicityDetector(mode="baseline")},
        "crisis": {"patterns+embeddings": CrisisDetector(semantic=True),
                   "patterns_only": CrisisDetector(semantic=False)},
        "injection": {"heuristics+embeddings": InjectionDetector(semantic=True),
                      "heuristics_only": InjectionDetector(semantic=False)},
    }
    out: dict[str, Any] = {}
    for category, detectors in variants.items():
        if only and category not in only:
            continue
        splits = split_rows(load(category), load(category, TUNE))
        out[category] = {"target": TARGETS[category], "variants": {}}
        for name, detector in detectors.items():
            score = pii_scores if category == "pii" else binary_scores
            out[category]["variants"][name] = {
                split: score(detector, rows) for split, rows in splits.items()}
    return out


# latency --------------------------------------------------------------------------------
_PROMPTS = [
    "I'm preparing the quarterly report for our logistics team and need help restructuring "
    "the summary. Our on-time delivery rate went from 91.2% to 94.8%, mostly thanks to the new "
    "routing software, but warehouse costs rose by 6% because of overtime in March.",
    "Here is the function that keeps timing out in production. It reads a CSV of roughly "
    "200k rows, groups by customer and writes the totals back to Postgres. Can you suggest "
    "how to batch the inserts and whether I should use COPY instead of executemany?",
    "Please rewrite this paragraph for a general audience: the study followed 1,200 adults "
    "over ten years and found that regular moderate exercise was associated with a lower risk "
    "of cardiovascular disease, even after adjusting for diet, smoking and income.",
    "We are planning a team offsite in Lisbon for about 25 people in October. Could you draft "
    "an agenda with two half-day workshops, a dinner, and some free time? Budget is moderate "
    "and most people will arrive on Thursday evening.",
    "Explain the difference between optimistic and pessimistic locking, with an example of "
    "when each one is the better choice for an inventory system that sees bursts of orders "
    "during flash sales.",
    "My landlord says the heating repair is my responsibility because the lease mentions "
    "'minor maintenance'. The boiler is fifteen years old and stopped working entirely. What "
    "questions should I ask before I agree to pay for anything?",
]
_ANSWERS = [
    "Here is a restructured summary. Start with the headline result: on-time delivery "
    "improved by 3.6 points to 94.8%, driven by the routing software rollout. Then address "
    "costs directly: warehouse spending rose 6%, almost entirely from March overtime, which "
    "the new shift plan is designed to remove.",
    "Batching will help most. Collect rows into chunks of a few thousand and send each chunk "
    "in one statement; with psycopg, COPY from an in-memory buffer is usually the fastest "
    "option by a wide margin. Wrap each chunk in a transaction and add an index on the "
    "customer column if the grouping query is slow.",
    "People who exercised moderately and regularly were less likely to develop heart disease "
    "over the ten years of the study. This held true even when researchers took into account "
    "what people ate, whether they smoked and how much they earned.",
    "Thursday: arrivals and an informal welcome drink. Friday morning: strategy workshop; "
    "afternoon: free time in the old town; evening: group dinner. Saturday morning: planning "
    "workshop with breakout groups, then a closing lunch before departures.",
    "Optimistic locking assumes conflicts are rare: each row carries a version, and an update "
    "fails if the version changed since it was read, so the client retries. Pessimistic "
    "locking takes a lock before reading, so others wait. For flash sales with heavy "
    "contention on a few items, pessimistic locking avoids retry storms.",
    "Ask which clause defines minor maintenance and whether a boiler replacement could fall "
    "under it; ask for the service history; check local tenancy law, which often makes "
    "heating the landlord's duty; and request the position in writing before paying.",
]
_TRIGGERED = [
    "For my thesis I need you to act as a reviewer and imagine you are strict about the rules "
    "of academic citation.",
    "I have been feeling like a burden to my team lately, honestly it has been a hard month.",
]


def kilobyte(parts: list[str], rng: random.Random, extra: str = "") -> str:
    chunks = [extra] if extra else []
    while sum(len(c) + 1 for c in chunks) < 1024:
        chunks.append(rng.choice(parts))
    text = " ".join(chunks)[:1024]
    return text[:text.rfind(" ")] if len(text) == 1024 else text


def latency(iterations: int) -> dict[str, Any]:
    base = GuardPipeline()
    base.warm_up()
    # Other jobs on a 2-core box inflate every percentile; wait for a quiet spell and record
    # how busy the machine was (cpu.foreign_cpu_cores) next to each figure.
    quiet = wait_until_quiet(max_wait_s=180)
    out: dict[str, Any] = {"iterations": iterations, "input_chars": 1024, "output_chars": 1024,
                           "foreign_cpu_cores_before": quiet}
    for name, ner, triggered in (("ner_off", False, False), ("ner_on", True, False),
                                 ("ner_off_embedding_path", False, True)):
        pipeline = base.with_policy(Policy(ner=ner))
        rng = random.Random(7)
        cases = [(kilobyte(_PROMPTS, rng, rng.choice(_TRIGGERED) if triggered else ""),
                  kilobyte(_ANSWERS, rng)) for _ in range(iterations)]
        for prompt, answer in cases[:10]:
            pipeline.check_input(prompt)
            pipeline.check_output(answer)
        times: list[float] = []
        with CpuMonitor() as mon:
            for prompt, answer in cases:
                started = time.perf_counter()
                redactor = Redactor()
                pipeline.check_input([{"role": "user", "content": prompt}], redactor)
                pipeline.check_output(answer, redactor)
                times.append((time.perf_counter() - started) * 1000)
        out[name] = {"p50_ms": round(percentile(times, 50), 3),
                     "p95_ms": round(percentile(times, 95), 3),
                     "p99_ms": round(percentile(times, 99), 3),
                     "max_ms": round(max(times), 3), "cpu": mon.result()}
    return out


def table(results: dict[str, Any]) -> str:
    lines = ["| category | variant | split | precision | recall | FPR |",
             "|---|---|---|---|---|---|"]
    for category, block in results["quality"].items():
        for variant, splits in block["variants"].items():
            for split in ("test", "dev", "tune"):
                if split not in splits:
                    continue
                s = splits[split]
                fpr = s.get("fpr", s.get("fpr_rows"))
                lines.append(f"| {category} | {variant} | {split} | {s['precision']} | "
                             f"{s['recall']} | {fpr} |")
    lat = results.get("latency", {})
    stale = " (carried over, not measured by this run)" if "latency" in results.get(
        "carried_over", {}).get("sections", ()) else ""
    for name in ("ner_off", "ner_on", "ner_off_embedding_path"):
        if name in lat:
            lines.append(f"\nlatency {name}: p50 {lat[name]['p50_ms']} ms, "
                         f"p95 {lat[name]['p95_ms']} ms{stale}")
    return "\n".join(lines)


def carry_over(results: dict[str, Any]) -> None:
    """Sections this run skipped, copied from the previous safety-latest.json, each named
    with the run that measured it (`carried_over.sections`: section -> written_at)."""
    previous_path = REPO_ROOT / "benchmarks" / "results" / "safety-latest.json"
    if not previous_path.exists():
        return
    previous = json.loads(previous_path.read_text(encoding="utf-8"))
    before = previous.get("carried_over", {}).get("sections", {})
    before = before if isinstance(before, dict) else dict.fromkeys(before, "an earlier run")
    origin = previous.get("written_at", "an earlier run (see the stamped safety-*.json)")
    carried: dict[str, str] = {}
    for category, block in previous.get("quality", {}).items():
        if category not in results["quality"]:
            results["quality"][category] = block
            section = f"quality.{category}"
            carried[section] = before.get(section, origin)
    if "latency" not in results and "latency" in previous:
        results["latency"] = previous["latency"]
        carried["latency"] = before.get("latency", origin)
    if carried:
        results["carried_over"] = {"sections": carried}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--skip-latency", action="store_true",
                        help="quality only; keep the previous latency figures")
    parser.add_argument("--only", action="append", choices=list(TARGETS)[:4],
                        help="run only this category (repeatable); keep the others' figures")
    parser.add_argument("--sweep", action="store_true",
                        help="also print the injection threshold grid on the tuning rows")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {
        "benchmark": "safety", "written_at": utc_now().isoformat(timespec="seconds"),
        "machine": machine_info(), "targets": TARGETS,
        "method": {"splits": "rows tagged dev (and tests/data/safety/dev/, split 'tune') were "
                             "used for tuning; test rows are held out and are the headline "
                             "figures", "data": str(DATA.relative_to(
                                 REPO_ROOT))}}
    results["quality"] = quality(set(args.only) if args.only else None)
    if args.sweep:
        results["injection_threshold_sweep"] = sweep_injection()
        for point in results["injection_threshold_sweep"]["grid"]:
            print(f"margin {point['margin']:.2f} min_similarity {point['min_similarity']:.2f}: "
                  f"TPR {point['tpr']} FPR {point['fpr']}")
    if not args.skip_latency:
        results["latency"] = latency(args.iterations)
    carry_over(results)
    stamped, latest = write_results("safety", results)
    print(table(results))
    print(f"\nwrote {Path(stamped).relative_to(REPO_ROOT)} and {latest.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
