"""Kill switches: current state per switch and the history of every flip.

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "switch_state",
        sa.Column("name", sa.String(80), primary_key=True),
        sa.Column("on", sa.Boolean, nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("actor", sa.String(80), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("incident_id", sa.String(32), nullable=True),
        sa.Column("event_id", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "switch_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("on", sa.Boolean, nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("actor", sa.String(80), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("incident_id", sa.String(32), nullable=True),
    )
    op.create_index("ix_switch_events_name", "switch_events", ["name"])


def downgrade() -> None:
    op.drop_table("switch_events")
    op.drop_table("switch_state")
