"""batch files, jobs and line results (issue 17).

The table classes are warden/batch/tables.py. `batch_results` has one row per answered input
line, keyed by (batch_id, line_no): a line is answered at most once, even when a restarted or
second replica runs the same job.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _at(name: str, nullable: bool = True) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "batch_files",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("bytes", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        _at("created_at", nullable=False),
    )
    op.create_index("ix_batch_files_key_id", "batch_files", ["key_id"])
    op.create_table(
        "batch_jobs",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("endpoint", sa.String(64), nullable=False),
        sa.Column("input_file_id", sa.String(40), nullable=False),
        sa.Column("completion_window", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("meta", sa.JSON, nullable=True),
        sa.Column("errors", sa.JSON, nullable=True),
        sa.Column("total_lines", sa.Integer, nullable=False),
        sa.Column("output_file_id", sa.String(40), nullable=True),
        sa.Column("error_file_id", sa.String(40), nullable=True),
        _at("created_at", nullable=False),
        _at("expires_at", nullable=False),
        _at("in_progress_at"), _at("finalizing_at"), _at("completed_at"), _at("failed_at"),
        _at("expired_at"), _at("cancelling_at"), _at("cancelled_at"),
        sa.Column("lease_owner", sa.String(160), nullable=True),
        _at("lease_expires_at"),
    )
    op.create_index("ix_batch_jobs_key_id", "batch_jobs", ["key_id"])
    op.create_index("ix_batch_jobs_status", "batch_jobs", ["status"])
    op.create_table(
        "batch_results",
        sa.Column("batch_id", sa.String(40), primary_key=True),
        sa.Column("line_no", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("custom_id", sa.String(512), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("status_code", sa.Integer, nullable=True),
        sa.Column("line", sa.Text, nullable=False),
        sa.Column("prompt_tokens", sa.Integer, nullable=False),
        sa.Column("completion_tokens", sa.Integer, nullable=False),
        sa.Column("cached_tokens", sa.Integer, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        _at("created_at", nullable=False),
    )


def downgrade() -> None:
    op.drop_table("batch_results")
    op.drop_table("batch_jobs")
    op.drop_table("batch_files")
