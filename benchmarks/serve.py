"""Single-stream serving overhead: Warden over real HTTP vs raw llama-cpp-python in-process.

All systems run the built-in SmolLM2-135M GGUF with the same n_ctx / n_batch / threads, the
same prompts, greedy decoding and no KV prefix reuse between requests, one after the other
(never at the same time: they would fight over the cores). Systems:

  warden         `warden serve`, safety guards off: the serving path itself (HTTP, auth,
                 limiter, admission, engine, SSE). This is the one held to the target.
  warden_safety  the same with the default safety guards on. Output is released in checked
                 segments (safety.stream_hold_chars), so text arrives in a few large chunks
                 and the per-token decode rate is not observable from the client.
  raw            llama_cpp.Llama in this process: create_completion(stream=True) after
                 llm.reset().

Timings are client-side:
  TTFT          request sent -> first chunk that carries text
  inter-token   gaps between consecutive text chunks (pooled over all runs)
  decode tok/s  (completion_tokens - 1) / (last text chunk - first text chunk)
  e2e tok/s     completion_tokens / (request sent -> stream finished)

The box is shared: a run during which other processes used more than --foreign-cpu-limit
cores is discarded and repeated once the machine is quiet (all recorded in the JSON).
Results go to benchmarks/results/serve-<UTC timestamp>.json and serve-latest.json.
Run from the repo root:  .venv/bin/python benchmarks/serve.py
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (  # after the sys.path line above
    RESULTS_DIR,
    StreamTiming,
    WardenProcess,
    iter_sse,
    machine_info,
    measure_runs,
    ratio,
    stream_stats,
    utc_now,
    wait_until_quiet,
    write_results,
)

TARGET_RATIO = 0.9
MODEL_NAME = "smollm2-135m-instruct"
SYSTEMS = ("warden", "warden_safety", "raw")
WARDEN_SYSTEMS = ("warden", "warden_safety")
LABELS = {"warden": "Warden", "warden_safety": "Warden+safety", "raw": "raw llama-cpp"}
# Raw completion prompts (no chat template) that SmolLM2-135M continues well past 128 tokens
# at temperature 0, so every run produces exactly max_tokens tokens.
PROMPTS = (
    "Count from 1 to 500, separated by commas: 1, 2, 3, 4, 5,",
    "Once upon a time, in a small village by the sea, there lived an old fisherman who",
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="benchmarks/serve.py",
        description="Measure single-stream streaming latency and throughput of the built-in "
                    "model through Warden (/v1/completions over HTTP, SSE; with safety guards "
                    "off and on) and through raw llama-cpp-python in-process, and report "
                    f"Warden/raw ratios (target >= {TARGET_RATIO}x tokens/s for the serving "
                    "path). Writes benchmarks/results/serve-<timestamp>.json and "
                    "serve-latest.json.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--runs", type=int, default=10, help="measured requests per system")
    parser.add_argument("--max-tokens", type=int, default=128, help="tokens per request")
    parser.add_argument("--warmup", type=int, default=1,
                        help="uncounted requests per system before measuring")
    parser.add_argument("--systems", default=",".join(SYSTEMS),
                        help=f"comma-separated subset of {', '.join(SYSTEMS)}, measured in "
                             "this order")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="llama.cpp threads (n_threads and n_threads_batch), all systems")
    parser.add_argument("--n-ctx", type=int, default=2048, help="context per sequence")
    parser.add_argument("--n-batch", type=int, default=512, help="llama.cpp n_batch")
    parser.add_argument("--wait-quiet", type=float, default=300.0, metavar="SECONDS",
                        help="before each system and after a contaminated run, wait up to "
                             "this long for other processes to stop using the CPU (0 = don't "
                             "wait before systems)")
    parser.add_argument("--foreign-cpu-limit", type=float, default=0.25, metavar="CORES",
                        help="a run during which other processes used more CPU than this is "
                             "discarded and repeated (this box is shared)")
    parser.add_argument("--retries", type=int, default=8,
                        help="repeats per contaminated run before keeping it anyway")
    parser.add_argument("--log-level", default="info",
                        choices=("debug", "info", "warning", "error"),
                        help="Warden server.log_level")
    parser.add_argument("--profile", metavar="FILE", default=None,
                        help="py-spy record each Warden server during its measured requests "
                             "into FILE with the system name appended to the stem (speedscope "
                             "if it ends in .json, collapsed stacks if .txt/.folded, else an "
                             "SVG flamegraph); needs py-spy (.venv/bin/pip install py-spy)")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--no-write", action="store_true", help="print only, write no JSON")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.max_tokens < 2 or args.warmup < 0 or args.retries < 0:
        parser.error("--runs >= 1, --max-tokens >= 2, --warmup >= 0, --retries >= 0 required")
    args.systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = [s for s in args.systems if s not in SYSTEMS]
    if unknown or not args.systems or len(set(args.systems)) != len(args.systems):
        parser.error(f"--systems takes distinct names from {', '.join(SYSTEMS)}")
    return args


def text_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# Warden ----------------------------------------------------------------------------------
def warden_request(client: Any, key: str, prompt: str, max_tokens: int) -> StreamTiming:
    body = {"model": MODEL_NAME, "prompt": prompt, "max_tokens": max_tokens,
            "temperature": 0, "stream": True, "stream_options": {"include_usage": True}}
    headers = {"authorization": f"Bearer {key}", "accept": "text/event-stream"}
    timing = StreamTiming(sent=time.perf_counter())
    with client.stream("POST", "/v1/completions", json=body, headers=headers) as response:
        if response.status_code != 200:
            response.read()
            raise RuntimeError(f"/v1/completions answered {response.status_code}: "
                               f"{response.text[:500]}")
        for payload in iter_sse(response.iter_lines()):
            now = time.perf_counter()
            if "error" in payload:
                raise RuntimeError(f"error mid-stream: {payload['error']}")
            for choice in payload.get("choices") or ():
                timing.chunk(choice.get("text") or "", now)
                if choice.get("finish_reason"):
                    timing.finish_reason = choice["finish_reason"]
            usage = payload.get("usage")
            if usage:
                timing.completion_tokens = usage["completion_tokens"]
                timing.prompt_tokens = usage["prompt_tokens"]
    timing.end()
    if timing.completion_tokens is None:
        raise RuntimeError("the stream carried no usage chunk (stream_options.include_usage)")
    return timing


def _py_spy() -> str | None:
    venv_bin = Path(sys.executable).parent / "py-spy"
    return str(venv_bin) if venv_bin.exists() else shutil.which("py-spy")


def _start_profiler(output: str, pid: int) -> subprocess.Popen[bytes]:
    spy = _py_spy()
    if spy is None:
        raise SystemExit("--profile needs py-spy (.venv/bin/pip install py-spy)")
    fmt = ("speedscope" if output.endswith(".json") else
           "raw" if output.endswith((".txt", ".folded")) else "flamegraph")
    profiler = subprocess.Popen(
        [spy, "record", "--pid", str(pid), "--threads", "--idle", "--native", "--rate", "100",
         "--format", fmt, "--output", output],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1.0)  # let py-spy attach before the first measured request
    return profiler


def warden_config(args: argparse.Namespace, safety: bool) -> dict[str, Any]:
    """Warden's defaults except: limits nobody hits (see generous_tiers), the same llama.cpp
    settings as the raw side, no prefix reuse (the raw side resets its KV per request), and
    the safety guards on or off."""
    return {
        "server": {"log_level": args.log_level, "request_timeout_s": 600},
        "safety": {"enabled": safety},
        "models": [{"name": MODEL_NAME, "n_ctx": args.n_ctx, "n_batch": args.n_batch,
                    "n_threads": args.threads, "prefix_cache": False}],
    }


def _profile_path(profile: str, system: str) -> str:
    path = Path(profile)
    return str(path.with_name(f"{path.stem}-{system}{path.suffix}"))


def measure_warden(args: argparse.Namespace, log: Any, system: str) -> dict[str, Any]:
    import httpx

    config = warden_config(args, safety=system == "warden_safety")
    with WardenProcess(config, startup_timeout_s=600) as warden:
        log(f"{system} up on {warden.base_url} (pid {warden.pid}, started in "
            f"{warden.startup_s:.1f}s)")
        key = warden.create_key("bench")
        with httpx.Client(base_url=warden.base_url, timeout=600) as client:
            for i in range(args.warmup):
                warden_request(client, key, PROMPTS[i % len(PROMPTS)], args.max_tokens)
            profile = _profile_path(args.profile, system) if args.profile else None
            profiler = _start_profiler(profile, warden.pid) if profile else None
            try:
                measured = measure_runs(
                    args.runs, lambda i: warden_request(client, key, PROMPTS[i % len(PROMPTS)],
                                                        args.max_tokens),
                    label=system, pids=[warden.pid, *([profiler.pid] if profiler else [])],
                    **_retry_policy(args, log))
            finally:
                if profiler is not None:
                    profiler.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
                    _, err = profiler.communicate(timeout=120)
                    log(f"py-spy ({profile}): {err.decode(errors='replace').strip()[-300:]}")
    return {"runs": measured.runs, "discarded_runs": measured.discarded, "cpu": measured.cpu,
            "server_startup_s": round(warden.startup_s or 0, 2), "config": config}


# raw llama-cpp-python --------------------------------------------------------------------
def raw_request(llm: Any, prompt: str, max_tokens: int) -> StreamTiming:
    from llama_cpp import StoppingCriteriaList

    sampled = 0

    def count_sampled(_ids: Any, _logits: Any) -> bool:
        nonlocal sampled
        sampled += 1
        return False

    llm.reset()  # parity with Warden: no KV prefix reuse between requests
    timing = StreamTiming(sent=time.perf_counter())
    # stopping_criteria is called once per sampled token (and once more at the very end),
    # which gives an exact completion-token count without touching the decode path.
    for chunk in llm.create_completion(prompt, max_tokens=max_tokens, temperature=0,
                                       stream=True,
                                       stopping_criteria=StoppingCriteriaList([count_sampled])):
        now = time.perf_counter()
        choice = chunk["choices"][0]
        timing.chunk(choice.get("text") or "", now)
        if choice.get("finish_reason"):
            timing.finish_reason = choice["finish_reason"]
    timing.end()
    sampled -= 1  # the call after the loop
    # At "length" every sampled token is in the completion; an end-of-generation token is not.
    timing.completion_tokens = sampled if timing.finish_reason == "length" else sampled - 1
    timing.prompt_tokens = len(llm.tokenize(prompt.encode(), add_bos=True, special=True))
    return timing


def measure_raw(args: argparse.Namespace, log: Any) -> dict[str, Any]:
    from llama_cpp import Llama

    from warden.engine.model_files import builtin_model_path

    started = time.monotonic()
    llm = Llama(model_path=str(builtin_model_path()), n_ctx=args.n_ctx, n_batch=args.n_batch,
                n_threads=args.threads, n_threads_batch=args.threads, seed=42, verbose=False)
    load_s = time.monotonic() - started
    log(f"raw Llama loaded in {load_s:.1f}s")
    for i in range(args.warmup):
        raw_request(llm, PROMPTS[i % len(PROMPTS)], args.max_tokens)
    measured = measure_runs(
        args.runs, lambda i: raw_request(llm, PROMPTS[i % len(PROMPTS)], args.max_tokens),
        label="raw", **_retry_policy(args, log))
    llm.close()
    return {"runs": measured.runs, "discarded_runs": measured.discarded, "cpu": measured.cpu,
            "model_load_s": round(load_s, 2)}


def _retry_policy(args: argparse.Namespace, log: Any) -> dict[str, Any]:
    return {"foreign_limit": args.foreign_cpu_limit, "retries": args.retries,
            "quiet_wait_s": max(args.wait_quiet, 5.0), "log": log, "describe": _run_line}


# report ----------------------------------------------------------------------------------
def _run_line(t: StreamTiming) -> str:
    d = t.as_dict()

    def f(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    return (f"{d['completion_tokens']} tok ({d['finish_reason']}) in {d['content_chunks']} "
            f"chunks, TTFT {f(d['ttft_ms'])} ms, decode {f(d['decode_tokens_per_s'])} tok/s, "
            f"e2e {f(d['e2e_tokens_per_s'])} tok/s")


def system_report(measured: dict[str, Any]) -> dict[str, Any]:
    runs: list[StreamTiming] = measured["runs"]
    report = {k: v for k, v in measured.items() if k != "runs"}
    stats = stream_stats(runs)
    if stats["decode_tokens_per_s"]["count"] < len(runs):
        # Some runs arrived in a single chunk: no first-to-last span, so a mean over the
        # others would be biased. Keep the numbers, but mark the metric as not measurable.
        stats["decode_tokens_per_s"]["measurable"] = False
    foreign = [r.foreign_cpu_cores for r in runs if r.foreign_cpu_cores is not None]
    stats["foreign_cpu_cores_kept_runs"] = {
        "mean": round(sum(foreign) / len(foreign), 3) if foreign else None,
        "max": max(foreign) if foreign else None}
    report["stats"] = stats
    report["per_run"] = [{**r.as_dict(), "output_sha256_16": text_digest(r.text)} for r in runs]
    report["outputs"] = {text_digest(r.text): r.text for r in runs}
    return report


def _metric(stats: dict[str, Any], group: str, key: str) -> float | None:
    if stats[group].get("measurable") is False:
        return None
    return stats[group][key]


RATIO_METRICS = {  # name in the JSON: (stats group, statistic)
    "decode_tokens_per_s": ("decode_tokens_per_s", "mean"),
    "e2e_tokens_per_s": ("e2e_tokens_per_s", "mean"),
    "ttft_ms_p50": ("ttft_ms", "p50"),
    "ttft_ms_p95": ("ttft_ms", "p95"),
    "inter_token_ms_p50": ("inter_token_ms", "p50"),
    "inter_token_ms_p95": ("inter_token_ms", "p95"),
}
TARGET_METRICS = ("decode_tokens_per_s", "e2e_tokens_per_s")


def compare(system: dict[str, Any], raw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(ratios system/raw, target_met); a metric that is not measurable gives null."""
    ratios = {name: ratio(_metric(system["stats"], *path), _metric(raw["stats"], *path))
              for name, path in RATIO_METRICS.items()}
    met: dict[str, Any] = {name: None if ratios[name] is None else ratios[name] >= TARGET_RATIO
                           for name in TARGET_METRICS}
    met["all"] = all(met[name] is True for name in TARGET_METRICS)
    return ratios, met


def print_table(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    systems = result["systems"]
    p = result["parameters"]
    raw = systems.get("raw")
    table = Table(title=f"SmolLM2-135M single stream, {p['runs']} runs x {p['max_tokens']} "
                        f"tokens, {p['threads']} threads, temperature 0", title_justify="left")
    table.add_column("metric", no_wrap=True)
    columns: list[tuple[str, str | None]] = []  # (system, ratio-of system)
    for system in sorted(p["systems"], key=lambda name: name != "raw"):  # raw first
        table.add_column(LABELS[system], justify="right", no_wrap=True)
        columns.append((system, None))
        if system in WARDEN_SYSTEMS and raw is not None:
            table.add_column(f"{LABELS[system]}/raw", justify="right", no_wrap=True)
            columns.append((system, system))

    rows = [
        ("TTFT p50 (ms)", ("ttft_ms", "p50"), ".1f", "ttft_ms_p50"),
        ("TTFT p95 (ms)", ("ttft_ms", "p95"), ".1f", "ttft_ms_p95"),
        ("inter-token p50 (ms)", ("inter_token_ms", "p50"), ".2f", "inter_token_ms_p50"),
        ("inter-token p95 (ms)", ("inter_token_ms", "p95"), ".2f", "inter_token_ms_p95"),
        ("decode tok/s (mean)", ("decode_tokens_per_s", "mean"), ".1f", "decode_tokens_per_s"),
        ("end-to-end tok/s (mean)", ("e2e_tokens_per_s", "mean"), ".1f", "e2e_tokens_per_s"),
        ("text chunks per run (mean)", ("content_chunks", "mean"), ".1f", None),
    ]
    for label, path, fmt, ratio_name in rows:
        cells = [label]
        for system, ratio_of in columns:
            if ratio_of is None:
                value = _metric(systems[system]["stats"], *path)
                cells.append("n/a" if value is None else format(value, fmt))
                continue
            value = result["ratios"].get(ratio_of, {}).get(ratio_name) if ratio_name else None
            if value is None:
                cells.append("")
            elif ratio_name in TARGET_METRICS:
                style = "green" if value >= TARGET_RATIO else "red"
                cells.append(f"[{style}]{value:.3f}x[/]")
            else:
                cells.append(f"{value:.3f}x")
        table.add_row(*cells)
    console = Console(width=max(Console().width, 120))
    console.print(table)
    for system in p["systems"]:
        report = systems[system]
        foreign = report["stats"]["foreign_cpu_cores_kept_runs"]
        if foreign["mean"] is not None:
            console.print(f"{system}: other processes used {foreign['mean']:.2f} cores on "
                          f"average (max {foreign['max']:.2f}) during the kept runs; "
                          f"{len(report['discarded_runs'])} contaminated runs discarded and "
                          "repeated", highlight=False)
    for note in result["notes"]:
        console.print(f"note: {note}", highlight=False)
    for warning in result["warnings"]:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    for system, met in result["target_met"].items():
        console.print(f"{system}: target >= {TARGET_RATIO}x raw tokens/s: decode "
                      f"{met['decode_tokens_per_s']}, end-to-end {met['e2e_tokens_per_s']}",
                      highlight=False)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM (e.g. `kill`) unwinds like Ctrl-C, so the Warden subprocess and temp dir go too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    started_at = utc_now()
    quiet_readings: dict[str, float | None] = {}
    measured: dict[str, dict[str, Any]] = {}
    for system in args.systems:
        if args.wait_quiet > 0:
            quiet_readings[system] = wait_until_quiet(args.wait_quiet, log=log)
        log(f"measuring {system}: {args.warmup} warm-up + {args.runs} runs x "
            f"{args.max_tokens} tokens")
        raw_or_warden = measure_raw(args, log) if system == "raw" else \
            measure_warden(args, log, system)
        measured[system] = system_report(raw_or_warden)

    warnings: list[str] = []
    notes: list[str] = []
    for system, report in measured.items():
        tokens = report["stats"]["completion_tokens"]
        if any(t != args.max_tokens for t in tokens):
            warnings.append(f"{system}: not every run produced {args.max_tokens} tokens "
                            f"({tokens}); tokens/s are still per produced token")
        dirty = [i + 1 for i, run in enumerate(report["per_run"])
                 if (run["foreign_cpu_cores"] or 0) > args.foreign_cpu_limit]
        if dirty:
            warnings.append(f"{system}: runs {dirty} were kept although other processes used "
                            f"more than {args.foreign_cpu_limit} cores meanwhile (retries "
                            "exhausted); rerun on a quiet machine")
        if report["stats"]["decode_tokens_per_s"].get("measurable") is False:
            notes.append(f"{system}: some runs arrived in a single text chunk (output held "
                         "back for the safety check), so decode tok/s and inter-token gaps "
                         "are not per-token figures; compare TTFT and end-to-end tok/s")
    ratios: dict[str, Any] = {}
    target_met: dict[str, Any] = {}
    if "raw" in measured:
        for system in (s for s in args.systems if s in WARDEN_SYSTEMS):
            ratios[system], target_met[system] = compare(measured[system], measured["raw"])
            differing = sorted({a["output_sha256_16"] for a, b in zip(
                measured[system]["per_run"], measured["raw"]["per_run"], strict=True)
                if a["output_sha256_16"] != b["output_sha256_16"]})
            if differing:
                notes.append(f"{system} and raw produced different greedy text for "
                             f"{len(differing)} of {len(PROMPTS)} prompts (different batch "
                             "shapes change low logit bits); the token count is the same, so "
                             "the throughput comparison holds")
    result = {
        "benchmark": "serve",
        "date": started_at.isoformat(timespec="seconds"),
        "finished": utc_now().isoformat(timespec="seconds"),
        "machine": machine_info(),
        "parameters": {
            "model": MODEL_NAME, "systems": args.systems, "runs": args.runs,
            "warmup": args.warmup, "max_tokens": args.max_tokens, "temperature": 0,
            "threads": args.threads, "n_ctx": args.n_ctx, "n_batch": args.n_batch,
            "prompts": list(PROMPTS), "prompt_schedule": "run i uses prompts[i % len]",
            "endpoint": "/v1/completions stream=true stream_options.include_usage=true",
            "raw_call": "Llama.create_completion(stream=True) after llm.reset()",
            "target_ratio": TARGET_RATIO, "target_applies_to": "warden (safety off)",
            "foreign_cpu_limit": args.foreign_cpu_limit, "retries": args.retries,
        },
        "quiet_check_foreign_cpu_cores": quiet_readings,
        "systems": measured,
        "ratios": ratios,
        "target_met": target_met,
        "notes": notes,
        "warnings": warnings,
    }
    print_table(result)
    if not args.no_write:
        stamped, latest = write_results("serve", result, args.results_dir, when=started_at)
        print(f"wrote {stamped} and {latest.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
