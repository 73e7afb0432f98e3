"""The run's report: report.json (everything, machine-readable) and report.md (for people):
the verdict, each gate with value, interval, threshold and verdict, each metric with its
interval or the reason it is unmeasured, the judge and its noise, suite checks, triage and
the worst items. Pure: plain data in, a dict and Markdown text out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from warden.evaluation.gates import p95
from warden.evaluation.metric import Metric
from warden.evaluation.stats import bootstrap_ci, wilson_interval

# Quality metrics are deterministic for a manifest; these measure time and are not.
TIMING_METRICS = ("latency_p50_s", "latency_p95_s")


def metric_interval(metric: Metric, seed: int = 0) -> dict[str, float] | None:
    """95% interval: Wilson for 0/1 items, exact for counts, bootstrap otherwise."""
    if not metric.is_measured or len(metric.items) < 2:
        return None
    items = np.asarray(metric.items, dtype=np.float64)
    if metric.name.endswith("_violations"):
        return None  # a count over every item is exact
    if metric.name == "latency_p95_s":
        return bootstrap_ci(items, statistic=p95, seed=seed).as_dict(4)
    if metric.name == "latency_p50_s":
        return bootstrap_ci(items, statistic=lambda v: float(np.median(v)),
                            seed=seed).as_dict(4)
    if np.all((items == 0) | (items == 1)):
        return wilson_interval(int(items.sum()), int(items.size)).as_dict(4)
    return bootstrap_ci(items, seed=seed).as_dict(4)


def metric_rows(metrics: Mapping[str, Metric], scale: float = 1.0) -> dict[str, Any]:
    """Each metric's plain form plus its 95% interval; `scale` puts the interval on the
    value's scale (RAGChecker's figures are x100 of their per-item fractions)."""
    rows: dict[str, Any] = {}
    for name, metric in metrics.items():
        row = metric.plain()
        if metric.value is not None:
            row["value"] = round(metric.value, 6)
        interval = metric_interval(metric)
        if interval is not None:
            row["interval"] = {k: round(v * scale, 4) if k != "level" else v
                               for k, v in interval.items()}
        rows[name] = row
    return rows


def quality_view(report: Mapping[str, Any]) -> dict[str, Any]:
    """What must be identical between two runs of one manifest: answers' metrics, claim
    figures and gate verdicts (timing metrics and the latency gate excluded)."""
    answer = {k: v for k, v in report["metrics"]["answer"].items() if k not in TIMING_METRICS}
    gates = {g["gate"]: (g["verdict"], g["value"]) for g in report["gates"]["gates"]
             if g["metric"] not in TIMING_METRICS}
    return {"answer": answer, "claims": report["metrics"]["claims"], "gates": gates}


def _cell(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def _interval(interval: Mapping[str, Any] | None, digits: int = 3) -> str:
    if not interval:
        return "–"
    return f"[{interval['low']:.{digits}f}, {interval['high']:.{digits}f}]"


def _gates_md(gates: Mapping[str, Any]) -> list[str]:
    lines = ["| gate | metric | value | 95% interval | threshold | verdict | n |",
             "|---|---|---|---|---|---|---|"]
    for g in gates["gates"]:
        bound = ("≥ " if g["direction"] == "min" else "≤ ") + f"{g['threshold']:g}"
        verdict = g["verdict"].upper() if g["verdict"] != "pass" else "pass"
        lines.append(f"| {g['gate']} | {g['metric']} | {_cell(g['value'])} | "
                     f"{_interval(g['interval'])} | {bound} | {verdict} | {g['n']} |")
    unmeasured = [g for g in gates["gates"] if g["verdict"] in ("unmeasured", "fail")
                  and g.get("reason")]
    lines += [""] + [f"- `{g['gate']}` {g['verdict']}: {g['reason']}" for g in unmeasured]
    return lines


def _metrics_md(title: str, rows: Mapping[str, Any], note: str = "", digits: int = 3
               ) -> list[str]:
    lines = [f"### {title}", ""] + ([note, ""] if note else [])
    lines += ["| metric | value | 95% interval | n | state |", "|---|---|---|---|---|"]
    for name, row in rows.items():
        state = row["state"] if row["state"] == "measured" else \
            f"{row['state']}: {row.get('reason', '')}"
        lines.append(f"| {name} | {_cell(row['value'], digits)} | "
                     f"{_interval(row.get('interval'), digits)} | {row.get('n', '–')} | "
                     f"{_cell(state)} |")
    return lines


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    return ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers),
            *("| " + " | ".join(_cell(c) for c in row) + " |" for row in rows)]


def render_markdown(report: Mapping[str, Any]) -> str:
    run, metrics = report["run"], report["metrics"]
    lines = [f"# Eval run {run['run_id']}", "",
             f"**Verdict: {report['verdict'].upper()}** · suite `{run['suite']}` · "
             f"{run['items']} items · manifest `{report['manifest_hash'][:16]}…` · "
             f"{run['started_at']} → {run['finished_at']}", ""]
    lines += [f"- {p}" for p in report["problems"]] + ([""] if report["problems"] else [])
    if report.get("audit_seq") is not None:
        lines += [f"Recorded as audit record `eval.run` seq {report['audit_seq']}.", ""]
    lines += ["## Quality gates", "", f"Gates: {report['gates_source']}; inconclusive "
              f"{'fails' if report['gates']['inconclusive_fails'] else 'does not fail'} the run.",
              "", *_gates_md(report["gates"]), "", "## Metrics", ""]
    lines += _metrics_md("Judge-free (gold labels)", metrics["answer"])
    judge = report["judge"]
    note = (f"RAGChecker's definitions, ×100 macro average over {metrics['judged_items']} "
            f"judged items. Judge: {judge['pin']['extractor'] if judge['pin'] else 'none'}. "
            + (judge["note"] or ""))
    lines += ["", *_metrics_md("Claim-level (RAGChecker, 0-100)", metrics["claims"], note, 1)]
    noise = metrics.get("judge_noise")
    if noise:
        lines += ["", f"Judge noise over {noise['n_labellings']} labellings of "
                  f"{noise['n_cells']} labels: " + ", ".join(
                      f"{k} {_cell(v['value'])}" for k, v in noise["agreement"].items()), ""]
        lines += _table(["metric", "values", "sd"],
                        [(k, ", ".join(f"{x:.1f}" for x in v["values"]), v["sd"])
                         for k, v in noise["spread"].items()])
    if metrics["judge_errors"]:
        lines += ["", f"Judge errors ({len(metrics['judge_errors'])}): "
                  + "; ".join(metrics["judge_errors"][:3])]
    lines += ["", "## Health gates", "", *_table(
        ["gate", "status", "detail"], [(g["gate"], g["status"], g["detail"])
                                       for g in report["health"]["gates"]])]
    if report["suite_checks"]:
        lines += ["", "## Suite checks", "", *_table(
            ["group", "check", "status", "detail"],
            [(c["group"], c["name"], c["status"], c["detail"]) for c in report["suite_checks"]])]
    triage = report["triage"]
    if triage.get("failure_classes"):
        lines += ["", "## Failure classes", "", *_table(
            ["class", "count", "share", "examples"],
            [(k, v["count"], v["share"], ", ".join(v["examples"]))
             for k, v in triage["failure_classes"].items()])]
    if report["run"]["suite"] == "full" and triage.get("per_domain"):
        lines += ["", "## Per domain", "", *_table(
            ["domain", "n", "token_f1", "gold_served", "reader_used_gold", "claim_f1", "ok"],
            [(d, v["n"], v["token_f1"], v["gold_served"], v["reader_used_gold"], v["claim_f1"],
              v["ok"]) for d, v in triage["per_domain"].items()])]
    nudges = report.get("nudges")
    if nudges:
        lines += ["", "## Config nudges (searched on dev only)", ""]
        lines += [f"- {nudges['skipped']}"] if "skipped" in nudges else \
            [f"- {s}" for s in nudges["suggestions"]] + [
                "- best per k: " + "; ".join(f"k={r['k']} {r['hit_rate']:.3f}"
                                               for r in nudges["best_per_k"])]
    lines += ["", "## Worst items", "", *_table(
        ["id", "class", "question", "answer", "gold answer", "token F1"],
        [(w["id"], w["failure_class"], w["question"], (w["answer"] or w["error"] or "")[:160],
          w["gt_answer"], w["token_f1"]) for w in triage.get("worst_items", [])])]
    few = report["few_shot"]
    lines += ["", f"Few-shot: k={few['k']}, pool {few['pool_size']}, excluded by the leakage "
              f"guard: {few['leakage']['n_excluded'] if few['leakage'] else 0}. Chart: "
              "`chart.png`. Items: `results.jsonl`. Manifest: `manifest.yaml`.", ""]
    return "\n".join(lines)
