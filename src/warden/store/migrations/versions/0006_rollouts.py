"""rollout arms, canary verdicts, traffic samples, schedules (issue 14).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def _at(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "rollout_state",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("share", sa.Float, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("champion", sa.JSON, nullable=False),
        sa.Column("challenger", sa.JSON, nullable=True),
        sa.Column("previous", sa.JSON, nullable=True),
        _at("started_at", nullable=True),
        sa.Column("generation", sa.BigInteger, nullable=False),
        _at("updated_at"),
        sa.Column("updated_by", sa.String(80), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("incident_id", sa.String(32), nullable=True),
    )
    op.create_table(
        "rollout_events",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("rollout", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(80), nullable=False),
        _at("at"),
        sa.Column("detail", sa.JSON, nullable=False),
    )
    op.create_index("ix_rollout_events_rollout", "rollout_events", ["rollout"])
    op.create_table(
        "canary_verdicts",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("rollout", sa.String(64), nullable=False),
        _at("at"),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("score", sa.Float, nullable=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("champion_hash", sa.String(64), nullable=True),
        sa.Column("challenger_hash", sa.String(64), nullable=True),
        sa.Column("actor", sa.String(80), nullable=False),
        sa.Column("evidence", sa.JSON, nullable=False),
    )
    op.create_index("ix_canary_verdicts_rollout_at", "canary_verdicts", ["rollout", "at"])
    op.create_table(
        "traffic_samples",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        _at("at"),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("rollout", sa.String(64), nullable=True),
        sa.Column("arm", sa.String(16), nullable=True),
        sa.Column("arm_hash", sa.String(64), nullable=True),
        sa.Column("shadow", sa.Boolean, nullable=False),
        sa.Column("pinned", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("finish_reason", sa.String(32), nullable=True),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("ttft_ms", sa.Float, nullable=True),
        sa.Column("prompt_tokens", sa.Integer, nullable=False),
        sa.Column("completion_tokens", sa.Integer, nullable=False),
        sa.Column("top_score", sa.Float, nullable=True),
        sa.Column("refusal", sa.Boolean, nullable=False),
        sa.Column("budget_violation", sa.Boolean, nullable=True),
        sa.Column("tool_calls", sa.Integer, nullable=False),
        sa.Column("tool_calls_invalid", sa.Integer, nullable=False),
        sa.Column("guard", sa.JSON, nullable=False),
    )
    op.create_index("ix_traffic_samples_at", "traffic_samples", ["at"])
    op.create_index("ix_traffic_samples_rollout_arm_at", "traffic_samples",
                    ["rollout", "arm", "at"])
    op.create_table(
        "schedule_leases",
        sa.Column("job", sa.String(80), primary_key=True),
        sa.Column("holder", sa.String(80), nullable=False),
        _at("acquired_at"),
        _at("expires_at"),
    )
    op.create_table(
        "schedule_runs",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("job", sa.String(80), nullable=False),
        sa.Column("holder", sa.String(80), nullable=False),
        _at("started_at"),
        _at("finished_at", nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.Column("incident_id", sa.String(32), nullable=True),
    )
    op.create_index("ix_schedule_runs_job_started", "schedule_runs", ["job", "started_at"])


def downgrade() -> None:
    for table in ("schedule_runs", "schedule_leases", "traffic_samples", "canary_verdicts",
                  "rollout_events", "rollout_state"):
        op.drop_table(table)
