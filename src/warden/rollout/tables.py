"""Rollout tables; the schema is created by migrations/versions/0006_rollouts.py.

`rollout_state` holds one row per rollout (its arms, share, mode and status): every replica
reads it through a short cache, so a rollback reaches all of them within a second.
`rollout_events` is its history (its id is the state's generation). `canary_verdicts` keeps
every analysis with its evidence, `traffic_samples` one row per recorded request (canary
latency and rates, drift features), and the two schedule tables the job leases and runs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from warden.store.models import Base

_ID = BigInteger().with_variant(Integer, "sqlite")


class RolloutStateRow(Base):
    __tablename__ = "rollout_state"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    mode: Mapped[str] = mapped_column(String(16))
    share: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16))
    champion: Mapped[dict[str, Any]] = mapped_column(JSON)
    challenger: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    previous: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    generation: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_by: Mapped[str] = mapped_column(String(80))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    incident_id: Mapped[str | None] = mapped_column(String(32), nullable=True)


class RolloutEventRow(Base):
    __tablename__ = "rollout_events"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    rollout: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(80))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)


class CanaryVerdictRow(Base):
    __tablename__ = "canary_verdicts"
    __table_args__ = (Index("ix_canary_verdicts_rollout_at", "rollout", "at"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    rollout: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    verdict: Mapped[str] = mapped_column(String(16))
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    action: Mapped[str] = mapped_column(String(16))
    champion_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    challenger_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    actor: Mapped[str] = mapped_column(String(80))
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)


class TrafficSampleRow(Base):
    __tablename__ = "traffic_samples"
    __table_args__ = (Index("ix_traffic_samples_rollout_arm_at", "rollout", "arm", "at"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    model: Mapped[str] = mapped_column(String(128))
    rollout: Mapped[str | None] = mapped_column(String(64), nullable=True)
    arm: Mapped[str | None] = mapped_column(String(16), nullable=True)
    arm_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    shadow: Mapped[bool] = mapped_column(Boolean, default=False)
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16))
    finish_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    latency_ms: Mapped[float] = mapped_column(Float)
    ttft_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    prompt_tokens: Mapped[int] = mapped_column(Integer)
    completion_tokens: Mapped[int] = mapped_column(Integer)
    top_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    refusal: Mapped[bool] = mapped_column(Boolean, default=False)
    budget_violation: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    tool_calls: Mapped[int] = mapped_column(Integer, default=0)
    tool_calls_invalid: Mapped[int] = mapped_column(Integer, default=0)
    guard: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)


class ScheduleLeaseRow(Base):
    __tablename__ = "schedule_leases"

    job: Mapped[str] = mapped_column(String(80), primary_key=True)
    holder: Mapped[str] = mapped_column(String(80))
    acquired_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ScheduleRunRow(Base):
    __tablename__ = "schedule_runs"
    __table_args__ = (Index("ix_schedule_runs_job_started", "job", "started_at"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    job: Mapped[str] = mapped_column(String(80))
    holder: Mapped[str] = mapped_column(String(80))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    incident_id: Mapped[str | None] = mapped_column(String(32), nullable=True)


ROLLOUT_TABLES = (RolloutStateRow, RolloutEventRow, CanaryVerdictRow, TrafficSampleRow,
                  ScheduleLeaseRow, ScheduleRunRow)
