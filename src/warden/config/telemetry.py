"""The `telemetry:` section of warden.yaml: how `warden serve` writes its logs and traces.

Every log line passes one scrubber (the fast PII patterns) whatever the format; see the
README's Operations section. Traces go to an OTLP/HTTP collector only when `otlp_endpoint`
is set; span attributes never hold prompt or output text unless `trace_content` is on, and
even then that text is scrubbed the same way.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

LogFormat = Literal["json", "text"]


class TelemetryConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    log_format: LogFormat = Field(
        "json", description="'json': one JSON object per line (ts, level, logger, message, "
        "request_id, and on each request's access line its key id, tier, route, status, model, "
        "tokens, latency, safety actions and rollout arm), for log pipelines. 'text': the "
        "same records as readable lines, for a terminal. Either way PII in every string "
        "field is masked (e.g. <EMAIL_ADDRESS>) before the line is written.")
    otlp_endpoint: str | None = Field(
        None, description="OTLP/HTTP traces endpoint, e.g. http://otel-collector:4318/v1/traces "
        "(a URL without a path gets /v1/traces). Unset (the default): tracing is off and "
        "costs nothing.")
    sampling_ratio: float = Field(
        1.0, ge=0.0, le=1.0, description="Share of new traces recorded (parent-based: a "
        "request whose incoming traceparent says sampled, or not, follows its caller).")
    service_name: str = Field("warden", min_length=1,
                              description="The service.name resource attribute of every span.")
    trace_content: bool = Field(
        False, description="Opt-in: put prompt and output text on the generation span "
        "(gen_ai.input.messages / gen_ai.output.messages), PII-scrubbed first. Off: no text "
        "from a request ever enters a span.")
