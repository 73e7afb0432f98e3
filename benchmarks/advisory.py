"""Policy-advisory benchmark: latency, pass rates and shadow agreement of the built-in model.

    .venv/bin/python benchmarks/advisory.py [--variants v4-hybrid,rules-only,examples-only]
        [--dev 0] [--skip-suite] [--skip-shadow] [--safety] [--quiet-wait 600]

A real `warden serve` (built-in SmolLM2-135M) answers every situation through the same route
an admin's `warden advisory eval` uses (POST /admin/advisory/evaluate: the served advisor,
nothing recorded), then the suite is replayed as live shadow traffic (POST /v1/advisory)
and the server's own stats give the agreement with the rules engine.

- suite: the shipped semantic suite (held out; never tuned on), per prompt variant: the pass
  rate of the advisor alone, of the hybrid (advisor + rules fail-safe) and of the rules
  engine, with Wilson 95% intervals, per action type; wrong allows on high-risk actions.
- dev (`--dev N`): N random situations (seeded) labelled by the rules engine, which encodes
  the written policy. This is the set prompt changes are judged on; the suite is not.
- latency: the advisor's own latency (prompt build, KNN, generation, parse) as the server
  reports it, and the client's wall time, p50/p95/p99 (seed target: p95 < 15 s on CPU).
- foreign CPU: other processes' load while measuring, so a slow run can be told apart.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import httpx
from common import (
    CpuMonitor,
    WardenProcess,
    machine_info,
    utc_now,
    wait_until_quiet,
    write_results,
)

from warden.config.advisory import AdvisoryConfig
from warden.policy.decision import Decision
from warden.policy.measurement import percentiles
from warden.policy.rules import load_rules
from warden.policy.suite import CaseResult, SuiteCase, load_suite, score
from warden.policy.synthetic import labelled

DEV_SEED = 20261129  # the pool's generated part uses seed 7 (data/README.md)


def dev_cases(n: int, seed: int = DEV_SEED) -> list[SuiteCase]:
    """n random situations, a third of each decision, labelled by the rules engine (which
    encodes the written policy): the set prompt changes are judged on."""
    return [SuiteCase(name, situation, decision)
            for name, situation, decision in labelled(n, seed, load_rules(), "dev-")]


def evaluate(client: httpx.Client, cases: list[SuiteCase], variant: str,
             label: str) -> tuple[list[CaseResult], list[float]]:
    results, walls = [], []
    for done, case in enumerate(cases, 1):
        started = time.perf_counter()
        response = client.post("/admin/advisory/evaluate", json={
            "situation": case.situation.plain(), "prompt_variant": variant})
        walls.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
        body = response.json()
        results.append(CaseResult(case, Decision(body["decision"]) if body["decision"] else None,
                                  Decision(body["hybrid_decision"]),
                                  Decision(body["rules_decision"]), body["latency_ms"],
                                  body["error"], body["reasoning"]))
        if done % 10 == 0 or done == len(cases):
            print(f"  {label} {variant}: {done}/{len(cases)}", file=sys.stderr)
    return results, walls


def scored(results: list[CaseResult], walls: list[float], config: AdvisoryConfig,
           monitor: CpuMonitor) -> dict[str, Any]:
    report = score(results, level=config.confidence,
                   risk_tiers={a: p.risk_tier for a, p in config.actions.items()},
                   high_risk=config.fail_safe_tiers)
    report["latency_ms"] = {"advisor": percentiles([r.latency_ms for r in results]),
                            "client_wall": percentiles(walls)}
    report["cpu"] = monitor.result()
    report["cases"] = [r.plain() for r in results]
    return report


def shadow_replay(client: httpx.Client, cases: list[SuiteCase]) -> dict[str, Any]:
    """The suite as live traffic: every action type is in shadow on a fresh server."""
    walls = []
    with CpuMonitor() as monitor:
        for case in cases:
            started = time.perf_counter()
            response = client.post("/v1/advisory", json={"situation": case.situation.plain()})
            walls.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
            assert response.json()["mode"] in ("shadow", "advisory")
    stats = client.get("/admin/advisory/stats", params={"window": "all"}).json()
    return {"client_wall_ms": percentiles(walls), "cpu": monitor.result(),
            "agreement": stats["overall"]["agreement"],
            "by_action": {a: {"agreement": b["agreement"], "decisions": b["decisions"],
                              "distribution": b["distribution"]}
                          for a, b in stats["by_action"].items()},
            "latency_ms": stats["overall"]["latency_ms"],
            "error_rate": stats["overall"]["error_rate"],
            "distribution": stats["overall"]["distribution"], "shift": stats["shift"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default="v4-hybrid,rules-only,examples-only")
    parser.add_argument("--dev", type=int, default=0, help="Random dev situations to score.")
    parser.add_argument("--skip-suite", action="store_true")
    parser.add_argument("--skip-shadow", action="store_true")
    parser.add_argument("--safety", action="store_true", help="Run with the guard on.")
    parser.add_argument("--advisor-timeout", type=float, default=120.0,
                        help="advisory.timeout_s for the server (the shipped default is 30 s; "
                        "a busy shared machine needs more to measure accuracy at all).")
    parser.add_argument("--fewshot-k", type=int, default=None,
                        help="advisory.fewshot_k for the server (default: the config's).")
    parser.add_argument("--quiet-wait", type=float, default=0.0,
                        help="Wait up to this many seconds for other processes to go quiet.")
    args = parser.parse_args()
    config = AdvisoryConfig()
    variants = [v for v in args.variants.split(",") if v]
    results: dict[str, Any] = {"benchmark": "advisory", "started": utc_now().isoformat(),
                               "machine": machine_info(), "safety": args.safety,
                               "model": "smollm2-135m-instruct (built-in)",
                               "suite": {}, "dev": {}}
    server_config: dict[str, Any] = {"safety": {"enabled": args.safety},
                                     "server": {"log_level": "warning"},
                                     "batch": {"enabled": False}}
    server_config["advisory"] = {"timeout_s": args.advisor_timeout}
    if args.fewshot_k is not None:
        server_config["advisory"]["fewshot_k"] = args.fewshot_k
        config = AdvisoryConfig(fewshot_k=args.fewshot_k)
    results.update(fewshot_k=config.fewshot_k, advisor_timeout_s=args.advisor_timeout)
    with WardenProcess(server_config) as warden:
        key = warden.create_key("bench-admin", role="admin")
        client = httpx.Client(base_url=warden.base_url, timeout=300,
                              headers=warden.auth(key))
        if args.quiet_wait:
            results["foreign_cpu_before"] = wait_until_quiet(args.quiet_wait)
        warm = client.post("/admin/advisory/evaluate",
                           json={"situation": load_suite()[0].situation.plain()})
        warm.raise_for_status()  # loads MiniLM and embeds the pool
        for variant in variants:
            if args.dev:
                with CpuMonitor([warden.pid]) as monitor:
                    rows, walls = evaluate(client, dev_cases(args.dev), variant, "dev")
                results["dev"][variant] = scored(rows, walls, config, monitor)
            if not args.skip_suite:
                with CpuMonitor([warden.pid]) as monitor:
                    rows, walls = evaluate(client, load_suite(), variant, "suite")
                results["suite"][variant] = scored(rows, walls, config, monitor)
        if not args.skip_shadow:
            results["shadow_replay"] = shadow_replay(client, load_suite())
        client.close()
    results["finished"] = utc_now().isoformat()
    stamped, _ = write_results("advisory", results)
    for kind in ("dev", "suite"):
        for variant, block in results[kind].items():
            print(f"{kind:5} {variant:14} advisor {block['advisor']['rate']} "
                  f"hybrid {block['hybrid']['rate']} rules {block['rules']['rate']} "
                  f"p95 {block['latency_ms']['advisor']['p95']} ms "
                  f"foreign cpu {block['cpu'].get('foreign_cpu_cores')}")
    if "shadow_replay" in results:
        print(f"shadow agreement {results['shadow_replay']['agreement']}")
    print(f"results: {stamped}")


if __name__ == "__main__":
    main()
