"""Prometheus metrics. Labels are bounded: route templates, configured model names, tiers,
status codes. Never keys, prompts or user ids. The OpenTelemetry GenAI histograms and the
capacity gauges live in genai_metrics.py, on the same registry."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from warden.telemetry.genai_metrics import CapacityGauges, GenAiMetrics

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_TOKEN_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("warden_requests_total", "HTTP requests.",
                                ["route", "method", "status", "model"], registry=r)
        self.request_seconds = Histogram("warden_request_duration_seconds",
                                         "HTTP request latency.", ["route", "status", "model"],
                                         buckets=_LATENCY_BUCKETS, registry=r)
        self.ttft_seconds = Histogram("warden_time_to_first_token_seconds",
                                      "Arrival to first generated token.", ["model"],
                                      buckets=_LATENCY_BUCKETS, registry=r)
        self.itl_seconds = Histogram("warden_inter_token_latency_seconds",
                                     "Gap between streamed tokens.", ["model"],
                                     buckets=_TOKEN_BUCKETS, registry=r)
        self.tokens = Counter("warden_tokens_total", "Tokens processed.",
                              ["model", "direction"], registry=r)
        self.queue_depth = Gauge("warden_queue_depth", "Requests waiting for the engine.",
                                 ["model"], registry=r)
        self.inflight = Gauge("warden_inflight_requests", "Requests generating now.",
                              ["model"], registry=r)
        self.rate_limited = Counter("warden_rate_limit_rejections_total",
                                    "Requests refused by a rate limit or quota.",
                                    ["tier", "reason"], registry=r)
        self.queue_rejections = Counter("warden_queue_rejections_total",
                                        "Requests refused because the queue was full.",
                                        ["model"], registry=r)
        self.safety_events = Counter("warden_safety_events_total",
                                     "Safety interventions by stage, category and action.",
                                     ["stage", "category", "action"], registry=r)
        self.finish = Counter("warden_generations_total", "Generations by finish reason.",
                              ["model", "finish_reason"], registry=r)
        self.retrieval_seconds = Histogram(
            "warden_retrieval_duration_seconds", "Retrieval in the request path: search, "
            "chunk guard and context build.", ["corpus"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5), registry=r)
        self.retrieval_skipped = Counter(
            "warden_retrieval_skipped_total", "Requests that asked for retrieval and got "
            "none, by reason (switched_off: the kill switch).", ["reason"], registry=r)
        self.genai = GenAiMetrics(r)
        self.capacity = CapacityGauges(r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
