"""rollout arms, canary verdicts, schedules (issue 14).

Revision 0006 is reserved for this feature so that features built side by side keep one
linear history; its tables are added by the feature's own commit.
"""

from __future__ import annotations

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
