"""The release evaluation on the shipped pydocs set: items per minute with the built-in model
and judge, the judge's label agreement at --judge-repeat 2, and the set's metrics.

By default it starts its own `warden serve`, ingests the whole pydocs corpus (40 modules,
~1283 chunks; embedding takes minutes on 2 cores) and runs `warden eval run` on a fixed,
documented subset of the test split: the first --items test items by id (default 30), the
built-in judge on the first --judge-items of them (default 6) with --judge-repeat 2. Use
--items all for the whole test split (149 items) on a machine with the time for it.

    .venv/bin/python benchmarks/eval.py [--items 30|all] [--judge-items 6]
    .venv/bin/python benchmarks/eval.py --url URL --key KEY --config warden.yaml  # reuse one

JSON to benchmarks/results/eval-<stamp>.json and eval-latest.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    REPO_ROOT,
    WARDEN_CMD,
    CpuMonitor,
    WardenProcess,
    machine_info,
    wait_until_quiet,
    write_results,
)

DATA = REPO_ROOT / "src" / "warden" / "evaluation" / "data"
CORPUS = "pydocs"


def ingest(warden: WardenProcess) -> str:
    """The whole corpus, from the data dir so doc ids are `pydocs/<module>.md`."""
    done = subprocess.run([*WARDEN_CMD, "index", "ingest", "pydocs", "--corpus", CORPUS],
                          cwd=DATA, env=warden.env(), capture_output=True, text=True,
                          timeout=3600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ingest failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def run_eval(url: str, key: str, config: Path | None, out: Path, *, args: argparse.Namespace,
             env: dict[str, str] | None) -> tuple[int, str]:
    command = [*WARDEN_CMD, "eval", "run", "--url", url, "--key", key, "--split", "test",
               "--judge", "builtin", "--judge-repeat", str(args.judge_repeat),
               "--judge-items", str(args.judge_items), "--max-tokens", str(args.max_tokens),
               "--timeout", str(args.request_timeout), "--out", str(out)]
    if args.items != "all":
        command += ["--limit", str(int(args.items))]
    if config is not None:
        command += ["--config", str(config)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False,
                          timeout=args.timeout)
    return done.returncode, done.stdout[-2000:] + done.stderr[-2000:]


def summarize(report: dict[str, Any]) -> dict[str, Any]:
    run, metrics = report["run"], report["metrics"]
    judged = metrics["judged_items"]
    noise = metrics.get("judge_noise") or {}
    judge_seconds = run.get("judge_seconds") or 0.0
    return {
        "items": run["items"],
        "answer": {"seconds": run["answer_seconds"],
                   "items_per_minute": run["items_per_minute"]},
        "judge": {"items": judged, "seconds": judge_seconds,
                  "items_per_minute": round(60 * judged / judge_seconds, 2)
                  if judge_seconds else None, "calls": report["judge"]["calls"],
                  "agreement": {k: v.get("value") for k, v in
                                (noise.get("agreement") or {}).items()},
                  "metric_spread_sd": {k: v["sd"] for k, v in
                                       (noise.get("spread") or {}).items()},
                  "errors": len(metrics["judge_errors"])},
        "metrics": {name: {"value": row["value"], "interval": row.get("interval"),
                           "n": row.get("n"), "state": row["state"]}
                    for name, row in metrics["answer"].items()},
        "claims_x100": {name: row["value"] for name, row in metrics["claims"].items()},
        "gates": {g["gate"]: g["verdict"] for g in report["gates"]["gates"]},
        "verdict": report["verdict"],
        "failure_classes": {k: v["count"] for k, v in
                            report["triage"]["failure_classes"].items()},
        "manifest_hash": report["manifest_hash"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", default="30", help="test items (first by id) or 'all'")
    parser.add_argument("--judge-items", type=int, default=6)
    parser.add_argument("--judge-repeat", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--url")
    parser.add_argument("--key")
    parser.add_argument("--config", type=Path)
    parser.add_argument("--quiet-wait", type=float, default=600.0)
    parser.add_argument("--request-timeout", type=float, default=300.0,
                        help="seconds per request (raise it on a loaded machine)")
    parser.add_argument("--timeout", type=float, default=6 * 3600, help="whole run")
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp(prefix="warden-eval-bench-")) / "run"
    reading = wait_until_quiet(args.quiet_wait)
    ingest_log = None
    if args.url:
        if not args.key:
            parser.error("--url needs --key")
        with CpuMonitor() as cpu:
            code, log = run_eval(args.url, args.key, args.config, out, args=args, env=None)
    else:
        with WardenProcess({"retrieval": {"default_corpus": CORPUS},
                            "server": {"request_timeout_s": 1800},
                            "safety": {"enabled": False}}, keep_dir=True) as warden:
            key = warden.create_key("bench")
            ingest_log = ingest(warden)[-600:]
            with CpuMonitor([warden.pid]) as cpu:
                code, log = run_eval(warden.base_url, key, warden.config_path, out,
                                     args=args, env=warden.env())
    if not (out / "report.json").exists():
        print(log, file=sys.stderr)
        return 2
    report = json.loads((out / "report.json").read_text())
    payload = {"benchmark": "eval", "machine": machine_info(),
               "foreign_cpu_before": reading, "cpu": cpu.result(),
               "settings": {"split": "test", "items": args.items,
                            "request_timeout_s": args.request_timeout,
                            "judge": "builtin", "judge_items": args.judge_items,
                            "judge_repeat": args.judge_repeat, "max_tokens": args.max_tokens,
                            "few_shot": 2, "seed": 42, "temperature": 0},
               "exit_code": code, **summarize(report), "run_dir": str(out),
               "ingest_tail": ingest_log}
    stamped, _ = write_results("eval", payload)
    print(json.dumps({k: payload[k] for k in ("items", "answer", "judge", "verdict")},
                     indent=2))
    print(f"wrote {stamped}; report {out / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
