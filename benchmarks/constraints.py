"""JSON-schema constraint benchmark: mask cost per generated token.

    .venv/bin/python benchmarks/constraints.py [--seeds 3] [--libs llguidance,xgrammar,gbnf]
                                               [--quiet-wait 120] [--no-write]

Target: mask cost (apply + accept) under 0.5 ms per token on average; llama.cpp's GBNF
grammar sampler is about 14 ms.

1. Live: real SmolLM2-135M generations under warden.constraints (llguidance), greedy and at
   temperature 1.0 over seeds, for three schemas (flat object, nested object, enum/array/
   $ref/anyOf). Every generated token's apply() (on the llama.cpp logits pointer) and
   accept() (which also computes the next mask) are timed. Every output is checked with
   jsonschema.
2. Replay: the token sequences from (1) are fed again, one library at a time, on a fixed
   logits row (the cost of a mask does not depend on the logit values): warden's llguidance
   constraint, xgrammar (if installed; it needs torch) with the same bitmask applier, and
   llama.cpp's own GBNF sampler from the same schema. Same tokens, same machine, so the
   numbers compare.

Other jobs on a 2-core box distort timings: the script waits for a quiet machine, records
how many cores other processes used while it measured, and reports each figure twice: wall
time (perf_counter) and this thread's CPU time (thread_time), which a preemption by another
process does not inflate.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from common import (
    REPO_ROOT,
    CpuMonitor,
    machine_info,
    percentile,
    wait_until_quiet,
    write_results,
)

TARGET_MEAN_MS = 0.5
GBNF_REFERENCE_MS = 14.0

# The schemas and prompts the integration test decodes (tests/data/constraints/schemas.json).
EXAMPLES = json.loads((REPO_ROOT / "tests" / "data" / "constraints" / "schemas.json")
                      .read_text())
PERSON = EXAMPLES["person"]["schema"]
SCHEMAS = {name: (case["schema"], case["prompt"]) for name, case in EXAMPLES.items()}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def stats_ms(values: list[float]) -> dict[str, Any]:
    ms = [v * 1000 for v in values]
    if not ms:
        return {"count": 0}
    return {"count": len(ms), "mean": round(sum(ms) / len(ms), 4),
            "p50": round(percentile(ms, 50), 4), "p95": round(percentile(ms, 95), 4),
            "p99": round(percentile(ms, 99), 4), "max": round(max(ms), 4)}


@dataclass
class Run:
    schema: str
    temperature: float
    seed: int
    tokens: list[int] = field(default_factory=list)   # sampled, EOS included if sampled
    text: str = ""
    finish: str = "length"
    valid: bool = False
    apply_s: list[float] = field(default_factory=list)
    accept_s: list[float] = field(default_factory=list)
    cpu_s: list[float] = field(default_factory=list)  # this thread's CPU time, apply+accept


# live generation -----------------------------------------------------------------------
class Model:
    """SmolLM2 through llama.cpp's low-level API, one sequence, one thread (see the
    integration test: two spinning threads on a busy 2-core box are 20x slower)."""

    def __init__(self, path: str) -> None:
        import llama_cpp
        from llama_cpp._internals import LlamaModel
        from llama_cpp._logger import set_verbose

        set_verbose(False)
        llama_cpp.llama_backend_init()
        self.ll = llama_cpp
        self.model = LlamaModel(path_model=path, params=llama_cpp.llama_model_default_params(),
                                verbose=False)
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = params.n_batch = 1024
        params.n_threads = params.n_threads_batch = 1
        params.no_perf = True
        self.ctx = llama_cpp.llama_init_from_model(self.model.model, params)
        self.vocab = self.model.vocab
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(self.vocab)
        self.eog = {t for t in range(self.n_vocab)
                    if llama_cpp.llama_vocab_is_eog(self.vocab, t)}
        self.batch = llama_cpp.llama_batch_init(1024, 0, 1)

    def piece(self, token: int) -> bytes:
        buf = ctypes.create_string_buffer(256)
        n = self.ll.llama_token_to_piece(self.vocab, token, buf, len(buf), 0, False)
        return buf.raw[:max(n, 0)]

    def prompt(self, instruction: str) -> list[int]:
        text = ("<|im_start|>system\nYou are a helpful assistant. Reply with JSON only."
                f"<|im_end|>\n<|im_start|>user\n{instruction}<|im_end|>\n"
                "<|im_start|>assistant\n")
        return self.model.tokenize(text.encode(), add_bos=False, special=True)

    def decode(self, tokens: list[int], start: int) -> None:
        for i, token in enumerate(tokens):
            self.batch.token[i] = token
            self.batch.pos[i] = start + i
            self.batch.n_seq_id[i] = 1
            self.batch.seq_id[i][0] = 0
            self.batch.logits[i] = i == len(tokens) - 1
        self.batch.n_tokens = len(tokens)
        if self.ll.llama_decode(self.ctx, self.batch) != 0:
            raise RuntimeError("llama_decode failed")

    def sampler(self, temperature: float, seed: int) -> Any:
        ll = self.ll
        chain = ll.llama_sampler_chain_init(ll.llama_sampler_chain_default_params())
        if temperature <= 0:
            ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_greedy())
        else:
            ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_temp(temperature))
            ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_dist(seed))
        return chain

    def generate(self, run: Run, constraint: Any, prompt: list[int], max_tokens: int) -> None:
        """The scheduler's per-token sequence, with apply and accept timed apart."""
        ll = self.ll
        ll.llama_memory_clear(ll.llama_get_memory(self.ctx), True)
        chain = self.sampler(run.temperature, run.seed)
        perf, cpu = time.perf_counter, time.thread_time
        pieces: list[bytes] = []
        try:
            self.decode(prompt, 0)
            pos = len(prompt)
            for _ in range(max_tokens):
                ptr = ll.llama_get_logits_ith(self.ctx, -1)
                c0, t0 = cpu(), perf()
                constraint.apply(ptr)  # the ctypes pointer, as the scheduler will pass it
                t1, c1 = perf(), cpu()
                token = ll.llama_sampler_sample(chain, self.ctx, -1)
                c2, t2 = cpu(), perf()
                constraint.accept(token)  # also computes the next mask (warm cache)
                t3, c3 = perf(), cpu()
                run.apply_s.append(t1 - t0)
                run.accept_s.append(t3 - t2)
                run.cpu_s.append((c1 - c0) + (c3 - c2))
                run.tokens.append(token)
                if token in self.eog:
                    run.finish = "stop"
                    break
                pieces.append(self.piece(token))
                if constraint.is_finished():
                    run.finish = "stop"
                    break
                self.decode([token], pos)
                pos += 1
        finally:
            ll.llama_sampler_free(chain)
        run.text = b"".join(pieces).decode("utf-8", "replace")


def live(model_path: str, seeds: int, max_tokens: int) -> tuple[list[Run], dict[str, Any]]:
    import jsonschema

    from warden.constraints import ConstraintFactory

    t0 = time.perf_counter()
    factory = ConstraintFactory(model_path)
    vocab_s = time.perf_counter() - t0
    compile_ms: dict[str, float] = {}
    for name, (schema, _) in SCHEMAS.items():
        t0 = time.perf_counter()
        factory.json_schema(schema)
        compile_ms[name] = round((time.perf_counter() - t0) * 1000, 3)
    t0 = time.perf_counter()
    factory.json_schema(PERSON)
    cached_ms = round((time.perf_counter() - t0) * 1000, 4)
    model = Model(model_path)
    runs: list[Run] = []
    for name, (schema, instruction) in SCHEMAS.items():
        prompt = model.prompt(instruction)
        for temperature, seed in [(0.0, 0)] + [(1.0, 1000 + s) for s in range(seeds)]:
            run = Run(name, temperature, seed)
            model.generate(run, factory.json_schema(schema), prompt, max_tokens)
            try:
                jsonschema.validate(json.loads(run.text), schema)
                run.valid = run.finish == "stop"
            except (ValueError, jsonschema.ValidationError):
                run.valid = False
            spent = sum(run.apply_s) + sum(run.accept_s)
            log(f"  {name} T={temperature} seed={seed}: {len(run.tokens)} tokens, "
                f"{run.finish}, valid={run.valid}, apply+accept mean "
                f"{1000 * spent / max(1, len(run.tokens)):.3f} ms")
            runs.append(run)
    setup = {"vocab_build_s": round(vocab_s, 3), "first_compile_ms": compile_ms,
             "cached_compile_ms": cached_ms}
    return runs, setup


# replay --------------------------------------------------------------------------------
Stepper = Callable[[np.ndarray, int], None]  # apply to logits, then accept token


def replay(runs: list[Run], n_vocab: int, make: Callable[[dict[str, Any]], Stepper],
           label: str) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    base = rng.normal(size=n_vocab).astype(np.float32)
    row = base.copy()
    times: list[float] = []
    cpu_times: list[float] = []
    failures: list[str] = []
    for run in runs:
        schema = SCHEMAS[run.schema][0]
        try:
            step = make(schema)
            for token in run.tokens:
                row[:] = base
                c0, t0 = time.thread_time(), time.perf_counter()
                step(row, token)
                times.append(time.perf_counter() - t0)
                cpu_times.append(time.thread_time() - c0)
        except Exception as exc:
            failures.append(f"{run.schema}/T{run.temperature}/seed{run.seed}: {exc}"[:300])
    log(f"  replay {label}: {stats_ms(times)}  failures={len(failures)}")
    return {"per_token_ms": stats_ms(times), "per_token_cpu_ms": stats_ms(cpu_times),
            "replay_failures": failures}


def llguidance_stepper(model_path: str) -> Callable[[dict[str, Any]], Stepper]:
    from warden.constraints import ConstraintFactory

    factory = ConstraintFactory(model_path)

    def make(schema: dict[str, Any]) -> Stepper:
        c = factory.json_schema(schema)

        def step(row: np.ndarray, token: int) -> None:
            c.apply(row)
            c.accept(token)
        return step
    return make


def xgrammar_stepper(model_path: str) -> tuple[Callable[[dict[str, Any]], Stepper], str]:
    import llama_cpp
    import xgrammar as xgr

    from warden.constraints.bitmask import BitmaskApplier
    from warden.constraints.vocab import load_model_vocab

    vocab = load_model_vocab(model_path)
    llv = vocab.keepalive.vocab
    # Same bytes as llguidance sees; control tokens empty, which xgrammar treats as special.
    encoded = [b"" if llama_cpp.llama_vocab_get_attr(llv, t) & llama_cpp.LLAMA_TOKEN_ATTR_CONTROL
               else vocab.tokenizer.decode_bytes([t]) for t in range(vocab.n_vocab)]
    info = xgr.TokenizerInfo(encoded, xgr.VocabType.RAW, vocab_size=vocab.n_vocab,
                             stop_token_ids=list(vocab.eog_tokens))
    compiler = xgr.GrammarCompiler(info, max_threads=1)

    def make(schema: dict[str, Any]) -> Stepper:
        compiled = compiler.compile_json_schema(json.dumps(schema), any_whitespace=False,
                                                separators=(", ", ": "), strict_mode=True)
        matcher = xgr.GrammarMatcher(compiled)
        applier = BitmaskApplier(vocab.n_vocab)
        mask2d = applier.mask.reshape(1, -1)

        def step(row: np.ndarray, token: int) -> None:
            matcher.fill_next_token_bitmask(mask2d)
            applier.apply(row)
            if not matcher.accept_token(token):
                raise RuntimeError(f"xgrammar rejected token {token}")
        return step
    from importlib.metadata import version

    return make, version("xgrammar")


def gbnf_stepper(model_path: str) -> Callable[[dict[str, Any]], Stepper]:
    import llama_cpp
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    from warden.constraints.vocab import load_model_vocab

    vocab = load_model_vocab(model_path)
    llv = vocab.keepalive.vocab
    n = vocab.n_vocab
    data = (llama_cpp.llama_token_data * n)()
    view = np.ctypeslib.as_array(data).view(np.dtype([("id", np.int32), ("logit", np.float32),
                                                      ("p", np.float32)]))
    ids = np.arange(n, dtype=np.int32)
    array = llama_cpp.llama_token_data_array(data=data, size=n, selected=-1, sorted=False)

    def make(schema: dict[str, Any]) -> Stepper:
        grammar = json_schema_to_gbnf(json.dumps(schema), list(schema.get("properties", {})))
        sampler = llama_cpp.llama_sampler_init_grammar(llv, grammar.encode(), b"root")
        if not sampler:
            raise RuntimeError("llama.cpp rejected the GBNF grammar")

        def step(row: np.ndarray, token: int) -> None:
            # Filling the candidate array is the caller's cost in llama.cpp too; timed here.
            view["id"] = ids
            view["logit"] = row
            array.size = n
            array.selected = -1
            array.sorted = False
            llama_cpp.llama_sampler_apply(sampler, ctypes.byref(array))
            if view["logit"][token] == -np.inf:
                raise RuntimeError(f"GBNF masks token {token}")
            llama_cpp.llama_sampler_accept(sampler, token)
        return step
    return make


# main ------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3,
                        help="temperature-1.0 generations per schema (plus one greedy)")
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--libs", default="llguidance,xgrammar,gbnf",
                        help="replay these (llguidance is always used live)")
    parser.add_argument("--quiet-wait", type=float, default=120.0,
                        help="seconds to wait for other processes to go quiet")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    import importlib.metadata as md

    from warden.engine.model_files import builtin_model_path

    model_path = str(builtin_model_path())
    libs = [x.strip() for x in args.libs.split(",") if x.strip()]
    foreign_before = wait_until_quiet(args.quiet_wait, log=log)
    log("live generations (llguidance):")
    with CpuMonitor() as cpu_live:
        runs, setup = live(model_path, args.seeds, args.max_tokens)
    apply = [t for r in runs for t in r.apply_s]
    accept = [t for r in runs for t in r.accept_s]
    total = [a + b for r in runs for a, b in zip(r.apply_s, r.accept_s, strict=True)]
    live_result = {
        "library": "llguidance", "version": md.version("llguidance"),
        "generations": len(runs), "tokens": len(total),
        "all_valid": all(r.valid for r in runs),
        "invalid": [f"{r.schema}/T{r.temperature}/seed{r.seed}: {r.text!r}"[:300]
                    for r in runs if not r.valid],
        "per_token_ms": stats_ms(total),
        "per_token_cpu_ms": stats_ms([t for r in runs for t in r.cpu_s]),
        "parts_ms": {"apply": stats_ms(apply), "accept_and_next_mask": stats_ms(accept)},
        "meets_target": stats_ms(total)["mean"] < TARGET_MEAN_MS,
        "cpu": cpu_live.result(),
        **setup,
        "samples": [{"schema": r.schema, "temperature": r.temperature, "seed": r.seed,
                     "tokens": len(r.tokens), "finish": r.finish, "valid": r.valid,
                     "text": r.text} for r in runs],
    }
    n_vocab = 49152
    replays: dict[str, Any] = {}
    log("replay of the same token sequences:")
    for lib in libs:
        with CpuMonitor() as cpu:
            try:
                if lib == "llguidance":
                    result = replay(runs, n_vocab, llguidance_stepper(model_path), lib)
                    result["version"] = md.version("llguidance")
                elif lib == "xgrammar":
                    make, version = xgrammar_stepper(model_path)
                    result = replay(runs, n_vocab, make, lib)
                    result["version"] = version
                    result["note"] = ("imports torch (~7 s) and pulls in triton and "
                                      "transformers; same numpy bitmask applier as warden")
                elif lib == "gbnf":
                    result = replay(runs, n_vocab, gbnf_stepper(model_path), lib)
                    result["version"] = f"llama-cpp-python {md.version('llama_cpp_python')}"
                    result["note"] = ("llama_sampler_apply over all 49152 candidates + "
                                      "accept, from llama_cpp.llama_grammar."
                                      "json_schema_to_gbnf")
                else:
                    raise ValueError(f"unknown library {lib!r}")
            except ImportError as exc:
                result = {"skipped": f"not installed: {exc}"}
                log(f"  replay {lib}: skipped ({exc})")
        result["cpu"] = cpu.result()
        replays[lib] = result
    payload = {
        "benchmark": "constraints",
        "target": {"mean_ms_per_token": TARGET_MEAN_MS,
                   "llama_cpp_gbnf_reference_ms": GBNF_REFERENCE_MS},
        "what": "per generated token: compute the mask + write it into the logits row + "
                "accept the sampled token (apply() + accept())",
        "machine": machine_info(),
        "foreign_cpu_cores_before": foreign_before,
        "live": live_result,
        "replay": replays,
    }
    summary = {"live_llguidance": live_result["per_token_ms"],
               "live_llguidance_cpu": live_result["per_token_cpu_ms"],
               "live_llguidance_parts": live_result["parts_ms"],
               **{f"replay_{k}": v.get("per_token_ms") for k, v in replays.items()},
               **{f"replay_{k}_cpu": v.get("per_token_cpu_ms") for k, v in replays.items()}}
    print(json.dumps(summary, indent=2))
    if not args.no_write:
        stamped, latest = write_results("constraints", payload)
        log(f"wrote {stamped} and {latest}")


if __name__ == "__main__":
    main()
