"""OpenTelemetry GenAI semantic-convention metrics, exported as Prometheus histograms, and the
per-model capacity gauges an autoscaler reads.

Names follow the OpenTelemetry-to-Prometheus mapping (dots become underscores, the unit `s`
becomes `_seconds`): `gen_ai.server.time_to_first_token` is
`gen_ai_server_time_to_first_token_seconds`, with the attributes `gen_ai.operation.name`
(chat | text_completion) and `gen_ai.request.model` as labels. Buckets are the conventions'
advisory boundaries. One observation per generation (the `warden_*` histograms beside them
keep observing each token gap).
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Gauge, Histogram

_LABELS = ["gen_ai_operation_name", "gen_ai_request_model"]
_DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48,
                     40.96, 81.92)
_TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5,
                 5.0, 7.5, 10.0)
_TPOT_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5)
_TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304,
                  16777216, 67108864)


class GenAiMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.request_duration = Histogram(
            "gen_ai_server_request_duration_seconds", "GenAI server request duration: "
            "arrival to the last token (error_type set when it did not finish).",
            [*_LABELS, "error_type"], buckets=_DURATION_BUCKETS, registry=r)
        self.time_to_first_token = Histogram(
            "gen_ai_server_time_to_first_token_seconds", "Arrival to the first output token.",
            _LABELS, buckets=_TTFT_BUCKETS, registry=r)
        self.time_per_output_token = Histogram(
            "gen_ai_server_time_per_output_token_seconds", "Mean time per output token after "
            "the first, per finished generation.", _LABELS, buckets=_TPOT_BUCKETS, registry=r)
        self.token_usage = Histogram(
            "gen_ai_client_token_usage", "Tokens per generation, by gen_ai_token_type "
            "(input = prompt, output = completion).", [*_LABELS, "gen_ai_token_type"],
            buckets=_TOKEN_BUCKETS, registry=r)

    def first_token(self, operation: str, model: str, seconds: float) -> None:
        self.time_to_first_token.labels(operation, model).observe(seconds)

    def finished(self, operation: str, model: str, *, duration_s: float,
                 decode_s: float | None, prompt_tokens: int, completion_tokens: int,
                 error_type: str = "") -> None:
        """A generation ended: `decode_s` is first token to last (None if there was none)."""
        self.request_duration.labels(operation, model, error_type).observe(duration_s)
        self.token_usage.labels(operation, model, "input").observe(prompt_tokens)
        self.token_usage.labels(operation, model, "output").observe(completion_tokens)
        if not error_type and decode_s is not None and completion_tokens > 1:
            self.time_per_output_token.labels(operation, model).observe(
                decode_s / (completion_tokens - 1))


class CapacityGauges:
    """Read at scrape time: the waiting line's slots and the engine's KV cache, per model.

    With `warden_queue_depth` (requests waiting) and `warden_inflight_requests` (sequences
    generating) these are what an autoscaler or a KEDA trigger needs."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.slots = Gauge("warden_engine_slots", "Sequences the engine runs at once "
                           "(models[].max_concurrency).", ["model"], registry=registry)
        self.slot_utilization = Gauge(
            "warden_engine_slot_utilization", "Share of the engine's slots held now, batch "
            "work included (0..1).", ["model"], registry=registry)
        self.kv_utilization = Gauge(
            "warden_kv_cache_utilization", "Share of the in-process engine's KV cache cells "
            "held by running sequences (0..1); absent for upstream engines.", ["model"],
            registry=registry)

    def track(self, model: str, *, slots: int, running: Callable[[], int],
              kv_usage: Callable[[], float] | None = None) -> None:
        self.slots.labels(model).set(slots)
        self.slot_utilization.labels(model).set_function(
            lambda: min(1.0, running() / slots) if slots else 0.0)
        if kv_usage is not None:
            self.kv_utilization.labels(model).set_function(kv_usage)
