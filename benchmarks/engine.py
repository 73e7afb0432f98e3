"""Continuous batching, measured: Warden vs `python -m llama_cpp.server`, side by side.

Both serve the same built-in GGUF with the same thread count and n_ctx, over HTTP, with the
same prompts. For 1, 4 and 8 concurrent streams of 128 tokens each it reports aggregate
tokens/s, TTFT p50/p95 and inter-token p50/p95, then the ratios the engine issue targets:

- 8 streams: Warden aggregate >= 5x llama_cpp.server's at 8, and >= 2x its 1-stream rate;
- 1 stream: Warden >= 0.95x llama_cpp.server;
- inter-token p95 <= 30 ms at 4 streams (the serving seed's P95 <= 30 ms/token).

The servers run one after the other, never at the same time (2 cores). Results go to
benchmarks/results/engine-<stamp>.json and engine-latest.json.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
from common import (
    CpuMonitor,
    StreamTiming,
    WardenProcess,
    free_port,
    iter_sse,
    machine_info,
    percentile,
    ratio,
    stop_process,
    summarize,
    utc_now,
    wait_for_http,
    wait_until_quiet,
    write_results,
)
from rich.console import Console
from rich.table import Table

from warden.engine.model_files import builtin_model_path

MODEL = "smollm2-135m-instruct"
PROMPTS = [
    "Count from 1 to 500, separated by commas: 1, 2, 3, 4, 5,",
    "Once upon a time, in a small village by the sea, there lived an old fisherman who",
    "Here is a long list of animals, one per line:\n1. cat\n2. dog\n3.",
    "The history of the Roman Empire is long and complicated. It began",
    "Write a detailed recipe for bread.\nIngredients:\n-",
    "Dear diary, today was the strangest day of my life. First,",
    "Chapter 1\n\nThe rain had not stopped for three days when",
    "List of the 100 largest cities in the world:\n1. Tokyo\n2.",
]
console = Console()


def stream_once(base_url: str, headers: dict[str, str], prompt: str, max_tokens: int
                ) -> StreamTiming:
    body = {"model": MODEL, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0,
            "stream": True, "stream_options": {"include_usage": True}}
    timing = StreamTiming(sent=time.perf_counter())
    chunks = 0
    with httpx.Client(timeout=600) as http, \
            http.stream("POST", f"{base_url}/v1/completions", json=body,
                        headers=headers) as response:
        response.raise_for_status()
        for payload in iter_sse(response.iter_lines()):
            if payload.get("usage"):
                timing.completion_tokens = payload["usage"]["completion_tokens"]
            for choice in payload.get("choices", []):
                if choice.get("text"):
                    timing.chunk(choice["text"])
                    chunks += 1
                if choice.get("finish_reason"):
                    timing.finish_reason = choice["finish_reason"]
    timing.end()
    if timing.completion_tokens is None:  # llama_cpp.server sends no usage when streaming
        timing.completion_tokens = chunks
    return timing


def run_level(base_url: str, headers: dict[str, str], streams: int, max_tokens: int
              ) -> dict[str, Any]:
    timings: list[StreamTiming | None] = [None] * streams
    errors: list[str] = []

    def worker(i: int) -> None:
        try:
            timings[i] = stream_once(base_url, headers, PROMPTS[i % len(PROMPTS)], max_tokens)
        except Exception as exc:
            errors.append(repr(exc))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(streams)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    done = [t for t in timings if t is not None]
    tokens = sum(t.completion_tokens or 0 for t in done)
    itl = [gap for t in done for gap in t.inter_token_s]
    return {
        "streams": streams,
        "wall_s": round(wall, 3),
        "completion_tokens": tokens,
        "aggregate_tokens_per_s": round(tokens / wall, 2) if wall else None,
        "ttft_ms": summarize([t.ttft_s for t in done if t.ttft_s is not None], 1000),
        "inter_token_ms": summarize(itl, 1000),
        "itl_p95_ms": round(percentile(itl, 95) * 1000, 3) if itl else None,
        "per_stream_tokens": [t.completion_tokens for t in done],
        "errors": errors,
    }


def measure(label: str, base_url: str, headers: dict[str, str], *, levels: list[int],
            max_tokens: int, rounds: int, pid: int) -> dict[str, Any]:
    stream_once(base_url, headers, PROMPTS[0], 16)  # warm-up
    out: dict[str, Any] = {}
    for streams in levels:
        wait_until_quiet(120, log=lambda m: console.print(f"  {m}"))
        best: dict[str, Any] | None = None
        all_rounds = []
        for _ in range(rounds):
            with CpuMonitor([pid]) as mon:
                result = run_level(base_url, headers, streams, max_tokens)
            result["cpu"] = mon.result()
            all_rounds.append(result)
            # The median round by throughput stands for the level; all rounds are kept.
        ordered = sorted(all_rounds, key=lambda r: r["aggregate_tokens_per_s"] or 0)
        best = ordered[len(ordered) // 2]
        best["rounds"] = [{k: r[k] for k in ("aggregate_tokens_per_s", "itl_p95_ms", "wall_s")}
                          for r in all_rounds]
        out[str(streams)] = best
        console.print(f"  {label} x{streams}: {best['aggregate_tokens_per_s']} tok/s, "
                      f"ttft p50 {best['ttft_ms']['p50']} ms, itl p95 {best['itl_p95_ms']} ms")
    return out


def run_warden(args: argparse.Namespace) -> dict[str, Any]:
    # Safety off: this measures the engine; the guard's cost is benchmarks/safety.py's job.
    config = {"server": {"log_level": "warning", "request_timeout_s": 900},
              "safety": {"enabled": False},
              "models": [{"name": MODEL, "n_ctx": args.n_ctx, "n_threads": args.threads,
                          "max_batch": args.max_batch}]}
    with WardenProcess(config) as warden:
        key = warden.create_key("bench")
        result = measure("warden", warden.base_url, warden.auth(key), levels=args.levels,
                         max_tokens=args.max_tokens, rounds=args.rounds, pid=warden.pid)
        models = httpx.get(f"{warden.base_url}/v1/models", headers=warden.auth(key),
                           timeout=30).json()["data"]
        result["kv_memory"] = kv_memory(models[0]["meta"])
        return result


KV_TARGET_GB = 0.7  # the serving seed: KV memory per layer per 4k tokens


def kv_memory(meta: dict[str, Any]) -> dict[str, Any]:
    """The loaded model's KV cost as /v1/models reports it, next to the seed's target."""
    per_layer = meta["kv_bytes_per_layer_per_4k_tokens"]
    return {"n_layer": meta["n_layer"], "bytes_per_layer_per_4k_tokens": per_layer,
            "gb_per_layer_per_4k_tokens": round(per_layer / 1e9, 6),
            "gb_all_layers_per_4k_tokens": round(per_layer * meta["n_layer"] / 1e9, 4),
            "target_gb_per_layer_per_4k_tokens": KV_TARGET_GB,
            "met": per_layer / 1e9 <= KV_TARGET_GB}


def run_llama_server(args: argparse.Namespace) -> dict[str, Any]:
    port = free_port()
    # interrupt_requests False: otherwise a new request cuts off the one already streaming.
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(builtin_model_path()),
           "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(args.n_ctx),
           "--n_threads", str(args.threads), "--n_threads_batch", str(args.threads),
           "--model_alias", MODEL, "--interrupt_requests", "False"]
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_http(f"http://127.0.0.1:{port}/v1/models", timeout=300, proc=proc)
            return measure("llama_cpp.server", f"http://127.0.0.1:{port}", {},
                           levels=args.levels, max_tokens=args.max_tokens,
                           rounds=args.rounds, pid=proc.pid)
        finally:
            stop_process(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", type=lambda s: [int(x) for x in s.split(",")],
                        default=[1, 4, 8], help="concurrent streams to test (default 1,4,8)")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3, help="rounds per level (median kept)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--n-ctx", type=int, default=2048)
    parser.add_argument("--max-batch", type=int, default=8)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    started = utc_now()
    systems: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
        "warden": run_warden, "llama_cpp_server": run_llama_server}
    results = {}
    for name, runner in systems.items():
        console.print(f"[bold]{name}[/]")
        results[name] = runner(args)
    w, srv = results["warden"], results["llama_cpp_server"]

    def agg(system: dict[str, Any], level: int) -> float | None:
        return system.get(str(level), {}).get("aggregate_tokens_per_s")

    targets = {
        "x8_vs_server_x8": {"value": ratio(agg(w, 8), agg(srv, 8)), "target": 5.0},
        "x8_vs_server_x1": {"value": ratio(agg(w, 8), agg(srv, 1)), "target": 2.0},
        "x1_vs_server_x1": {"value": ratio(agg(w, 1), agg(srv, 1)), "target": 0.95},
        "itl_p95_ms_at_4": {"value": w.get("4", {}).get("itl_p95_ms"), "target": 30.0,
                            "lower_is_better": True},
    }
    for t in targets.values():
        if t["value"] is None:
            t["met"] = None
        elif t.get("lower_is_better"):
            t["met"] = t["value"] <= t["target"]
        else:
            t["met"] = t["value"] >= t["target"]

    table = Table("streams", "system", "agg tok/s", "TTFT p50", "TTFT p95", "ITL p50", "ITL p95",
                  title=f"engine benchmark, {args.max_tokens} tokens/stream")
    for level in args.levels:
        for name, res in results.items():
            r = res.get(str(level), {})
            table.add_row(str(level), name, str(r.get("aggregate_tokens_per_s")),
                          str(r.get("ttft_ms", {}).get("p50")),
                          str(r.get("ttft_ms", {}).get("p95")),
                          str(r.get("inter_token_ms", {}).get("p50")),
                          str(r.get("inter_token_ms", {}).get("p95")))
    console.print(table)
    for name, t in targets.items():
        console.print(f"{name}: {t['value']} (target {t['target']}) -> "
                      f"{'met' if t['met'] else 'MISSED'}")
    kv = w.get("kv_memory")
    if kv:
        console.print(f"KV memory: {kv['gb_per_layer_per_4k_tokens']} GB per layer per 4k tokens "
                      f"({kv['gb_all_layers_per_4k_tokens']} GB for all {kv['n_layer']} layers; "
                      f"target {KV_TARGET_GB} GB per layer)")
    payload = {"benchmark": "engine", "date": started.isoformat(timespec="seconds"),
               "finished": utc_now().isoformat(timespec="seconds"), "machine": machine_info(),
               "parameters": {"levels": args.levels, "max_tokens": args.max_tokens,
                              "rounds": args.rounds, "threads": args.threads,
                              "n_ctx": args.n_ctx, "max_batch": args.max_batch,
                              "prompts": PROMPTS, "temperature": 0,
                              "endpoint": "/v1/completions stream=true"},
               "systems": results, "targets": targets}
    if not args.no_write:
        path = write_results("engine", payload)
        console.print(f"wrote {path}")


if __name__ == "__main__":
    main()
