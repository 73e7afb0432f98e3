"""Single-stream serving overhead: Warden over real HTTP vs raw llama-cpp-python in-process.

Both sides run the built-in SmolLM2-135M GGUF with the same n_ctx / n_batch / threads, the
same prompts, greedy decoding and a fresh KV cache per request, one after the other (never at
the same time: they would fight over the cores). Timings are taken client-side:

  TTFT          request sent -> first chunk that carries text
  inter-token   gaps between consecutive text chunks (pooled over all runs)
  decode tok/s  (completion_tokens - 1) / (last text chunk - first text chunk)
  e2e tok/s     completion_tokens / (request sent -> stream finished)

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
    CpuMonitor,
    StreamTiming,
    WardenProcess,
    iter_sse,
    machine_info,
    ratio,
    stream_stats,
    utc_now,
    wait_until_quiet,
    write_results,
)

TARGET_RATIO = 0.9
MODEL_NAME = "smollm2-135m-instruct"
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
                    "model through Warden (/v1/completions over HTTP, SSE) and through raw "
                    "llama-cpp-python in-process, and report Warden/raw ratios (target >= "
                    f"{TARGET_RATIO}x tokens/s). Writes benchmarks/results/serve-*.json.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--runs", type=int, default=10, help="measured requests per system")
    parser.add_argument("--max-tokens", type=int, default=128, help="tokens per request")
    parser.add_argument("--warmup", type=int, default=1,
                        help="uncounted requests per system before measuring")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="llama.cpp threads (n_threads and n_threads_batch), both systems")
    parser.add_argument("--n-ctx", type=int, default=2048)
    parser.add_argument("--n-batch", type=int, default=512)
    parser.add_argument("--order", choices=("warden-first", "raw-first"),
                        default="warden-first", help="which system to measure first")
    parser.add_argument("--only", choices=("warden", "raw"), default=None,
                        help="measure one system only (no ratios)")
    parser.add_argument("--wait-quiet", type=float, default=120.0, metavar="SECONDS",
                        help="before each system, wait up to this long for other processes "
                             "to stop using the CPU (0 = don't wait)")
    parser.add_argument("--log-level", default="info",
                        choices=("debug", "info", "warning", "error"),
                        help="Warden server.log_level")
    parser.add_argument("--profile", metavar="FILE", default=None,
                        help="py-spy record the Warden server during the measured requests "
                             "into FILE (speedscope JSON if it ends in .json, else SVG "
                             "flamegraph); needs py-spy in PATH or the venv")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--no-write", action="store_true", help="print only, write no JSON")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.max_tokens < 2 or args.warmup < 0:
        parser.error("--runs >= 1, --max-tokens >= 2 and --warmup >= 0 are required")
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


def measure_warden(args: argparse.Namespace, log: Any) -> dict[str, Any]:
    import httpx

    config = {
        "server": {"log_level": args.log_level, "request_timeout_s": 600},
        "models": [{"name": MODEL_NAME, "n_ctx": args.n_ctx, "n_batch": args.n_batch,
                    "n_threads": args.threads}],
    }
    with WardenProcess(config) as warden:
        log(f"warden up on {warden.base_url} (pid {warden.pid}, started in "
            f"{warden.startup_s:.1f}s)")
        key = warden.create_key("bench")
        with httpx.Client(base_url=warden.base_url, timeout=600) as client:
            for i in range(args.warmup):
                warden_request(client, key, PROMPTS[i % len(PROMPTS)], args.max_tokens)
            profiler = None
            if args.profile:
                spy = _py_spy()
                if spy is None:
                    raise SystemExit("--profile needs py-spy (.venv/bin/pip install py-spy)")
                fmt = "speedscope" if args.profile.endswith(".json") else "flamegraph"
                profiler = subprocess.Popen(
                    [spy, "record", "--pid", str(warden.pid), "--threads", "--idle",
                     "--native", "--rate", "250", "--format", fmt, "--output", args.profile],
                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                time.sleep(1.0)  # let py-spy attach before the first measured request
            runs: list[StreamTiming] = []
            with CpuMonitor([warden.pid]) as cpu:
                for i in range(args.runs):
                    timing = warden_request(client, key, PROMPTS[i % len(PROMPTS)],
                                            args.max_tokens)
                    runs.append(timing)
                    log(f"  warden run {i + 1}/{args.runs}: {_run_line(timing)}")
            if profiler is not None:
                profiler.send_signal(signal.SIGINT)
                _, err = profiler.communicate(timeout=120)
                log(f"py-spy wrote {args.profile} ({err.decode(errors='replace')[-200:].strip()})")
    return {"runs": runs, "cpu": cpu.result(), "server_startup_s": round(warden.startup_s, 2),
            "config": config}


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
    runs: list[StreamTiming] = []
    with CpuMonitor() as cpu:
        for i in range(args.runs):
            timing = raw_request(llm, PROMPTS[i % len(PROMPTS)], args.max_tokens)
            runs.append(timing)
            log(f"  raw run {i + 1}/{args.runs}: {_run_line(timing)}")
    llm.close()
    return {"runs": runs, "cpu": cpu.result(), "model_load_s": round(load_s, 2)}


# report ----------------------------------------------------------------------------------
def _run_line(t: StreamTiming) -> str:
    d = t.as_dict()
    return (f"{d['completion_tokens']} tok ({d['finish_reason']}), TTFT {d['ttft_ms']:.1f} ms, "
            f"decode {d['decode_tokens_per_s']:.1f} tok/s, e2e {d['e2e_tokens_per_s']:.1f} tok/s")


def system_report(measured: dict[str, Any]) -> dict[str, Any]:
    runs: list[StreamTiming] = measured["runs"]
    report = {k: v for k, v in measured.items() if k != "runs"}
    report["stats"] = stream_stats(runs)
    report["per_run"] = [{**r.as_dict(), "output_sha256_16": text_digest(r.text)} for r in runs]
    report["outputs"] = {text_digest(r.text): r.text for r in runs}
    return report


def print_table(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    systems = result["systems"]
    w = systems.get("warden", {}).get("stats")
    r = systems.get("raw", {}).get("stats")
    ratios = result.get("ratios") or {}
    p = result["parameters"]
    table = Table(title=f"SmolLM2-135M single stream: {p['runs']} runs x {p['max_tokens']} "
                        f"tokens, {p['threads']} threads", title_justify="left")
    table.add_column("metric", no_wrap=True)
    table.add_column("Warden (HTTP/SSE)", justify="right", no_wrap=True)
    table.add_column("raw llama-cpp", justify="right", no_wrap=True)
    table.add_column("Warden/raw", justify="right", no_wrap=True)

    def cell(stats: dict[str, Any] | None, path: tuple[str, str], fmt: str) -> str:
        if stats is None:
            return "-"
        value = stats[path[0]][path[1]]
        return "-" if value is None else format(value, fmt)

    def ratio_cell(name: str) -> str:
        value = ratios.get(name)
        if value is None:
            return "-"
        if name.endswith("tokens_per_s"):
            style = "green" if value >= TARGET_RATIO else "red"
            return f"[{style}]{value:.3f}x[/]"
        return f"{value:.3f}x"

    rows = [
        ("TTFT p50 (ms)", ("ttft_ms", "p50"), ".1f", "ttft_ms_p50"),
        ("TTFT p95 (ms)", ("ttft_ms", "p95"), ".1f", "ttft_ms_p95"),
        ("inter-token p50 (ms)", ("inter_token_ms", "p50"), ".2f", "inter_token_ms_p50"),
        ("inter-token p95 (ms)", ("inter_token_ms", "p95"), ".2f", "inter_token_ms_p95"),
        ("decode tok/s (mean)", ("decode_tokens_per_s", "mean"), ".1f", "decode_tokens_per_s"),
        ("end-to-end tok/s (mean)", ("e2e_tokens_per_s", "mean"), ".1f", "e2e_tokens_per_s"),
    ]
    for label, path, fmt, ratio_name in rows:
        table.add_row(label, cell(w, path, fmt), cell(r, path, fmt), ratio_cell(ratio_name))
    console = Console(width=max(Console().width, 100))
    console.print(table)
    for system in ("warden", "raw"):
        cpu = systems.get(system, {}).get("cpu")
        if cpu and cpu.get("foreign_cpu_cores") is not None:
            console.print(f"{system}: other processes used {cpu['foreign_cpu_cores']:.2f} "
                          f"cores during the measured runs", highlight=False)
    for warning in result["warnings"]:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    if result.get("target_met"):
        met = result["target_met"]
        console.print(f"target >= {TARGET_RATIO}x raw: decode {met['decode_tokens_per_s']}, "
                      f"end-to-end {met['e2e_tokens_per_s']}", highlight=False)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    started_at = utc_now()
    systems_order = ["warden", "raw"] if args.order == "warden-first" else ["raw", "warden"]
    if args.only:
        systems_order = [args.only]
    quiet_readings: dict[str, float | None] = {}
    measured: dict[str, dict[str, Any]] = {}
    for system in systems_order:
        if args.wait_quiet > 0:
            quiet_readings[system] = wait_until_quiet(args.wait_quiet, log=log)
        log(f"measuring {system}: {args.warmup} warm-up + {args.runs} runs x "
            f"{args.max_tokens} tokens")
        measure = measure_warden if system == "warden" else measure_raw
        measured[system] = system_report(measure(args, log))

    warnings: list[str] = []
    for system, report in measured.items():
        tokens = report["stats"]["completion_tokens"]
        if any(t != args.max_tokens for t in tokens):
            warnings.append(f"{system}: not every run produced {args.max_tokens} tokens "
                            f"({tokens}); tokens/s are still per produced token")
        foreign = report["cpu"].get("foreign_cpu_cores")
        if foreign is not None and foreign > 0.1:
            warnings.append(f"{system}: other processes kept {foreign:.2f} cores busy while "
                            "measuring; numbers are contaminated, rerun on a quiet machine")
    ratios: dict[str, float | None] = {}
    target_met: dict[str, bool] = {}
    if "warden" in measured and "raw" in measured:
        w, r = measured["warden"]["stats"], measured["raw"]["stats"]
        ratios = {
            "decode_tokens_per_s": ratio(w["decode_tokens_per_s"]["mean"],
                                         r["decode_tokens_per_s"]["mean"]),
            "e2e_tokens_per_s": ratio(w["e2e_tokens_per_s"]["mean"],
                                      r["e2e_tokens_per_s"]["mean"]),
            "ttft_ms_p50": ratio(w["ttft_ms"]["p50"], r["ttft_ms"]["p50"]),
            "ttft_ms_p95": ratio(w["ttft_ms"]["p95"], r["ttft_ms"]["p95"]),
            "inter_token_ms_p50": ratio(w["inter_token_ms"]["p50"], r["inter_token_ms"]["p50"]),
            "inter_token_ms_p95": ratio(w["inter_token_ms"]["p95"], r["inter_token_ms"]["p95"]),
        }
        target_met = {name: ratios[name] is not None and ratios[name] >= TARGET_RATIO
                      for name in ("decode_tokens_per_s", "e2e_tokens_per_s")}
        target_met["all"] = all(target_met.values())
        same = [a["output_sha256_16"] == b["output_sha256_16"]
                for a, b in zip(measured["warden"]["per_run"], measured["raw"]["per_run"])]
        if not all(same):
            warnings.append("Warden and raw produced different text for the same prompt at "
                            "temperature 0 (see per_run output_sha256_16)")
    result = {
        "benchmark": "serve",
        "date": started_at.isoformat(timespec="seconds"),
        "finished": utc_now().isoformat(timespec="seconds"),
        "machine": machine_info(),
        "parameters": {
            "model": MODEL_NAME, "runs": args.runs, "warmup": args.warmup,
            "max_tokens": args.max_tokens, "temperature": 0, "threads": args.threads,
            "n_ctx": args.n_ctx, "n_batch": args.n_batch, "order": systems_order,
            "prompts": list(PROMPTS), "prompt_schedule": "run i uses prompts[i % len]",
            "endpoint": "/v1/completions stream=true stream_options.include_usage=true",
            "raw_call": "Llama.create_completion(stream=True) after llm.reset()",
            "target_ratio": TARGET_RATIO,
        },
        "quiet_check_foreign_cpu_cores": quiet_readings,
        "systems": measured,
        "ratios": ratios,
        "target_met": target_met,
        "warnings": warnings,
    }
    print_table(result)
    if not args.no_write:
        stamped, latest = write_results("serve", result, args.results_dir, when=started_at)
        print(f"wrote {stamped} and {latest.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
