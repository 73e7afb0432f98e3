"""`compare` on two run directories (paired deltas, manifest differences) and the report:
Markdown with every gate's value, interval, threshold and verdict; intervals per metric."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from warden.cli.eval import app
from warden.evaluation.compare import RunDirError, compare_runs, load_run
from warden.evaluation.gates import evaluate_gates, parse_gates
from warden.evaluation.metric import Metric
from warden.evaluation.report import metric_interval, quality_view, render_markdown


def write_run(path: Path, f1s: list[float], manifest: dict[str, Any]) -> Path:
    path.mkdir()
    (path / "manifest.yaml").write_text(yaml.safe_dump(manifest))
    lines = [{"id": f"q{i}", "answer": f"a{f1}", "metrics": {"token_f1": f1, "latency_s": 1.0},
              "claim_metrics": {"hallucination": 0.5}} for i, f1 in enumerate(f1s)]
    (path / "results.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def test_paired_deltas_and_manifest_differences(tmp_path: Path) -> None:
    a = write_run(tmp_path / "a", [0.2] * 20, {"manifest_hash": "1", "seed": 42, "k": 5})
    b = write_run(tmp_path / "b", [0.6] * 19 + [0.2], {"manifest_hash": "2", "seed": 42,
                                                      "k": 8})
    result = compare_runs(load_run(a), load_run(b))
    rows = {r["metric"]: r for r in result["metrics"]}
    assert result["paired_items"] == 20 and result["answers_changed"] == 19
    assert rows["token_f1"]["delta"] == 0.38 and rows["token_f1"]["call"] == "B better"
    assert rows["latency_s"]["call"] == "no clear difference"
    assert result["manifest_differences"] == ["k"] and not result["same_manifest"]
    cli = CliRunner().invoke(app, ["compare", str(a), str(b)])
    assert cli.exit_code == 0, cli.output
    assert "token_f1" in cli.stdout and "B better" in cli.stdout and "differ in k" in cli.stdout


def test_compare_names_a_missing_file(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunDirError, match=r"manifest\.yaml: missing"):
        load_run(tmp_path / "empty")
    cli = CliRunner().invoke(app, ["compare", str(tmp_path / "empty"), str(tmp_path)])
    assert cli.exit_code == 2


def test_metric_intervals_by_kind() -> None:
    rate = metric_interval(Metric.measured("reader_used_gold", 0.5, [0, 1] * 10))
    assert rate is not None and 0.29 < rate["low"] < 0.5 < rate["high"] < 0.71  # Wilson
    assert metric_interval(Metric.measured("budget_violations", 0.0, [0.0] * 5)) is None
    assert metric_interval(Metric.measured("token_f1", 0.5, [0.5])) is None
    latency = metric_interval(Metric.measured("latency_p95_s", 2.0, [1.0, 2.0, 3.0]))
    assert latency is not None and latency["high"] <= 3.0


def report_for(gate_verdicts: dict[str, Metric]) -> dict[str, Any]:
    gates = evaluate_gates(parse_gates({"recall_min": 0.45, "latency_max": 30.0}),
                           gate_verdicts)
    return {"run": {"run_id": "eval-x", "suite": "smoke", "items": 3, "started_at": "t0",
                    "finished_at": "t1"}, "manifest_hash": "f" * 64, "verdict": "fail",
            "problems": ["recall_min: fail (...)"], "gates_source": "g.yaml",
            "gates": gates.plain(), "audit_seq": 12,
            "metrics": {"answer": {"token_f1": {"value": 0.4, "state": "measured", "n": 3}},
                        "claims": {"recall": {"value": None, "state": "unmeasured",
                                              "reason": "--judge none"}},
                        "judge_noise": None, "judged_items": 0, "judge_errors": []},
            "judge": {"pin": None, "note": None}, "health": {"gates": [
                {"gate": "config", "status": "pass", "detail": "ok"}]},
            "suite_checks": [], "triage": {"worst_items": [], "failure_classes": {}},
            "nudges": None, "few_shot": {"k": 0, "pool_size": 0, "leakage": None}}


def test_markdown_lists_every_gate_with_interval_threshold_and_verdict() -> None:
    recall = Metric.measured("recall", 0.1, [0.1] * 30)
    report = report_for({"recall": recall})
    text = render_markdown(report)
    assert "**Verdict: FAIL**" in text and "audit record `eval.run` seq 12" in text
    assert "| recall_min | recall | 0.100 | [0.100, 0.100] | ≥ 0.45 | FAIL | 30 |" in text
    assert "| latency_max | latency_p95_s | – | – | ≤ 30 | UNMEASURED | 0 |" in text
    assert "`latency_max` unmeasured" in text and "| recall | – |" in text
    view = quality_view(report)
    assert "latency_max" not in view["gates"] and view["gates"]["recall_min"][0] == "fail"
