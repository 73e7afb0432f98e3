"""Shared helpers for the scripts in benchmarks/: statistics, machine facts, result files,
a real `warden serve` subprocess with a key, SSE parsing and per-stream timing.

Everything here is measurement plumbing; nothing imports tests/. Run scripts from the repo
root with `.venv/bin/python benchmarks/<name>.py`.
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any, Self

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"

# Scripts are started as `python benchmarks/x.py`, so make `warden` importable even when the
# package is not installed in editable mode.
for _path in (str(REPO_ROOT / "src"), str(REPO_ROOT)):
    if _path not in sys.path:
        sys.path.insert(0, _path)


# statistics ------------------------------------------------------------------------------
def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100) with linear interpolation, as numpy's default; nan if empty."""
    if not values:
        return math.nan
    if not 0 <= p <= 100:
        raise ValueError(f"percentile must be within 0..100, not {p}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def summarize(values: Sequence[float], scale: float = 1.0, digits: int = 3) -> dict[str, Any]:
    """count/mean/min/p50/p95/p99/max of values * scale (e.g. scale=1000 for s -> ms)."""
    scaled = [v * scale for v in values]

    def r(x: float) -> float | None:
        return None if math.isnan(x) else round(x, digits)

    return {
        "count": len(scaled),
        "mean": r(mean(scaled)),
        "min": r(min(scaled)) if scaled else None,
        "p50": r(percentile(scaled, 50)),
        "p95": r(percentile(scaled, 95)),
        "p99": r(percentile(scaled, 99)),
        "max": r(max(scaled)) if scaled else None,
    }


def ratio(numerator: float | None, denominator: float | None, digits: int = 3) -> float | None:
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, digits)


# machine facts ---------------------------------------------------------------------------
def _lscpu_model_name() -> str | None:
    if shutil.which("lscpu"):
        try:
            out = subprocess.run(["lscpu"], check=False, capture_output=True, text=True, timeout=10,
                                 env={**os.environ, "LC_ALL": "C"}).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _package_version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _git_revision() -> dict[str, Any] | None:
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                             check=False, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=REPO_ROOT, check=False,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": sha or None, "dirty": bool(dirty)}


def machine_info() -> dict[str, Any]:
    """Facts that make two result files comparable (or explain why they are not)."""
    try:
        mem_total_kb = next(int(line.split()[1]) for line in
                            Path("/proc/meminfo").read_text().splitlines()
                            if line.startswith("MemTotal:"))
    except (OSError, StopIteration, ValueError):
        mem_total_kb = None
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python_version": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else None,
        "cpu_model": _lscpu_model_name(),
        "mem_total_gb": round(mem_total_kb / 1024 / 1024, 2) if mem_total_kb else None,
        "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg")
        else None,
        "llama_cpp_python_version": _package_version("llama_cpp_python"),
        "warden_version": _package_version("warden"),
        "git": _git_revision(),
    }


# CPU contention --------------------------------------------------------------------------
_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _system_busy_seconds() -> float | None:
    """CPU-seconds all cores spent not idle since boot (from /proc/stat); None off Linux."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return None
    values = [int(v) for v in fields]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    busy = sum(values[:8]) - idle  # guest time is already inside user/nice
    return busy / _CLK_TCK


def _process_cpu_seconds(pid: int) -> float:
    """utime + stime (+ reaped children) of one process; 0 if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2:].split()
    utime, stime, cutime, cstime = (int(fields[i]) for i in (11, 12, 13, 14))
    return (utime + stime + cutime + cstime) / _CLK_TCK


class CpuMonitor:
    """How many cores *other* processes kept busy while we measured.

    `with CpuMonitor(pids) as mon: ...` then `mon.result()`. Our own processes (this one plus
    `pids`) are subtracted from the system-wide busy time, so the remainder is interference:
    on a 2-core box anything above ~0.1 core makes the numbers unreliable.
    """

    def __init__(self, pids: Iterable[int] = ()) -> None:
        self.pids = {os.getpid(), *pids}
        self._start: tuple[float, float | None, float] | None = None
        self._end: tuple[float, float | None, float] | None = None

    def _sample(self) -> tuple[float, float | None, float]:
        ours = sum(_process_cpu_seconds(p) for p in self.pids)
        return time.monotonic(), _system_busy_seconds(), ours

    def __enter__(self) -> Self:
        self._start = self._sample()
        return self

    def __exit__(self, *exc: object) -> None:
        self._end = self._sample()

    def result(self) -> dict[str, Any]:
        assert self._start is not None and self._end is not None
        wall = self._end[0] - self._start[0]
        ours = self._end[2] - self._start[2]
        out: dict[str, Any] = {"wall_s": round(wall, 3),
                               "our_cpu_cores": round(ours / wall, 3) if wall else None}
        if self._start[1] is None or self._end[1] is None or not wall:
            out["foreign_cpu_cores"] = None
            return out
        busy = self._end[1] - self._start[1]
        out["system_cpu_cores"] = round(busy / wall, 3)
        out["foreign_cpu_cores"] = round(max(0.0, busy - ours) / wall, 3)
        return out


def foreign_cpu_now(seconds: float = 2.0) -> float | None:
    """Cores busy with other processes over the next `seconds` (we sleep meanwhile)."""
    with CpuMonitor() as mon:
        time.sleep(seconds)
    return mon.result()["foreign_cpu_cores"]


def wait_until_quiet(max_wait_s: float, threshold_cores: float = 0.15,
                     sample_s: float = 2.0, log: Any = print) -> float | None:
    """Poll until other processes use < threshold cores, or give up after max_wait_s.

    Returns the last reading. Benchmarks on a shared 2-core box are meaningless while someone
    else runs a model; this lets a script wait for a gap instead of recording noise.
    """
    deadline = time.monotonic() + max_wait_s
    reading = foreign_cpu_now(sample_s)
    announced = False
    while reading is not None and reading >= threshold_cores and time.monotonic() < deadline:
        if not announced:
            log(f"other processes keep {reading:.2f} cores busy; waiting up to "
                f"{max_wait_s:.0f}s for the machine to go quiet (< {threshold_cores} cores)")
            announced = True
        reading = foreign_cpu_now(sample_s)
    return reading


# results ---------------------------------------------------------------------------------
def utc_now() -> datetime:
    return datetime.now(UTC)


def write_results(name: str, payload: dict[str, Any], results_dir: Path = RESULTS_DIR,
                  when: datetime | None = None) -> tuple[Path, Path]:
    """Write `<name>-<UTC timestamp>.json` and `<name>-latest.json`; return both paths."""
    when = when or utc_now()
    results_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(payload, indent=2, sort_keys=False, ensure_ascii=False, allow_nan=False,
                      default=str) + "\n"
    stamped = results_dir / f"{name}-{when.strftime('%Y%m%dT%H%M%SZ')}.json"
    latest = results_dir / f"{name}-latest.json"
    for path in (stamped, latest):
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(text)
        tmp.replace(path)
    return stamped, latest


# processes: the same helpers the integration tests use (REPO_ROOT is on sys.path above)
from tests.support.procs import free_port, stop_process, wait_for_http  # noqa: E402

WARDEN_CMD = [sys.executable, "-m", "warden.cli.main"]
BENCH_TIER = "bench"


def generous_tiers(max_tokens: int = 4096) -> dict[str, Any]:
    """One tier no benchmark will hit, made the default so every key lands in it."""
    return {
        "auth": {"default_tier": BENCH_TIER},
        "tiers": {BENCH_TIER: {"rpm": 1_000_000, "tpm": 1_000_000_000,
                               "tokens_per_day": 1_000_000_000,
                               "max_tokens": max_tokens, "max_concurrent": 1024}},
    }


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


class WardenProcess:
    """A real `warden serve` in a temp dir, with its own SQLite store and config.

        with WardenProcess({"server": {"log_level": "warning"}}) as warden:
            key = warden.create_key("bench")
            httpx.post(f"{warden.base_url}/v1/completions", headers=warden.auth(key), ...)

    The config is merged over `generous_tiers()`, so rate limits never interfere.
    """

    def __init__(self, config: dict[str, Any] | None = None, *, port: int | None = None,
                 startup_timeout_s: float = 300, keep_dir: bool = False) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="warden-bench-"))
        self.port = port or free_port()
        self.config = _merge(generous_tiers(), config or {})
        self.config.setdefault("store", {}).setdefault(
            "url", f"sqlite:///{self.workdir}/warden.db")
        self.config.setdefault("server", {})["port"] = self.port
        self.config["server"].setdefault("host", "127.0.0.1")
        self.config_path = self.workdir / "warden.yaml"
        self.log_path = self.workdir / "serve.log"
        self.startup_timeout_s = startup_timeout_s
        self.keep_dir = keep_dir
        self.proc: subprocess.Popen[bytes] | None = None
        self.startup_s: float | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.config['server']['host']}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None, "not started"
        return self.proc.pid

    @staticmethod
    def auth(key: str) -> dict[str, str]:
        return {"authorization": f"Bearer {key}"}

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_")}
        env["WARDEN_CONFIG"] = str(self.config_path)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO_ROOT / "src"), env.get("PYTHONPATH", "")) if p)
        return env

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([*WARDEN_CMD, *args], env=self.env(), cwd=self.workdir,
                                check=False, capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            raise RuntimeError(f"warden {' '.join(args)} failed ({result.returncode}):\n"
                               f"{result.stdout}\n{result.stderr}")
        return result

    def create_key(self, name: str = "bench", role: str = "user", tier: str | None = None
                   ) -> str:
        args = ["keys", "create", "--name", name, "--role", role]
        if tier:
            args += ["--tier", tier]
        return self.cli(*args).stdout.strip().splitlines()[-1]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self) -> Self:
        import yaml

        self.config_path.write_text(yaml.safe_dump(self.config, sort_keys=False))
        started = time.monotonic()
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen([*WARDEN_CMD, "serve"], env=self.env(),
                                         cwd=self.workdir, stdout=log,
                                         stderr=subprocess.STDOUT)
        try:
            wait_for_http(f"{self.base_url}/readyz", timeout=self.startup_timeout_s,
                          proc=self.proc)
        except (RuntimeError, TimeoutError) as exc:
            self.stop()
            raise RuntimeError(f"warden did not start: {exc}\n{self.log()[-4000:]}") from exc
        self.startup_s = time.monotonic() - started
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
        if not self.keep_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# SSE -------------------------------------------------------------------------------------
SSE_DONE = object()


def parse_sse_line(line: str) -> Any:
    """One line of a `text/event-stream`: its JSON payload, SSE_DONE for `[DONE]`, else None
    (blank separators, comments, `event:`/`id:` fields)."""
    line = line.rstrip("\r\n")
    if not line.startswith("data:"):
        return None
    data = line[5:].lstrip(" ")
    if data == "[DONE]":
        return SSE_DONE
    return json.loads(data)


def iter_sse(lines: Iterable[str]) -> Iterator[Any]:
    """JSON payloads of an SSE stream, stopping after `[DONE]`."""
    for line in lines:
        payload = parse_sse_line(line)
        if payload is SSE_DONE:
            return
        if payload is not None:
            yield payload


# stream timing ---------------------------------------------------------------------------
@dataclass
class StreamTiming:
    """Client-side timings of one streamed generation, all from time.perf_counter().

    `sent` is taken just before the request goes out; `chunks` holds the arrival time of each
    chunk that carried text. `completion_tokens` comes from the server's usage (or the raw
    engine's own count), not from the chunk count, since one chunk may carry several tokens.
    """

    sent: float
    chunks: list[float] = field(default_factory=list)
    ended: float | None = None
    completion_tokens: int | None = None
    prompt_tokens: int | None = None
    finish_reason: str | None = None
    text_parts: list[str] = field(default_factory=list)
    foreign_cpu_cores: float | None = None  # set by measure_runs()

    def chunk(self, text: str, now: float | None = None) -> None:
        if text:
            self.chunks.append(time.perf_counter() if now is None else now)
            self.text_parts.append(text)

    def end(self) -> None:
        self.ended = time.perf_counter()

    @property
    def text(self) -> str:
        return "".join(self.text_parts)

    @property
    def ttft_s(self) -> float | None:
        return self.chunks[0] - self.sent if self.chunks else None

    @property
    def inter_token_s(self) -> list[float]:
        return [b - a for a, b in pairwise(self.chunks)]

    @property
    def total_s(self) -> float | None:
        return None if self.ended is None else self.ended - self.sent

    @property
    def decode_tokens_per_s(self) -> float | None:
        tokens = self.completion_tokens
        if not tokens or tokens < 2 or len(self.chunks) < 2:
            return None
        span = self.chunks[-1] - self.chunks[0]
        return (tokens - 1) / span if span > 0 else None

    @property
    def e2e_tokens_per_s(self) -> float | None:
        total = self.total_s
        if not self.completion_tokens or not total:
            return None
        return self.completion_tokens / total

    def as_dict(self) -> dict[str, Any]:
        def r(x: float | None, scale: float = 1.0) -> float | None:
            return None if x is None else round(x * scale, 3)

        return {
            "completion_tokens": self.completion_tokens,
            "prompt_tokens": self.prompt_tokens,
            "finish_reason": self.finish_reason,
            "content_chunks": len(self.chunks),
            "ttft_ms": r(self.ttft_s, 1000),
            "total_ms": r(self.total_s, 1000),
            "itl_ms_p50": r(percentile(self.inter_token_s, 50), 1000)
            if self.inter_token_s else None,
            "itl_ms_max": r(max(self.inter_token_s), 1000) if self.inter_token_s else None,
            "decode_tokens_per_s": r(self.decode_tokens_per_s),
            "e2e_tokens_per_s": r(self.e2e_tokens_per_s),
            "foreign_cpu_cores": self.foreign_cpu_cores,
        }


def stream_stats(runs: Sequence[StreamTiming]) -> dict[str, Any]:
    """Aggregate runs: TTFT over runs, inter-token gaps pooled over every run (ms)."""
    ttft = [r.ttft_s for r in runs if r.ttft_s is not None]
    itl = [gap for r in runs for gap in r.inter_token_s]
    decode = [r.decode_tokens_per_s for r in runs if r.decode_tokens_per_s is not None]
    e2e = [r.e2e_tokens_per_s for r in runs if r.e2e_tokens_per_s is not None]
    total = [r.total_s for r in runs if r.total_s is not None]
    return {
        "runs": len(runs),
        "ttft_ms": summarize(ttft, 1000),
        "inter_token_ms": summarize(itl, 1000),
        "decode_tokens_per_s": summarize(decode, digits=2),
        "e2e_tokens_per_s": summarize(e2e, digits=2),
        "total_ms": summarize(total, 1000),
        "content_chunks": summarize([len(r.chunks) for r in runs], digits=1),
        "completion_tokens": [r.completion_tokens for r in runs],
        "finish_reasons": sorted({str(r.finish_reason) for r in runs}),
    }


@dataclass
class MeasuredRuns:
    runs: list[StreamTiming]
    discarded: list[dict[str, Any]]
    cpu: dict[str, Any]


def measure_runs(count: int, run: Callable[[int], StreamTiming], *, label: str,
                 pids: Iterable[int] = (), foreign_limit: float = 0.25, retries: int = 3,
                 quiet_wait_s: float = 120.0, log: Callable[[str], None] = print,
                 describe: Callable[[StreamTiming], str] = lambda t: str(t.as_dict()),
                 ) -> MeasuredRuns:
    """Run `run(i)` for i in range(count), each under a CpuMonitor.

    A run during which other processes kept more than `foreign_limit` cores busy is
    discarded (and recorded), the machine gets up to `quiet_wait_s` to go quiet, and the run
    is repeated, at most `retries` times; after that the contaminated run is kept and its
    `foreign_cpu_cores` says so. `cpu` covers the whole loop, retries and waits included.
    """
    pids = list(pids)
    runs: list[StreamTiming] = []
    discarded: list[dict[str, Any]] = []
    with CpuMonitor(pids) as total:
        for i in range(count):
            for attempt in range(retries + 1):
                with CpuMonitor(pids) as mon:
                    timing = run(i)
                foreign = mon.result()["foreign_cpu_cores"]
                timing.foreign_cpu_cores = foreign
                line = f"  {label} run {i + 1}/{count}: {describe(timing)}"
                if foreign is not None and foreign > foreign_limit and attempt < retries:
                    log(f"{line}  [discarded: other processes used {foreign:.2f} cores]")
                    discarded.append({"run": i, "attempt": attempt, **timing.as_dict()})
                    wait_until_quiet(quiet_wait_s, threshold_cores=min(0.15, foreign_limit),
                                     log=log)
                    continue
                log(line + (f"  [kept although other processes used {foreign:.2f} cores]"
                            if foreign is not None and foreign > foreign_limit else ""))
                runs.append(timing)
                break
    return MeasuredRuns(runs, discarded, total.result())
