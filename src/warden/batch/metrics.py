"""Batch metrics, on the app's registry. Per-job series exist only while this replica runs
the job (then they are removed), so the `batch_id` label stays bounded.

- warden_batch_job_lines{batch_id,state}: queued | running | completed | failed, per running job
- warden_batch_lines_total{outcome}, warden_batch_line_retries_total{kind}
- warden_batch_tokens_total{direction}: rate() of it is the batch throughput
- warden_batch_jobs_total{status}: jobs that ended here
- warden_batch_interactive_{ttft,itl}_seconds{model,batch_active}: interactive latency inside
  the engine, split by whether batch work was in it (the "do live users notice?" question)
- warden_batch_preemptions_total{model}: batch sequences that gave a slot to interactive work
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

STATES = ("queued", "running", "completed", "failed")


class BatchMetrics:
    def __init__(self, registry: CollectorRegistry, engines: Mapping[str, Any]) -> None:
        self.lines = Gauge("warden_batch_job_lines", "Lines of each batch this replica runs, by "
                           "state.", ["batch_id", "state"], registry=registry)
        self.lines_total = Counter("warden_batch_lines_total", "Batch lines answered, by "
                                   "outcome.", ["outcome"], registry=registry)
        self.retries = Counter("warden_batch_line_retries_total", "Batch line retries: pacing "
                               "(a per-minute limit) or transient (timeout, 5xx).", ["kind"],
                               registry=registry)
        self.tokens = Counter("warden_batch_tokens_total", "Tokens of answered batch lines.",
                              ["direction"], registry=registry)
        self.jobs = Counter("warden_batch_jobs_total", "Batches that ended on this replica, "
                            "by final status.", ["status"], registry=registry)
        registry.register(EngineLatencyCollector(engines))

    def job_progress(self, batch_id: str, *, queued: int, running: int, completed: int,
                     failed: int) -> None:
        for state, value in zip(STATES, (queued, running, completed, failed), strict=True):
            self.lines.labels(batch_id, state).set(value)

    def job_gone(self, batch_id: str) -> None:
        for state in STATES:
            with contextlib.suppress(KeyError):
                self.lines.remove(batch_id, state)


class EngineLatencyCollector(Collector):
    """Reads each in-process engine's interactive latency histograms at scrape time."""

    def __init__(self, engines: Mapping[str, Any]) -> None:
        self._engines = engines

    def collect(self) -> Iterator[Any]:
        families = {
            "ttft": HistogramMetricFamily(
                "warden_batch_interactive_ttft_seconds", "Interactive submit to first text "
                "inside the engine, by whether batch work was in the engine.",
                labels=["model", "batch_active"]),
            "itl": HistogramMetricFamily(
                "warden_batch_interactive_itl_seconds", "Gaps between an interactive "
                "stream's texts inside the engine, by whether batch work was in the engine.",
                labels=["model", "batch_active"]),
        }
        preemptions = CounterMetricFamily("warden_batch_preemptions", "Batch sequences that "
                                          "gave their slot to an interactive request.",
                                          labels=["model"])
        for name, engine in self._engines.items():
            latency = getattr(engine, "priority_latency", None)
            recorder = latency() if callable(latency) else None
            if recorder is None:
                continue
            preemptions.add_metric([name], float(getattr(engine, "preemptions", 0)))
            for (kind, active), snap in sorted(recorder.snapshot().items()):
                buckets = [("+Inf" if bound == float("inf") else repr(bound), float(count))
                           for bound, count in snap.buckets]
                families[kind].add_metric([name, "true" if active else "false"], buckets,
                                          snap.total)
        yield from families.values()
        yield preemptions
