"""The `batch:` section of warden.yaml: the OpenAI Batch API run in the engine's idle capacity.

See docs/batch.md. Batch lines take the same path as interactive requests (validation, guard,
retrieval, quotas); these settings only say where files live, how jobs are leased between
replicas, and how hard batch work may push each engine.
"""

from __future__ import annotations

from collections.abc import Collection

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BatchConfig(_Strict):
    enabled: bool = Field(True, description="Serve /v1/files and /v1/batches and run jobs.")
    data_dir: str | None = Field(None, description="Where file bodies live; default "
                                 "<retrieval.data_dir>/batch.")
    max_file_bytes: int = Field(100_000_000, ge=1, description="Largest upload (also bounded "
                                "by server.max_body_bytes, which applies to every body).")
    max_lines: int = Field(50_000, ge=1, description="Most request lines in one input file.")
    lease_ttl_s: float = Field(30.0, ge=1, le=3600, description="A replica runs a job while "
                               "it holds the job's lease; a lease not renewed for this long "
                               "passes to another replica.")
    poll_interval_s: float = Field(1.0, gt=0, le=60, description="How often a replica looks "
                                   "for jobs to run or to cancel.")
    max_in_flight: int | None = Field(None, ge=1, description="Batch lines in flight per "
                                      "in-process model; default its max_batch.")
    upstream_max_in_flight: int = Field(4, ge=1, description="Batch lines in flight per "
                                        "upstream model (a provider's 'max in flight').")
    upstream_rps: float = Field(2.0, gt=0, description="Batch lines started per second per "
                                "upstream model (a conservative provider rate).")
    max_attempts: int = Field(8, ge=1, le=100, description="Tries per line on transient "
                              "failures (timeouts, per-minute limits, 5xx) before its error "
                              "line is written.")
    tiers: dict[str, str] = Field(default_factory=dict, description="Key tier -> the tier "
                                  "whose limits batch lines of such keys use, with their own "
                                  "counters (e.g. a daily token budget only for batch). "
                                  "Unmapped tiers share the key's interactive limits.")

    def tier_problems(self, tier_names: Collection[str]) -> list[str]:
        """batch.tiers entries whose batch tier is not configured (for start-up and for
        WardenConfig's cross-checks)."""
        return [f"batch.tiers.{source}: '{target}' is not a configured tier "
                f"({sorted(tier_names)}); add it under tiers: or fix the name"
                for source, target in self.tiers.items() if target not in tier_names]
