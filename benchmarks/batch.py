"""Batch serving, measured: does a batch use the idle engine well, and do live users notice it?

One `warden serve` (built-in model, guard off: this measures the engine and the scheduler)
runs four phases in each of `--rounds` rounds (alternating, so a slow spell of a shared
machine hits every side alike; the figures pool all rounds):

1. idle throughput: `--streams` clients send the batch's very requests (streamed, so their
   tokens are counted the same way) back to back; aggregate completion tokens/s is the
   engine's idle-machine throughput;
2. batch alone: a batch of the same requests through the Batch API; completion tokens /
   wall time from creation to `completed` (`--lines` in all rounds);
3. interactive alone: streamed requests back to back, then more with `--gap-s` between
   them (TTFT and inter-token gaps, client side);
4. interactive with a batch running: the same requests while a batch holds every slot.

Back to back is a live session (a chat, an agent); spaced requests arrive one by one while
the batch has the engine, so each waits out the batch step in flight.

Targets (issue 17): interactive p95 inter-token and TTFT with the batch <= 1.2x without it;
batch throughput >= 0.8x the idle throughput. JSON in benchmarks/results/batch-*.json.
"""

from __future__ import annotations

import argparse
import json
import re
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


def idle_throughput(client: httpx.Client, args: argparse.Namespace, requests: int
                    ) -> dict[str, Any]:
    """The engine kept full by streams of the batch's own requests: its idle throughput."""
    counter = iter(range(requests))
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
    return {"requests": len(tokens), "completion_tokens": sum(tokens), "wall_s": wall}


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


def batch_alone(client: httpx.Client, args: argparse.Namespace, lines: int, tag: str
                ) -> dict[str, Any]:
    """A batch on an otherwise idle server: creation to `completed`, client side."""
    started = time.perf_counter()
    batch_id = submit_batch(client, lines, args.max_tokens, tag)
    batch = wait_batch(client, batch_id, timeout_s=3600)
    wall = time.perf_counter() - started
    return {"batch_id": batch_id, "status": batch["status"], "lines": lines,
            "request_counts": batch["request_counts"],
            "completion_tokens": batch["usage"]["output_tokens"], "wall_s": wall}


def interactive(client: httpx.Client, args: argparse.Namespace, back_to_back: int,
                spaced: int) -> dict[str, list[StreamTiming]]:
    out: dict[str, list[StreamTiming]] = {}
    for pattern, count, gap in (("back_to_back", back_to_back, 0.0),
                                ("spaced", spaced, args.gap_s)):
        runs = []
        for i in range(count):
            time.sleep(gap)
            body = {**line_body(100 + i, args.interactive_tokens), "seed": 1000 + i}
            runs.append(stream_once(client, body))
        out[pattern] = runs
    return out


def summary(runs: list[StreamTiming]) -> dict[str, Any]:
    itl = [gap for r in runs for gap in r.inter_token_s]
    ttft = [r.ttft_s for r in runs if r.ttft_s is not None]
    return {**stream_stats(runs), "itl_p95_ms": round(percentile(itl, 95) * 1000, 3),
            "ttft_p95_ms": round(percentile(ttft, 95) * 1000, 3)}


def with_batch(client: httpx.Client, args: argparse.Namespace, back_to_back: int,
               spaced: int, tag: str) -> dict[str, Any]:
    """Interactive requests while a batch holds every slot; then the batch is cancelled."""
    batch_id = submit_batch(client, args.lines, args.max_tokens, tag)
    deadline = time.monotonic() + 120
    while client.get(f"/v1/batches/{batch_id}").json()["status"] != "in_progress":
        if time.monotonic() > deadline:
            raise TimeoutError("the batch never started")
        time.sleep(0.1)
    time.sleep(2.0)  # let the batch fill every slot first
    before = client.get(f"/v1/batches/{batch_id}").json()["request_counts"]
    runs = interactive(client, args, back_to_back, spaced)
    after = client.get(f"/v1/batches/{batch_id}").json()["request_counts"]
    client.post(f"/v1/batches/{batch_id}/cancel")
    wait_batch(client, batch_id, timeout_s=120)
    return {"runs": runs, "lines_answered_meanwhile": after["completed"] + after["failed"]
            - before["completed"] - before["failed"]}


BUCKET = re.compile(r'^warden_batch_interactive_(ttft|itl)_seconds_bucket\{(.*)\} (\S+)$')


def engine_buckets(client: httpx.Client) -> dict[str, dict[float, float]]:
    """Cumulative engine-side histogram buckets of interactive TTFT and gaps, both
    batch_active labels summed: subtract two readings to get one block's histogram."""
    out: dict[str, dict[float, float]] = {"ttft": {}, "itl": {}}
    for text in client.get("/metrics").text.splitlines():
        found = BUCKET.match(text)
        if found:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', found.group(2)))
            bound = float(labels["le"])
            out[found.group(1)][bound] = out[found.group(1)].get(bound, 0.0) \
                + float(found.group(3))
    return out


def bucket_p95_ms(before: dict[float, float], after: dict[float, float]) -> float | None:
    """The upper bound of the bucket holding the 95th percentile of what happened between
    two readings (engine side, so HTTP and client noise are not in it)."""
    delta = sorted((bound, after.get(bound, 0.0) - before.get(bound, 0.0)) for bound in after)
    total = delta[-1][1] if delta else 0.0
    if total <= 0:
        return None
    return next(round(bound * 1000, 1) for bound, count in delta if count >= 0.95 * total)


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


def rounds(client: httpx.Client, args: argparse.Namespace, pid: int) -> dict[str, Any]:
    """The four phases in `--rounds` alternating rounds, so a slow spell on a shared machine
    hits the with- and without-batch sides alike; the figures pool every round."""
    n = args.rounds
    pooled: dict[str, Any] = {"idle": {"completion_tokens": 0, "wall_s": 0.0},
                              "batch_alone": {"completion_tokens": 0, "wall_s": 0.0}}
    timings: dict[str, dict[str, list[StreamTiming]]] = {
        side: {"back_to_back": [], "spaced": []} for side in ("alone", "beside")}
    log: list[dict[str, Any]] = []
    for r in range(n):
        wait_until_quiet(120, log=lambda m: console.print(f"  {m}"))
        entry: dict[str, Any] = {"round": r + 1}
        with CpuMonitor([pid]) as mon:
            idle = idle_throughput(client, args, args.idle_requests // n)
        entry["idle"] = {**idle, "cpu": mon.result()}
        time.sleep(args.settle_s)  # an idle server: no interactive work in the last seconds
        with CpuMonitor([pid]) as mon:
            alone = batch_alone(client, args, args.lines // n, f"alone{r}")
        entry["batch_alone"] = {**alone, "cpu": mon.result()}
        for key, part in (("idle", idle), ("batch_alone", alone)):
            pooled[key]["completion_tokens"] += part["completion_tokens"]
            pooled[key]["wall_s"] += part["wall_s"]
        first = engine_buckets(client)
        with CpuMonitor([pid]) as mon:
            by_pattern = interactive(client, args, args.interactive // n, args.spaced // n)
        middle = engine_buckets(client)
        entry["interactive_alone"] = {"cpu": mon.result(), "engine_p95_ms": {
            k: bucket_p95_ms(first[k], middle[k]) for k in ("ttft", "itl")}}
        with CpuMonitor([pid]) as mon:
            beside = with_batch(client, args, args.interactive // n, args.spaced // n,
                                f"beside{r}")
        last = engine_buckets(client)
        entry["interactive_with_batch"] = {
            "cpu": mon.result(), "lines_answered_meanwhile": beside["lines_answered_meanwhile"],
            "engine_p95_ms": {k: bucket_p95_ms(middle[k], last[k]) for k in ("ttft", "itl")}}
        for pattern in ("back_to_back", "spaced"):
            timings["alone"][pattern] += by_pattern[pattern]
            timings["beside"][pattern] += beside["runs"][pattern]
        entry["ratios"] = {
            "batch_vs_idle": ratio(alone["completion_tokens"] / alone["wall_s"],
                                   idle["completion_tokens"] / idle["wall_s"]),
            **{f"{p}_{m}": ratio(summary(beside["runs"][p])[m], summary(by_pattern[p])[m])
               for p in ("back_to_back", "spaced") for m in ("itl_p95_ms", "ttft_p95_ms")}}
        engine = {side: entry[side]["engine_p95_ms"]
                  for side in ("interactive_alone", "interactive_with_batch")}
        console.print(f"  round {r + 1}/{n}: {json.dumps(entry['ratios'])} engine p95 ms: "
                      f"{json.dumps(engine)}")
        log.append(entry)
    for key in ("idle", "batch_alone"):
        pooled[key]["tokens_per_s"] = round(pooled[key]["completion_tokens"]
                                            / pooled[key]["wall_s"], 2)
    pooled["interactive_alone"] = {p: summary(t) for p, t in timings["alone"].items()}
    pooled["interactive_with_batch"] = {p: summary(t) for p, t in timings["beside"].items()}
    pooled["rounds"] = log
    return pooled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=200, help="batch lines in all rounds")
    parser.add_argument("--max-tokens", type=int, default=64, help="per batch line")
    parser.add_argument("--streams", type=int, default=8, help="idle-throughput clients")
    parser.add_argument("--idle-requests", type=int, default=64, help="in all rounds")
    parser.add_argument("--interactive", type=int, default=20, help="back-to-back requests")
    parser.add_argument("--spaced", type=int, default=12, help="spaced requests")
    parser.add_argument("--gap-s", type=float, default=1.0, help="pause before each spaced "
                        "request (longer than the scheduler's interactive grace)")
    parser.add_argument("--interactive-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--settle-s", type=float, default=11.0, help="quiet before each "
                        "batch-alone phase: the scheduler gives batch full steps once "
                        "interactive work is 10 s past (interactive_recent_s)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-batch", type=int, default=8)
    args = parser.parse_args()

    config = {"server": {"log_level": "warning", "request_timeout_s": 900},
              "safety": {"enabled": False},
              "models": [{"name": MODEL, "n_threads": args.threads,
                          "max_batch": args.max_batch}]}
    with WardenProcess(config) as warden:
        key = warden.create_key("bench")
        client = httpx.Client(base_url=warden.base_url, headers=warden.auth(key), timeout=900)
        stream_once(client, line_body(0, 8))  # warm-up
        with CpuMonitor([warden.pid]) as mon:
            phases = rounds(client, args, warden.pid)
        phases["cpu"] = mon.result()
        phases["engine_metrics"] = engine_metrics(client)
    alone, beside = phases["interactive_alone"], phases["interactive_with_batch"]
    targets: dict[str, Any] = {"batch_vs_idle_throughput": ratio(
        phases["batch_alone"]["tokens_per_s"], phases["idle"]["tokens_per_s"])}
    met = {"batch_ge_0_8x_idle": (targets["batch_vs_idle_throughput"] or 0) >= 0.8}
    for pattern in ("back_to_back", "spaced"):
        for metric in ("itl_p95_ms", "ttft_p95_ms"):
            name = f"{pattern}_{metric.removesuffix('_ms')}_ratio"
            targets[name] = ratio(beside[pattern][metric], alone[pattern][metric])
            met[f"{name}_le_1_2x"] = (targets[name] or 99) <= 1.2
    targets["met"] = met
    payload = {"benchmark": "batch", "when": utc_now().isoformat(), "machine": machine_info(),
               "args": vars(args), "phases": phases, "targets": targets}
    stamped, _ = write_results("batch", payload)
    console.print(json.dumps(targets, indent=2))
    console.print(f"results: {stamped}")


if __name__ == "__main__":
    main()
