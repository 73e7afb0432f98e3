"""Advisory tables; the schema is created by migrations/versions/0007_advisory.py.

- advisory_decisions: every advisory served (live traffic), with what each engine said and
  what was enforced. Reasoning text lives here, never in the audit log (only its hash).
- advisory_reviews: the review queue, one row per advisory that waits for a human.
- advisory_modes / advisory_mode_events: each action type's mode, and every change of it.
- advisory_variants: prompt variants created by the feedback loop, and which is active.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from warden.store.models import Base


class AdvisoryDecisionRow(Base):
    __tablename__ = "advisory_decisions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    action_type: Mapped[str] = mapped_column(String(16), index=True)
    actor_role: Mapped[str] = mapped_column(String(64))
    risk_tier: Mapped[str] = mapped_column(String(16))
    mode: Mapped[str] = mapped_column(String(16))
    prompt_variant: Mapped[str] = mapped_column(String(64), index=True)
    prompt_hash: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(128))
    advisor_decision: Mapped[str | None] = mapped_column(String(24), nullable=True)
    reasoning: Mapped[str | None] = mapped_column(Text, nullable=True)
    reasoning_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    current_decision: Mapped[str] = mapped_column(String(24))
    current_source: Mapped[str] = mapped_column(String(16))
    enforced_decision: Mapped[str] = mapped_column(String(24))
    requires_human: Mapped[bool] = mapped_column(Boolean)
    fail_safe: Mapped[bool] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(String(16), nullable=True)
    latency_ms: Mapped[float] = mapped_column(Float)
    situation: Mapped[dict[str, Any]] = mapped_column(JSON)
    key_id: Mapped[str] = mapped_column(String(32))
    request_id: Mapped[str] = mapped_column(String(128))


class AdvisoryReviewRow(Base):
    __tablename__ = "advisory_reviews"

    advisory_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    action_type: Mapped[str] = mapped_column(String(16), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # pending|decided|timed_out
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    reviewer: Mapped[str | None] = mapped_column(String(80), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True),
                                                        nullable=True)
    human_decision: Mapped[str | None] = mapped_column(String(24), nullable=True)
    override: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    category: Mapped[str | None] = mapped_column(String(24), nullable=True)
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)


class AdvisoryModeRow(Base):
    __tablename__ = "advisory_modes"

    action_type: Mapped[str] = mapped_column(String(16), primary_key=True)
    mode: Mapped[str] = mapped_column(String(16))
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(80))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class AdvisoryModeEventRow(Base):
    __tablename__ = "advisory_mode_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    action_type: Mapped[str] = mapped_column(String(16), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # promote | rollback | reset
    from_mode: Mapped[str] = mapped_column(String(16))
    to_mode: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(80))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)


class AdvisoryVariantRow(Base):
    __tablename__ = "advisory_variants"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    parent: Mapped[str | None] = mapped_column(String(64), nullable=True)
    corrections: Mapped[int] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(80))
    activated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True),
                                                          nullable=True)
