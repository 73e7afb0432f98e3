"""How one llama_decode step scales with the number of sequences in the batch.

This isolates llama.cpp from everything Warden adds (HTTP, the event loop, sampling, text):
for B = 1, 2, 4, 8 sequences it prefills a short prompt in each, then times decode steps of
one token per sequence. If a step of B tokens costs about B single steps, batching cannot
raise throughput on this CPU however good the scheduler is; the ratio says how much it can.

    .venv/bin/python benchmarks/decode_scaling.py [--threads 2] [--steps 64]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine_info, wait_until_quiet, write_results


def measure(model_path: str, *, batch: int, threads: int, steps: int, unified: bool,
            n_ubatch: int) -> dict[str, Any]:
    import llama_cpp
    from llama_cpp._internals import LlamaModel
    from llama_cpp._logger import set_verbose

    from warden.engine.batching.native import BatchEntry, NativeContext

    set_verbose(False)
    model = LlamaModel(path_model=model_path, params=llama_cpp.llama_model_default_params(),
                       verbose=False)
    ctx = NativeContext(model, n_ctx_per_seq=1024, n_seq=max(batch, 1), n_batch=512,
                        n_threads=threads, kv_unified=unified, n_ubatch=n_ubatch)
    prompt = model.tokenize(b"Once upon a time, in a small village by the sea,", add_bos=True,
                            special=True)
    entries = [BatchEntry(s, t, p, p == len(prompt) - 1)
               for s in range(batch) for p, t in enumerate(prompt)]
    ctx.decode(entries)
    pos = len(prompt)
    samples: list[float] = []
    cpu: list[float] = []
    for step in range(steps + 4):
        entries = [BatchEntry(s, 100 + s, pos, True) for s in range(batch)]
        started, cpu_started = time.perf_counter(), time.process_time()
        ctx.decode(entries)
        elapsed, cpu_used = time.perf_counter() - started, time.process_time() - cpu_started
        if step >= 4:  # the first steps warm caches and the thread pool
            samples.append(elapsed * 1000)
            cpu.append(cpu_used * 1000)
        pos += 1
    ctx.close()
    median = statistics.median(samples)
    return {"batch": batch, "threads": threads, "kv_unified": unified, "n_ubatch": n_ubatch,
            "step_ms_p50": round(median, 3),
            "step_ms_p95": round(sorted(samples)[int(0.95 * (len(samples) - 1))], 3),
            "tokens_per_s": round(batch / (median / 1000), 1),
            # CPU time is what batching must amortize; unlike wall time it barely moves
            # when another process shares the cores.
            "cpu_ms_per_step_p50": round(statistics.median(cpu), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, nargs="+", default=[2])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument("--model", default=None,
                        help="a GGUF file (default: the built-in SmolLM2 Q4_1)")
    parser.add_argument("--unified", choices=["both", "on", "off"], default="both",
                        help="KV layout: one stream per sequence (off) or one shared (on)")
    parser.add_argument("--quiet-wait", type=float, default=120,
                        help="seconds to wait for other processes to go quiet")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    from warden.engine.model_files import resolve_model_path

    wait_until_quiet(args.quiet_wait, log=print)
    path = str(resolve_model_path(args.model))
    layouts = {"both": (False, True), "on": (True,), "off": (False,)}[args.unified]
    rows = []
    for threads in args.threads:
        for unified in layouts:
            for batch in args.batches:
                row = measure(path, batch=batch, threads=threads, steps=args.steps,
                              unified=unified, n_ubatch=512)
                base = next((r for r in rows if r["threads"] == threads
                             and r["kv_unified"] == unified and r["batch"] == 1), row)
                row["speedup_vs_batch_1"] = round(row["tokens_per_s"] / base["tokens_per_s"], 2)
                row["cpu_cost_vs_batch_1"] = round(
                    row["cpu_ms_per_step_p50"] / base["cpu_ms_per_step_p50"], 2)
                rows.append(row)
                print(json.dumps(row))
    if not args.no_write:
        write_results("decode-scaling", {"benchmark": "decode-scaling", "model": path,
                                         "machine": machine_info(), "rows": rows})


if __name__ == "__main__":
    main()
