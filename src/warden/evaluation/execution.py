"""One eval run from health to the audit record, writing DIR as it goes:

    health gates (exit 3 on failure) -> manifest.yaml (frozen before the first item)
    -> items -> judge -> suite checks -> metrics -> gates -> triage / nudges
    -> results.jsonl, report.json, chart.png -> POST /v1/evaluations -> report.md

Exit codes: 0 every gate and check passed, 1 a gate or suite check failed (named on stderr),
3 a health gate failed before anything ran.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from warden.evaluation.client import EndpointError
from warden.evaluation.gates import GateReport, Verdict, evaluate_gates
from warden.evaluation.health import Status
from warden.evaluation.judge import WEAK_JUDGE_NOTE
from warden.evaluation.local_store import LocalStore, open_local_store
from warden.evaluation.manifest import RunManifest
from warden.evaluation.records import result_line
from warden.evaluation.report import metric_rows, render_markdown
from warden.evaluation.runner import (
    EXIT_GATE_FAILED,
    EXIT_HEALTH,
    EXIT_OK,
    Session,
    default_out,
    echo_health,
    effective_k,
    fail_health,
    judge_items,
    manifest_for,
    progress_bar,
    run_items,
    say,
    utc_stamp,
)
from warden.evaluation.scoring import Scores, claim_scores
from warden.evaluation.suites import SUITES, SuiteCheck, db_workflows, meta_ops, negatives
from warden.evaluation.triage import triage


def _write_json(path: Path, data: Any) -> bytes:
    raw = (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
    path.write_bytes(raw)
    return raw


def _verdict(gates: GateReport, checks: list[SuiteCheck], lines: list[dict[str, Any]]
             ) -> tuple[str, list[str]]:
    """fail (a gate or check failed, an item request failed, or too many gates unmeasured),
    inconclusive (some gate cannot tell), or pass; the problems make the exit code 1."""
    failed_checks = [f"suite check {c.group}/{c.name}: fail ({c.detail})" for c in checks
                     if c.status is Status.FAIL]
    errors = [line for line in lines if line.get("error")]
    if errors:  # the seed's "zero hard timeouts in the eval path"
        failed_checks.append(f"request_errors: {len(errors)} of {len(lines)} item requests "
                             f"failed (first {errors[0]['id']}: {errors[0]['error']})")
    problems = gates.problems() + failed_checks
    over_budget = gates.count(Verdict.UNMEASURED) > gates.config.unmeasured_max
    if gates.count(Verdict.FAIL) or failed_checks or over_budget:
        return "fail", problems
    if gates.count(Verdict.INCONCLUSIVE):
        return "inconclusive", problems
    return "pass", problems


def _record(session: Session, manifest: RunManifest, run_id: str, *, verdict: str,
            report_hash: str | None, gates: dict[str, str]) -> tuple[int | None, str | None]:
    prepared = session.prepared
    shas = [prepared.dataset.sha256] + ([prepared.pool_sha256] if prepared.pool_sha256 else [])
    record = {"run_id": run_id, "manifest_hash": manifest.manifest_hash,
              "report_hash": report_hash, "suite": prepared.options.suite or "custom",
              "dataset_sha256": shas, "verdict": verdict, "gates": dict(list(gates.items())[:64])}
    try:
        return int(session.client.record_evaluation(record)["audit_seq"]), None
    except (EndpointError, KeyError, TypeError, ValueError) as exc:
        return None, f"the run was not recorded in the audit log: {exc}"


def _health_failed(session: Session, out: Path, run_id: str, err: Callable[[str], None]
                   ) -> int:
    _write_json(out / "health.json", session.health.plain())
    try:
        manifest: RunManifest | None = manifest_for(session)
    except (ValueError, KeyError, TypeError):
        manifest = None  # not enough was learned to pin the run; nothing to record
    if manifest is not None:
        (out / "manifest.yaml").write_text(manifest.to_yaml(), encoding="utf-8")
        gates = {g.name: "fail" if g.status is Status.FAIL else "unmeasured"
                 for g in session.health.gates if g.status is not Status.PASS}
        seq, problem = _record(session, manifest, run_id, verdict="health_failed",
                               report_hash=None, gates=gates)
        if problem:
            err(problem)
        elif seq is not None:
            err(f"recorded: audit record eval.run seq {seq}")
    return fail_health(session.health, err)


def _suite_checks(session: Session, local: LocalStore | str) -> list[SuiteCheck]:
    spec = SUITES.get(session.prepared.options.suite or "")
    if spec is None or not spec.checks:
        return []
    corpora = session.prepared.dataset.corpora(session.prepared.items)
    return [*negatives(session.client, session.model, corpora[0] if corpora else None),
            *meta_ops(), *db_workflows(local, session.client.url)]


def _nudges(session: Session, local: LocalStore | str) -> dict[str, Any] | None:
    from warden.evaluation.nudges import dev_nudges

    spec = SUITES.get(session.prepared.options.suite or "")
    if spec is None or not spec.triage:
        return None
    prepared = session.prepared
    splits = {i.split for i in prepared.items}
    reported = "dev" if "dev" in splits else next(iter(splits), None)
    return dev_nudges(prepared.dataset.items, reported, local, session.facts.corpora,
                      effective_k(session))


def _judge_section(session: Session) -> dict[str, Any]:
    judge = session.judge
    note = None
    if judge is not None and judge.settings.endpoint_label == "builtin":
        note = WEAK_JUDGE_NOTE
    return {"pin": None if judge is None else judge.settings.pin().model_dump(mode="json"),
            "reason": session.judge_reason, "note": note,
            "calls": None if judge is None else judge.calls,
            "items_limit": session.prepared.options.judge_items}


def build_report(session: Session, manifest: RunManifest, run_id: str, *, scores: Scores,
                 gates: GateReport, checks: list[SuiteCheck], lines: list[dict[str, Any]],
                 nudges: dict[str, Any] | None, timings: dict[str, Any]) -> dict[str, Any]:
    prepared = session.prepared
    verdict, problems = _verdict(gates, checks, lines)
    return {
        "run": {"run_id": run_id, "suite": prepared.options.suite or "custom",
                "url": session.client.url, "items": len(lines), **timings},
        "manifest_hash": manifest.manifest_hash, "verdict": verdict, "problems": problems,
        "gates_source": prepared.gates_source, "gates": gates.plain(),
        "metrics": {"answer": metric_rows(scores.answer),
                    "claims": metric_rows(scores.claims, scale=100.0),
                    "judge_noise": None if scores.noise is None else scores.noise.plain(),
                    "judged_items": scores.judged, "judge_errors": scores.judge_errors},
        "judge": _judge_section(session), "health": session.health.plain(),
        "suite_checks": [c.plain() for c in checks], "triage": triage(lines),
        "nudges": nudges,
        "few_shot": {"k": prepared.options.few_shot, "pool_size": prepared.pool_size,
                     "pool_sha256": prepared.pool_sha256, "leakage": prepared.leakage}}


def execute(session: Session, console: Console, err: Callable[[str], None]) -> int:
    options = session.prepared.options
    started = datetime.now(UTC)
    stamp = utc_stamp(started)
    out = options.out or default_out(stamp)
    out.mkdir(parents=True, exist_ok=True)
    run_id = f"eval-{stamp}"
    echo_health(session.health, console)
    if not session.health.passed:
        return _health_failed(session, out, run_id, err)
    manifest = manifest_for(session)
    run_id = f"eval-{stamp}-{manifest.manifest_hash[:8]}"
    (out / "manifest.yaml").write_text(manifest.to_yaml(), encoding="utf-8")
    say(console, f"manifest {manifest.manifest_hash} -> {out / 'manifest.yaml'}")
    local = open_local_store(options.config, session.facts.config_hash, session.facts.corpora)
    try:
        with progress_bar(console) as progress:
            t0 = time.perf_counter()
            run_items(session, progress)
            t1 = time.perf_counter()
            chunk_reason = judge_items(session, progress, local)
            t2 = time.perf_counter()
        checks = _suite_checks(session, local)
        nudges = _nudges(session, local)
    finally:
        if isinstance(local, LocalStore):
            local.close()
    scores = claim_scores(session.results, session.judge_reason, chunk_reason)
    gates = evaluate_gates(session.prepared.gates, scores.gate_inputs())
    lines = [result_line(r) for r in session.results]
    with (out / "results.jsonl").open("w", encoding="utf-8") as handle:
        for line in lines:
            handle.write(json.dumps(line, sort_keys=True, ensure_ascii=False) + "\n")
    answering = t1 - t0
    timings = {"started_at": started.isoformat(timespec="seconds"),
               "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
               "answer_seconds": round(answering, 2), "judge_seconds": round(t2 - t1, 2),
               "items_per_minute": round(60 * len(lines) / answering, 2) if answering else None}
    report = build_report(session, manifest, run_id, scores=scores, gates=gates, checks=checks,
                          lines=lines, nudges=nudges, timings=timings)
    report_hash = hashlib.sha256(_write_json(out / "report.json", report)).hexdigest()
    from warden.evaluation.chart import draw_gates

    draw_gates(report["gates"]["gates"], out / "chart.png",
               f"{run_id}: {report['verdict']}")
    verdicts = {r.gate.key: str(r.verdict) for r in gates.results}
    verdicts.update({f"check:{c.group}:{c.name}"[:64]: "unmeasured" if c.status is Status.SKIP
                     else str(c.status) for c in checks})
    seq, problem = _record(session, manifest, run_id, verdict=report["verdict"],
                           report_hash=report_hash, gates=verdicts)
    report["audit_seq"] = seq
    (out / "report.md").write_text(render_markdown(report), encoding="utf-8")
    say(console, f"verdict {report['verdict']}; report {out / 'report.md'}"
        + (f"; audit record eval.run seq {seq}" if seq is not None else ""))
    if problem:
        err(problem)
    for line in report["problems"]:
        err(f"gate failed: {line}")
    return EXIT_GATE_FAILED if report["problems"] else EXIT_OK


__all__ = ["EXIT_HEALTH", "execute"]
