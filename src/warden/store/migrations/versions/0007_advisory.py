"""policy advisory decisions, the review queue, modes and prompt variants (issue 15).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "advisory_decisions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action_type", sa.String(16), nullable=False),
        sa.Column("actor_role", sa.String(64), nullable=False),
        sa.Column("risk_tier", sa.String(16), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("prompt_variant", sa.String(64), nullable=False),
        sa.Column("prompt_hash", sa.String(64), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("advisor_decision", sa.String(24), nullable=True),
        sa.Column("reasoning", sa.Text, nullable=True),
        sa.Column("reasoning_hash", sa.String(64), nullable=True),
        sa.Column("current_decision", sa.String(24), nullable=False),
        sa.Column("current_source", sa.String(16), nullable=False),
        sa.Column("enforced_decision", sa.String(24), nullable=False),
        sa.Column("requires_human", sa.Boolean, nullable=False),
        sa.Column("fail_safe", sa.Boolean, nullable=False),
        sa.Column("error", sa.String(16), nullable=True),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("situation", sa.JSON, nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=False),
    )
    op.create_index("ix_advisory_decisions_created_at", "advisory_decisions", ["created_at"])
    op.create_index("ix_advisory_decisions_action_type", "advisory_decisions",
                    ["action_type"])
    op.create_index("ix_advisory_decisions_prompt_variant", "advisory_decisions",
                    ["prompt_variant"])
    op.create_table(
        "advisory_reviews",
        sa.Column("advisory_id", sa.String(32), primary_key=True),
        sa.Column("action_type", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reviewer", sa.String(80), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("human_decision", sa.String(24), nullable=True),
        sa.Column("override", sa.Boolean, nullable=True),
        sa.Column("category", sa.String(24), nullable=True),
        sa.Column("notes", sa.Text, nullable=True),
    )
    op.create_index("ix_advisory_reviews_action_type", "advisory_reviews", ["action_type"])
    op.create_index("ix_advisory_reviews_status", "advisory_reviews", ["status"])
    op.create_index("ix_advisory_reviews_due_at", "advisory_reviews", ["due_at"])
    op.create_table(
        "advisory_modes",
        sa.Column("action_type", sa.String(16), primary_key=True),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(80), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
    )
    op.create_table(
        "advisory_mode_events",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("action_type", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("from_mode", sa.String(16), nullable=False),
        sa.Column("to_mode", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(80), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("evidence", sa.JSON, nullable=False),
    )
    op.create_index("ix_advisory_mode_events_action_type", "advisory_mode_events",
                    ["action_type"])
    op.create_table(
        "advisory_variants",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("parent", sa.String(64), nullable=True),
        sa.Column("corrections", sa.Integer, nullable=False),
        sa.Column("actor", sa.String(80), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("advisory_variants")
    op.drop_table("advisory_mode_events")
    op.drop_table("advisory_modes")
    op.drop_table("advisory_reviews")
    op.drop_table("advisory_decisions")
