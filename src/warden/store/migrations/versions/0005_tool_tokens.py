"""Tool governance: confirmation tokens already used (single use of mutating-tool tokens).

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tool_tokens_used",
        sa.Column("token_id", sa.String(64), primary_key=True),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("tool", sa.String(64), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_tool_tokens_used_expires_at", "tool_tokens_used", ["expires_at"])


def downgrade() -> None:
    op.drop_table("tool_tokens_used")
