"""The `telemetry:` section of warden.yaml: how `warden serve` writes its logs.

Every log line passes one scrubber (the fast PII patterns) whatever the format; see the
README's Operations section.
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
