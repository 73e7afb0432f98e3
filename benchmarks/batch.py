"""Batch serving, measured: does a batch use the idle engine well, and do live users notice it?

One `warden serve` (built-in model, guard off: this measures the engine and the scheduler)
runs four phases, one after the other:

1. idle throughput: `--streams` clients send the batch's very requests (streamed, so their
   tokens are counted the same way) back to back until `--idle-requests` are done;
   aggregate completion tokens/s is the engine's idle-machine throughput;
2. batch alone: a `--lines`-line batch through the Batch API; completion tokens / wall time
   from creation to `completed`;
3. interactive alone: `--interactive` streamed requests one after another (TTFT and
   inter-token gaps, client side);
4. interactive with a batch running: the same requests while a second batch runs.

Targets (issue 17): interactive p95 inter-token and TTFT with the batch <= 1.2x without it;
batch throughput >= 0.8x the idle throughput. JSON in benchmarks/results/batch-*.json.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from typing import Any

import httpx
from common import (
    CpuMonitor,
    StreamTiming,
    WardenProcess,
    iter_sse,
    machine_info,
    percentile,
    ratio,
    stream_stats,
    utc_now,
    wait_until_quiet,
    write_results,
)
from rich.console import Console

MODEL = "smollm2-135m-instruct"
TOPICS = ["the sea", "a city at night", "a mountain village", "an old library", "the desert",
          "a train journey", "a winter morning", "a busy market", "a lighthouse", "a forest"]
console = Console()
HEADLINE = ("tokens_per_s", "itl_p95_ms", "ttft_p95_ms", "lines_answered_meanwhile")


def line_body(i: int, max_tokens: int) -> dict[str, Any]:
    return {"model": MODEL, "prompt": f"Write a short story about {TOPICS[i % len(TOPICS)]}. "
            f"It begins:", "max_tokens": max_tokens, "temperature": 0, "seed": i}


def stream_once(client: httpx.Client, body: dict[str, Any]) -> StreamTiming:
    timing = StreamTiming(sent=time.perf_counter())
    payload = {**body, "stream": True, "stream_options": {"include_usage": True}}
    with client.stream("POST", "/v1/completions", json=payload) as response:
        response.raise_for_status()
        for event in iter_sse(response.iter_lines()):
            if event.get("usage"):
                timing.completion_tokens = event["usage"]["completion_tokens"]
            for choice in event.get("choices", []):
                if choice.get("text"):
                    timing.chunk(choice["text"])
                if choice.get("finish_reason"):
                    timing.finish_reason = choice["finish_reason"]
    timing.end()
    return timing


def idle_throughput(client: httpx.Client, args: argparse.Namespace) -> dict[str, Any]:
    """The engine kept full by streams of the batch's own requests: its idle throughput."""
    counter = iter(range(args.idle_requests))
    lock = threading.Lock()
    tokens: list[int] = []

    def worker() -> None:
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            timing = stream_once(client, line_body(i, args.max_tokens))
            with lock:
                tokens.append(timing.completion_tokens or 0)

    threads = [threading.Thread(target=worker) for _ in range(args.streams)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    return {"requests": len(tokens), "streams": args.streams, "completion_tokens": sum(tokens),
            "wall_s": round(wall, 3), "tokens_per_s": round(sum(tokens) / wall, 2)}


def submit_batch(client: httpx.Client, lines: int, max_tokens: int, tag: str) -> str:
    data = "\n".join(json.dumps({"custom_id": f"{tag}-{i}", "method": "POST",
                                 "url": "/v1/completions", "body": line_body(i, max_tokens)})
                     for i in range(lines)).encode()
    uploaded = client.post("/v1/files", data={"purpose": "batch"},
                           files={"file": (f"{tag}.jsonl", data)}).raise_for_status().json()
    batch = client.post("/v1/batches", json={"input_file_id": uploaded["id"],
                                             "endpoint": "/v1/completions",
                                             "completion_window": "24h"})
    return str(batch.raise_for_status().json()["id"])


def wait_batch(client: httpx.Client, batch_id: str, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        batch = client.get(f"/v1/batches/{batch_id}").raise_for_status().json()
        if batch["status"] in ("completed", "failed", "expired", "cancelled"):
            return dict(batch)
        if time.monotonic() > deadline:
            raise TimeoutError(f"batch {batch_id} still {batch['status']}")
        time.sleep(0.25)


def batch_alone(client: httpx.Client, args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    batch_id = submit_batch(client, args.lines, args.max_tokens, "alone")
    batch = wait_batch(client, batch_id, timeout_s=3600)
    wall = time.perf_counter() - started
    tokens = batch["usage"]["output_tokens"]
    return {"batch_id": batch_id, "status": batch["status"], "lines": args.lines,
            "request_counts": batch["request_counts"], "completion_tokens": tokens,
            "wall_s": round(wall, 3), "tokens_per_s": round(tokens / wall, 2)}


def interactive(client: httpx.Client, args: argparse.Namespace) -> list[StreamTiming]:
    runs = []
    for i in range(args.interactive):
        body = {**line_body(100 + i, args.interactive_tokens), "seed": 1000 + i}
        runs.append(stream_once(client, body))
    return runs


def summary(runs: list[StreamTiming]) -> dict[str, Any]:
    itl = [gap for r in runs for gap in r.inter_token_s]
    ttft = [r.ttft_s for r in runs if r.ttft_s is not None]
    return {**stream_stats(runs), "itl_p95_ms": round(percentile(itl, 95) * 1000, 3),
            "ttft_p95_ms": round(percentile(ttft, 95) * 1000, 3)}


def with_batch(client: httpx.Client, args: argparse.Namespace) -> dict[str, Any]:
    """Interactive requests while a batch runs; the batch's progress is sampled meanwhile."""
    batch_id = submit_batch(client, args.lines, args.max_tokens, "beside")
    deadline = time.monotonic() + 120
    while client.get(f"/v1/batches/{batch_id}").json()["status"] != "in_progress":
        if time.monotonic() > deadline:
            raise TimeoutError("the second batch never started")
        time.sleep(0.1)
    time.sleep(2.0)  # let the batch fill every slot first
    before = client.get(f"/v1/batches/{batch_id}").json()["request_counts"]
    runs = interactive(client, args)
    after = client.get(f"/v1/batches/{batch_id}").json()
    client.post(f"/v1/batches/{batch_id}/cancel")
    return {"runs": runs, "batch_id": batch_id, "batch_status_after": after["status"],
            "lines_answered_meanwhile": (after["request_counts"]["completed"]
                                         + after["request_counts"]["failed"]
                                         - before["completed"] - before["failed"])}


def engine_metrics(client: httpx.Client) -> dict[str, float]:
    """The engine-side counters of interactive latency beside batch work, and preemptions."""
    wanted = ("warden_batch_preemptions_total", "warden_batch_interactive_itl_seconds_count",
              "warden_batch_interactive_itl_seconds_sum",
              "warden_batch_interactive_ttft_seconds_count",
              "warden_batch_interactive_ttft_seconds_sum")
    out: dict[str, float] = {}
    for text in client.get("/metrics").text.splitlines():
        if text.startswith(wanted):
            name, value = text.rsplit(" ", 1)
            out[name] = float(value)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=200, help="lines per batch")
    parser.add_argument("--max-tokens", type=int, default=64, help="per batch line")
    parser.add_argument("--streams", type=int, default=8, help="idle-throughput clients")
    parser.add_argument("--idle-requests", type=int, default=64)
    parser.add_argument("--interactive", type=int, default=20, help="interactive requests")
    parser.add_argument("--interactive-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-batch", type=int, default=8)
    args = parser.parse_args()

    config = {"server": {"log_level": "warning", "request_timeout_s": 900},
              "safety": {"enabled": False},
              "models": [{"name": MODEL, "n_threads": args.threads,
                          "max_batch": args.max_batch}]}
    phases: dict[str, Any] = {}
    with WardenProcess(config) as warden:
        key = warden.create_key("bench")
        client = httpx.Client(base_url=warden.base_url, headers=warden.auth(key), timeout=900)
        stream_once(client, line_body(0, 8))  # warm-up
        for name, phase in (("idle", idle_throughput), ("batch_alone", batch_alone),
                            ("interactive_alone", interactive),
                            ("interactive_with_batch", with_batch)):
            wait_until_quiet(180, log=lambda m: console.print(f"  {m}"))
            console.print(f"[bold]{name}[/] ...")
            with CpuMonitor([warden.pid]) as mon:
                result: Any = phase(client, args)
            if name == "interactive_alone":
                result = summary(result)
            elif name == "interactive_with_batch":
                result = {**summary(result.pop("runs")), **result}
            phases[name] = {**result, "cpu": mon.result()}
            shown = {k: v for k, v in phases[name].items() if k in HEADLINE}
            console.print(f"  {json.dumps(shown)}")
        phases["engine_metrics"] = engine_metrics(client)
    alone, beside = phases["interactive_alone"], phases["interactive_with_batch"]
    targets: dict[str, Any] = {
        "interactive_itl_p95_ratio": ratio(beside["itl_p95_ms"], alone["itl_p95_ms"]),
        "interactive_ttft_p95_ratio": ratio(beside["ttft_p95_ms"], alone["ttft_p95_ms"]),
        "batch_vs_idle_throughput": ratio(phases["batch_alone"]["tokens_per_s"],
                                          phases["idle"]["tokens_per_s"]),
    }
    targets["met"] = {
        "itl_p95_le_1_2x": (targets["interactive_itl_p95_ratio"] or 99) <= 1.2,
        "ttft_p95_le_1_2x": (targets["interactive_ttft_p95_ratio"] or 99) <= 1.2,
        "batch_ge_0_8x_idle": (targets["batch_vs_idle_throughput"] or 0) >= 0.8,
    }
    payload = {"benchmark": "batch", "when": utc_now().isoformat(), "machine": machine_info(),
               "args": vars(args), "phases": phases, "targets": targets}
    stamped, _ = write_results("batch", payload)
    console.print(json.dumps(targets, indent=2))
    console.print(f"results: {stamped}")


if __name__ == "__main__":
    main()
